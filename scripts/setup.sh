#!/usr/bin/env bash
# One-command set-up: PyTorch (the CPU build, only when no torch is installed, so Colab's CUDA torch
# stays), this package with its test extras at the tested versions of constraints.txt, and the example dataset
# from the bundled DVC remote.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  "$PY" -m pip install -q "torch==2.13.0"
fi
"$PY" -m pip install -q -c constraints.txt -e ".[dev]"   # the tested versions (constraints.txt says why)
"$PY" -m dvc pull -q data.dvc
echo "set-up done: $("$PY" -c 'import torch, transformers, peft, trl; print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, trl {trl.__version__}")')"
