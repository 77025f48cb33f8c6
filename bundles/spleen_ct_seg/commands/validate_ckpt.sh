#!/usr/bin/env bash
# Validate the checkpoint (MMAR_CKPT) instead of the TorchScript model. Extra words are --set overrides.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
mmar validate -m "${MMAR_ROOT}" -c config/config_validation.json -e config/environment.json \
    --set print_conf=True use_gpu=True multi_gpu=False dont_load_ts_model=True dont_load_ckpt_model=False "$@"
