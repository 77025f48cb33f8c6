#!/usr/bin/env bash
# Validate the TorchScript model (MMAR_TORCHSCRIPT, made by export.sh); metrics CSVs go to eval/. Extra words are --set overrides.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
mmar validate -m "${MMAR_ROOT}" -c config/config_validation.json -e config/environment.json \
    --set print_conf=True use_gpu=True multi_gpu=False dont_load_ts_model=False dont_load_ckpt_model=True "$@"
