#!/usr/bin/env bash
# One process per visible GPU under torchrun (NCCL), DDP model, per-rank data shards; rank 0 writes the outputs.
# On a CPU-only machine use: mmar train "${MMAR_ROOT}" --nproc 2  (gloo). Extra words are --set overrides.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
mmar train -m "${MMAR_ROOT}" -c config/config_train.json -e config/environment.json \
    --set print_conf=True multi_gpu=True cudnn_benchmark=False dont_load_ckpt_model=True "$@"
