#!/usr/bin/env bash
# Fine-tune from models/model.pt (MMAR_CKPT): training with the CheckpointLoader enabled. Extra words are --set overrides.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
mmar finetune -m "${MMAR_ROOT}" -c config/config_train.json -e config/environment.json \
    --set print_conf=True multi_gpu=False cudnn_benchmark=False "$@"
