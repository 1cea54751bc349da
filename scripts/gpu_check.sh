#!/usr/bin/env bash
# The GPU check, in one go (about 8 minutes on one GPU): the tests marked `gpu` (CUDA paths of mixed precision,
# channels_last, torch.compile, data on the GPU, a 2-GPU NCCL run when two are present), then the training
# throughput table of benchmarks/train_throughput.py (plain PyTorch loop vs ganscape; fp32, amp + channels_last,
# + compile). Run from the repository root after `bash scripts/setup.sh --test` (with a CUDA build of torch):
#
#     bash scripts/gpu_check.sh                 # on the GPU
#     bash scripts/gpu_check.sh --device cpu    # the same script on CPU (the gpu tests skip; a short benchmark)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="$(cd "$(dirname "${PYTHON:-.venv/bin/python}")" && pwd)/$(basename "${PYTHON:-.venv/bin/python}")"
DEVICE=auto
if [[ "${1:-}" == "--device" ]]; then DEVICE="${2:?--device needs cpu, cuda or auto}"; fi
case "$DEVICE" in auto|cpu|cuda) ;; *) echo "gpu_check.sh: --device $DEVICE is not valid; choose auto, cpu or cuda" >&2; exit 2;; esac

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
else
  "$PY" train_throughput.py --device "$DEVICE" --steps 100 --warmup 20
fi
