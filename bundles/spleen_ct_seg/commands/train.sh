#!/usr/bin/env bash
# Single-process training. Extra words are --set overrides: ./train.sh epochs=5 learning_rate=1e-3
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
mmar train -m "${MMAR_ROOT}" -c config/config_train.json -e config/environment.json \
    --set multi_gpu=False cudnn_benchmark=False dont_load_ckpt_model=True "$@"
