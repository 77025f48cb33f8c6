#!/usr/bin/env bash
# Makes the small synthetic spleen-like NIfTI data set that environment.json points at.
# Deterministic: the same seed gives byte-identical files. Extra words go to `mmar synthetic-data`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
mmar synthetic-data "${MMAR_ROOT}/data/synthetic" "$@"
