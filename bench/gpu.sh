#!/usr/bin/env bash
# The three benchmarks at the paper's real shapes on one GPU (H200: about 6 minutes in all).
# Prints every ratio and peak memory; full outputs go to $OUT (or ./bench-out).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench-out}"; mkdir -p "$out"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
run() { local name=$1; shift; echo "== $name: $*"; timeout 300 python "$@" 2>&1 | grep -v "^\[transformers\]" | tee "$out/$name.txt"; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
run train_gpt2-large bench/train_step.py --shape gpt2-large --batch 16 --seq 512 --bf16 --warmup 3 --repeat 10
run train_tinyllama  bench/train_step.py --shape tinyllama --batch 16 --seq 512 --bf16 --warmup 3 --repeat 10
run train_gpt2-medium bench/train_step.py --shape gpt2-medium --batch 16 --seq 512 --bf16 --warmup 3 --repeat 10
run extract_llama3-8b bench/extract.py --shape llama3-8b --batch 8 --seq 1024 --warmup 2 --repeat 5
run extract_qwen2.5-32b bench/extract.py --shape qwen2.5-32b --batch 4 --seq 1024 --warmup 1 --repeat 3 --skip-eager
run generate_llama3-8b bench/generate.py --shape llama3-8b --batch 32 --prompts 64 --new-tokens 128
run generate_qwen2.5-32b bench/generate.py --shape qwen2.5-32b --batch 32 --prompts 32 --new-tokens 128
echo "== summary"; grep -h "ratio\|throughput" "$out"/*.txt
