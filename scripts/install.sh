#!/usr/bin/env bash
# Create (or reuse) a virtual environment and install audiogan with its test extra.
#
#   scripts/install.sh [VENV_DIR] [EXTRAS]      default: .venv and "test,eval,peer,image,demo,ray"
#
# demo (gradio) is a default extra because the test run includes the demo's tests, its browser test among
# them, and CI installs through this script: with the extra left out they would skip there unseen. The same
# holds for ray (tests/test_ray.py runs a local Ray instance).
#
# torch comes first, so that pip never resolves the project's torch range to a multi-GB CUDA
# build by accident on a CPU machine:
#   1. a torch already importable in the venv is kept (GPU users: install yours first);
#   2. else a CPU torch wheel in $AUDIOGAN_WHEELS (default /opt/wheels) is installed from there;
#   3. else, with no NVIDIA driver present, the CPU build from PyTorch's CPU index;
#   4. else the default (CUDA) build from PyPI.
set -euo pipefail
venv="${1:-.venv}"
extras="${2:-test,eval,peer,image,demo,ray}"
here="$(cd "$(dirname "$0")/.." && pwd)"
wheels="${AUDIOGAN_WHEELS:-/opt/wheels}"

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install -q --upgrade pip >/dev/null 2>&1 || true

if "$py" -c "import torch" 2>/dev/null; then
    echo "install: keeping torch $("$py" -c 'import torch; print(torch.__version__)')"
else
    local_wheel="$(ls "$wheels"/torch-*+cpu-*.whl 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -n "$local_wheel" ]; then
        version="$(basename "$local_wheel" | cut -d- -f2)"
        echo "install: CPU torch $version from $wheels"
        "$py" -m pip install -q --find-links "$wheels" "torch==$version"
    elif ! command -v nvidia-smi >/dev/null 2>&1; then
        echo "install: no NVIDIA driver found: CPU torch from the PyTorch CPU index"
        "$py" -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
    else
        echo "install: NVIDIA driver found: default torch build"
        "$py" -m pip install -q torch
    fi
fi
"$py" -m pip install -q -e "$here[$extras]"
echo "install: done ($("$py" -c 'import torch, audiogan; print("audiogan", audiogan.__version__, "torch", torch.__version__)'))"
