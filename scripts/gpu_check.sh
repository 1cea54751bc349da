#!/usr/bin/env bash
# The GPU check, in one go: the tests marked `gpu` (CUDA paths of mixed precision, channels_last, torch.compile,
# data on the GPU, a 2-GPU NCCL run when two are present), then the training throughput table of
# benchmarks/train_throughput.py (plain PyTorch loop vs ganscape; fp32, mixed precision, channels_last, both,
# torch.compile with and without mixed precision). Run from the repository root after `bash scripts/setup.sh --test`
# (with a CUDA build of torch):
#
#     bash scripts/gpu_check.sh                 # on the GPU
#     bash scripts/gpu_check.sh --device cpu    # the same script on CPU (the gpu tests skip; a short benchmark)
#     PYTHON=python3 bash scripts/gpu_check.sh --quick   # another interpreter; no torch.compile timings (each
#                                                       # compiles G and D twice per model and variant)
set -euo pipefail
cd "$(dirname "$0")/.."
# PYTHON: the interpreter (a path, or a command on the PATH such as python3); default .venv/bin/python
PY="${PYTHON:-.venv/bin/python}"
if [[ "$PY" != */* ]]; then
  PY="$(command -v "$PY")" || { echo "gpu_check.sh: PYTHON=${PYTHON} is not on the PATH" >&2; exit 2; }
fi
PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")"
DEVICE=auto
QUICK=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --device) DEVICE="${2:?--device needs cpu, cuda or auto}"; shift 2;;
    --quick) QUICK=1; shift;;
    *) echo "gpu_check.sh: unknown option $1; valid: --device cpu|cuda|auto, --quick" >&2; exit 2;;
  esac
done
case "$DEVICE" in
  auto|cpu|cuda) ;;
  *) echo "gpu_check.sh: --device $DEVICE is not valid; choose auto, cpu or cuda" >&2; exit 2;;
esac

"$PY" - <<'PY'
import torch
print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}, GPUs: {torch.cuda.device_count()}")
for i in range(torch.cuda.device_count()):
    print(f"  GPU {i}: {torch.cuda.get_device_name(i)}, bf16: {torch.cuda.is_bf16_supported()}")
PY

echo "== tests marked gpu"
if [[ "$DEVICE" == "cpu" ]]; then
  CUDA_VISIBLE_DEVICES="" "$PY" -m pytest -q -m gpu tests/test_gpu.py
else
  "$PY" -m pytest -q -m gpu tests/test_gpu.py
fi

echo "== training throughput"
cd benchmarks
if [[ "$DEVICE" == "cpu" ]]; then
  "$PY" train_throughput.py --device cpu --models dcgan32 --variants fp32,amp+cl --steps 5 --warmup 2
elif [[ "$QUICK" == 1 ]]; then
  "$PY" train_throughput.py --device "$DEVICE" --variants fp32,amp,cl,amp+cl --steps 100 --warmup 20
else
  "$PY" train_throughput.py --device "$DEVICE" --steps 100 --warmup 20
fi
