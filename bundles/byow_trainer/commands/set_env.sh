#!/usr/bin/env bash
# Clara-style environment: MMAR_ROOT. mmar puts custom/ on the import path itself, after checking that
# nothing there hides a standard-library or installed module; on PYTHONPATH it would be imported first.
DIR="$( cd "$( dirname "${BASH_SOURCE[0]}" )" >/dev/null 2>&1 && pwd )"
export MMAR_ROOT="$(readlink -f "${DIR}/..")"
