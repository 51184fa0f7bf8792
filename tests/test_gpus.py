"""GPU claims: sizes from the card size, and the slot allocator under contention (fake device pool)."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mold import plan
from mold.config import load_preset
from mold.gpus import claim, claim_for_job, gpus_needed, try_claim

REPO_ROOT = Path(__file__).resolve().parent.parent
POOL = [str(i) for i in range(8)]


def test_gpus_needed_by_hand():
    assert gpus_needed(32.8, "bfloat16", 80) == 1  # 65.6 GB of weights <= 0.85 * 80 = 68
    assert gpus_needed(32.8, "bfloat16", 40) == 2  # 65.6 / 34 = 1.93
    assert gpus_needed(32.8, "bfloat16", 24) == 4  # 65.6 / 20.4 = 3.2
    assert gpus_needed(8.03, "bfloat16", 24) == 1  # 16.06 <= 20.4
    assert gpus_needed(8.03, "float32", 24) == 2  # 32.1 / 20.4 = 1.6
    assert gpus_needed(0.1, "float32", 80) == 1


def test_paper_teacher_claims_follow_the_card_size():
    paper = load_preset("paper")
    forty = paper.model_copy(update={"gpu_memory_gb": 40.0})
    assert [plan.model_gpus(paper, m) for m in ("qwen2.5-32b", "llama3-8b", "palm")] == [1, 1, 0]
    assert [plan.model_gpus(forty, m) for m in ("qwen2.5-32b", "llama3-8b", "palm")] == [2, 1, 0]
    assert plan.model_gpus(load_preset("smoke"), "teacher") == 1


def _holder(size: int, lock_dir: str, seed: int, out: mp.Queue) -> None:
    rng = random.Random(seed)
    time.sleep(rng.uniform(0, 0.05))
    taken = claim(size, POOL, Path(lock_dir), poll_s=0.01, timeout_s=60)
    start = time.monotonic()
    time.sleep(rng.uniform(0.02, 0.12))
    end = time.monotonic()
    taken.release()
    out.put((size, taken.devices, start, end))


def test_twenty_mixed_claims_on_eight_devices_share_nothing_and_release_all(tmp_path):
    sizes = [1, 2, 3, 4, 8, 1, 2, 1, 3, 2, 1, 4, 2, 1, 1, 3, 2, 5, 1, 2]
    out: mp.Queue = mp.get_context("fork").Queue()
    procs = [mp.get_context("fork").Process(target=_holder, args=(size, str(tmp_path), i, out))
             for i, size in enumerate(sizes)]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    assert sorted(r[0] for r in results) == sorted(sizes)
    for size, devices, _, _ in results:
        assert len(devices) == size == len(set(devices)) and set(devices) <= set(POOL)
    for i, (_, dev_a, start_a, end_a) in enumerate(results):
        for _, dev_b, start_b, end_b in results[i + 1:]:
            if set(dev_a) & set(dev_b):
                assert end_a <= start_b or end_b <= start_a, "a device was held by two jobs at once"
    everything = try_claim(8, POOL, tmp_path)
    assert everything is not None and everything.devices == POOL  # all released
    everything.release()


def test_a_killed_holder_gives_its_slots_back(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from mold.gpus import claim
        taken = claim(6, {POOL!r}, Path({str(tmp_path)!r}))
        print(",".join(taken.devices), flush=True)
        time.sleep(600)
    """)
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    try:
        assert holder.stdout.readline().strip() == "0,1,2,3,4,5"
        assert try_claim(3, POOL, tmp_path) is None  # only 6 and 7 are free
        two = try_claim(2, POOL, tmp_path)
        assert two is not None and two.devices == ["6", "7"]
        two.release()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    recovered = claim(8, POOL, tmp_path, poll_s=0.01, timeout_s=10)
    assert recovered.devices == POOL
    recovered.release()


def test_a_claim_larger_than_the_box_fails_at_once(tmp_path):
    with pytest.raises(ValueError, match="claims 9 GPUs but the box has 8"):
        claim(9, POOL, tmp_path)


def test_job_claim_sets_cuda_visible_devices(tmp_path, monkeypatch):
    monkeypatch.setenv("MOLD_GPU_DEVICES", "4,5,6")
    monkeypatch.setenv("MOLD_GPU_LOCK_DIR", str(tmp_path))
    monkeypatch.setenv("MOLD_GPUS", "2")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    taken = claim_for_job()
    try:
        assert taken.devices == ["4", "5"] and os.environ["CUDA_VISIBLE_DEVICES"] == "4,5"
    finally:
        taken.release()
    monkeypatch.setenv("MOLD_GPUS", "0")
    assert claim_for_job() is None


def test_dry_run_with_40gb_cards_claims_two_gpus_for_the_32b_teacher(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO_ROOT / "Snakefile"), "-d", str(tmp_path), "-n", "-p",
           "--config", "preset=paper", "gpu_memory_gb=40"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=True).stdout
    commands = [line for line in out.splitlines() if line.startswith("Shell command:")]
    qwen = [c for c in commands if "qwen2.5-32b" in c and ("generate-rationales" in c or "extract-attention" in c)]
    assert len(qwen) == 4 and all("MOLD_GPUS=2 " in c for c in qwen)
    assert all("MOLD_GPUS=1 " in c for c in commands if "--source llama3-8b" in c or "--teacher llama3-8b" in c)
    first_rules = [line.split()[1] for line in out.splitlines() if line.startswith("rule ")][:10]
    assert sorted(first_rules) == ["fetch_data:"] * 5 + ["fetch_model:"] * 5  # the benchmarks and the 5 hub models
