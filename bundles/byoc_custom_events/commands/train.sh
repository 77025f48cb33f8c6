#!/usr/bin/env bash
# Train on data/synthetic (make it first: commands/make_data.sh). Extra words are --set overrides: ./train.sh epochs=8
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
mmar train -m "${MMAR_ROOT}" -c config/config_train.json -e config/environment.json "$@"
