#!/usr/bin/env bash
# The GPU check: tests/gpu (bf16 paths, every method under bf16-mixed), then the benchmarks at the paper's
# shapes through the pipeline's own step and extraction. About 7 minutes on one H100/H200.
# Everything it prints also goes to $OUT (default bench/results/gpu-<short commit>/), with the device and commit.
set -uo pipefail
cd "$(dirname "$0")/.."
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
out="${OUT:-bench/results/gpu-$commit}"; mkdir -p "$out"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
run() { local name=$1 limit=$2; shift 2; echo "== $name: $*"; timeout "$limit" "$@" 2>&1 | grep -v "^\[transformers\]" | tee "$out/$name.txt"; }
{ echo "commit $commit"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; } | tee "$out/device.txt"
run tests_gpu 150 python -m pytest -q -m gpu tests/gpu
run train_gpt2-large 90 python bench/train_step.py --shape gpt2-large --batch 16 --seq 512 --warmup 2 --repeat 6 --rounds 1
run train_tinyllama 90 python bench/train_step.py --shape tinyllama --batch 16 --seq 512 --warmup 2 --repeat 6 --rounds 1
run train_gpt2-medium 60 python bench/train_step.py --shape gpt2-medium --batch 16 --seq 512 --warmup 2 --repeat 6 --rounds 1
run extract_llama3-8b 60 python bench/extract.py --shape llama3-8b --batch 8 --seq 1024 --warmup 1 --repeat 4 --rounds 1
run extract_qwen2.5-32b 90 python bench/extract.py --shape qwen2.5-32b --batch 4 --seq 1024 --warmup 1 --repeat 3 --rounds 1 --skip-eager
echo "== summary"; grep -h "passed\|failed\|ratio\|throughput" "$out"/*.txt | tee "$out/summary.txt"
