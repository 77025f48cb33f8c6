#!/usr/bin/env bash
# Four small spleen-like training volumes (and two for validation) under data/synthetic, byte-identical every time.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
mmar synthetic-data "${MMAR_ROOT}/data/synthetic" --train-cases 4 --val-cases 2 --test-cases 2 --size 40,40,32 "$@"
