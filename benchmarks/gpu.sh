#!/usr/bin/env bash
# GPU benchmark for a lent accelerator (the device tool): one run, under 8 minutes on an H100.
#   bash benchmarks/gpu.sh            (from the repository root; writes $OUT/gpu.json and $OUT/gpu.log)
# The machine has PyTorch but no pycocotools: carry its wheel in .whl/ (see docs/benchmarks.md).
set -uo pipefail
OUT=${OUT:-.}
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD/src:${PYTHONPATH:-}
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
timeout 450 python3 benchmarks/gpu.py "$OUT/gpu.json" 2>&1 | tee "$OUT/gpu.log"
