#!/usr/bin/env bash
# Segment the datalist's test cases with the TorchScript model; predictions (NIfTI) go to eval/. Extra words are --set overrides.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
mmar infer -m "${MMAR_ROOT}" -c config/config_inference.json -e config/environment.json \
    --set print_conf=True use_gpu=True multi_gpu=False dont_load_ts_model=False dont_load_ckpt_model=True "$@"
