#!/usr/bin/env bash
# Idempotent set-up on a fresh machine: .venv with the CPU build of PyTorch and ganscape.
#   bash scripts/setup.sh          # to run ganscape
#   bash scripts/setup.sh --test   # also test tools: pytest, the Ray/lsun/hf extras, headless Chromium
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip install -q)
# torch first, pinned, so that resolving ganscape's "torch>=2.2" never pulls a CUDA build.
.venv/bin/python -c "import torch" 2>/dev/null || "${PIP[@]}" "torch==${TORCH_VERSION}"

if [ "${1:-}" = "--test" ]; then
    "${PIP[@]}" -e ".[test,tensorboard,ray,lsun,hf]"
    if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing Debian's chromium for the report screenshot test"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
            || echo "setup: could not install chromium; the report screenshot test will fail"
    fi
else
    "${PIP[@]}" -e ".[tensorboard]"
fi
echo "setup: ready ($(.venv/bin/python -c 'import torch, ganscape; print("torch", torch.__version__, "ganscape", ganscape.__version__)'))"
