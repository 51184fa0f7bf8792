#!/usr/bin/env bash
# The CPU acceptance checks of the performance issue: mini and one scaled-down paper shape, training
# step and target extraction (about 20 minutes on 2 cores). Writes bench/results/cpu.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench/results}"; mkdir -p "$out"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
run() { echo "== python $*"; python "$@" 2>&1 | grep -v "^\[transformers\]"; }
{
  run bench/train_step.py --shape mini --repeat 150 --rounds 3
  run bench/train_step.py --shape gpt2-medium --layers 2 --seq 128 --batch 4 --warmup 1 --repeat 8 --rounds 1
  run bench/extract.py --shape mini --repeat 20 --rounds 3
  run bench/extract.py --shape llama3-8b --layers 1 --seq 256 --batch 2 --warmup 1 --repeat 3 --rounds 1
} | tee "$out/cpu.txt"
echo "== summary"; grep -h "^== \|ratio" "$out/cpu.txt"
