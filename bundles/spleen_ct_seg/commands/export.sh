#!/usr/bin/env bash
# Export models/model.pt (MMAR_CKPT) to TorchScript at models/model.ts (MMAR_TORCHSCRIPT), verified by reloading it.
# Extra words are --set overrides (e.g. MMAR_CKPT=models/final_model.pt).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
mmar export -m "${MMAR_ROOT}" -c config/config_train.json -e config/environment.json --set print_conf=False "$@"
