#!/usr/bin/env bash
# Clara-style environment: MMAR_ROOT and custom/ on PYTHONPATH (mmar adds custom/ itself too).
DIR="$( cd "$( dirname "${BASH_SOURCE[0]}" )" >/dev/null 2>&1 && pwd )"
export MMAR_ROOT="$(readlink -f "${DIR}/..")"
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}${MMAR_ROOT}/custom"
