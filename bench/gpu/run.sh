#!/usr/bin/env bash
# The GPU check as ONE command on a borrowed GPU machine (no network; its own python3 and torch):
#
#     bash bench/gpu/run.sh OUT_DIR [gpu_check.py options]        (make gpu-check OUT=OUT_DIR is the same)
#
# Needs bench/gpu/wheels, made here by `make gpu-prepare` and carried along (it is git-ignored).
# Checks the wheels' sha256 sums, installs them into a folder put first on PYTHONPATH (the machine's
# torch, numpy, scipy, scikit-image, tensorboard and tqdm are used as they are), then runs
# bench/gpu/gpu_check.py, which writes OUT_DIR/gpu.json; the log goes to OUT_DIR/gpu_check.log.
# Nothing is installed into the machine's own Python and nothing is fetched.
set -euo pipefail

out=${1:?usage: bash bench/gpu/run.sh OUT_DIR [gpu_check.py options]}
shift
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

python=${PYTHON:-python3}
wheels=${MMAR_GPU_WHEELS:-bench/gpu/wheels}
site=${MMAR_GPU_SITE:-/tmp/mmar-gpu-site}
started=$(date +%s)

if [ ! -f "$wheels/SHA256SUMS" ]; then
  echo "gpu-check: no $wheels/SHA256SUMS: run 'make gpu-prepare' on a machine with network and carry $wheels" >&2
  exit 2
fi
echo "gpu-check: checking and installing the carried wheels into $site"
(cd "$wheels" && sha256sum --quiet --check SHA256SUMS)
"$python" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "$wheels"/*.whl
# Bytecode once, in parallel, so no timed process compiles MONAI.
"$python" -m compileall -q -j 0 "$site" >/dev/null

export PYTHONPATH="$site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
"$python" - <<'EOF'
import importlib.metadata as md
import torch
names = ("torch", "monai", "pytorch-ignite", "pydantic", "numpy", "nibabel", "typer", "tensorboard")
print("gpu-check: python3", __import__("platform").python_version(), "|", ", ".join(f"{n} {md.version(n)}" for n in names))
print("gpu-check: CUDA", torch.version.cuda, "| device:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")
EOF

set +e
"$python" bench/gpu/gpu_check.py --results "$out" "$@" 2>&1 | tee "$out/gpu_check.log"
rc=${PIPESTATUS[0]}
set -e
echo "gpu-check: exit $rc after $(( $(date +%s) - started )) s; results in $out/gpu.json"
exit "$rc"
