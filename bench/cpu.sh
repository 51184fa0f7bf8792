#!/usr/bin/env bash
# The CPU checks: MoLSAKI's training step and teacher extraction against their baselines at the mini shape
# (a few minutes on 2 cores). Writes bench/results/cpu.txt with the commit.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench/results}"; mkdir -p "$out"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
run() { echo "== python $*"; python "$@" 2>&1 | grep -v "^\[transformers\]"; }
{
  echo "commit $(git rev-parse --short HEAD), $(nproc) cores, $(python -c 'import platform; print(platform.processor() or platform.machine())')"
  run bench/train_step.py --shape mini --repeat 60 --rounds 2
  run bench/extract.py --shape mini --repeat 20 --rounds 2
} | tee "$out/cpu.txt"
