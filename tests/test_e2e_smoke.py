"""The whole DAG on the smoke preset, as a user runs it: snakemake, offline, CPU."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def _snakemake(workdir: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO_ROOT / "Snakefile"), "-d", str(workdir),
           "--cores", "2", "--config", "preset=smoke", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, check=False)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("smoke")
    result = _snakemake(workdir)
    if result.returncode != 0:
        logs = "\n".join(f"== {p}\n{p.read_text()[-3000:]}" for p in sorted((workdir / "results").rglob("*.log")))
        pytest.fail(f"snakemake failed:\n{result.stderr[-5000:]}\n{logs}")
    return workdir / "results" / "smoke"


def test_table1_has_every_method_and_test_set(smoke_run):
    with (smoke_run / "table1.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:6] == ["pair", "method", "dataset", "mean", "std", "n_seeds"]
    cells = {(r["method"], r["dataset"]) for r in rows}
    methods = ["vanilla", "dss", "molsaki", "sl:last->last"]
    assert cells == {(m, d) for m in methods for d in ("math_test", "math_steps", "choice_test")}
    assert all(0.0 <= float(r["mean"]) <= 100.0 and r["n_seeds"] == "1" for r in rows)
    assert "±" in (smoke_run / "table1.md").read_text()
    assert (smoke_run / "table2.md").exists()


def test_teacher_stage_counts_every_example(smoke_run):
    summary = json.loads((smoke_run / "rationales/teacher/math.summary.json").read_text())
    assert summary["total"] == 160
    assert summary["kept"] + summary["dropped"] == summary["total"]
    assert summary["kept"] == summary["kept_phase1"] + summary["kept_phase2"]
    kept = (smoke_run / "rationales/teacher/math.jsonl").read_text().splitlines()
    dropped = (smoke_run / "rationales/teacher/math.dropped.jsonl").read_text().splitlines()
    assert len(kept) == summary["kept"]
    assert sum(json.loads(line)["final"] for line in dropped) == summary["dropped"]


def test_attention_targets_and_training_logs(smoke_run):
    index = json.loads((smoke_run / "attention/teacher/teacher/math.index.json").read_text())
    assert index["num_layers"] == 2 and len(index["mean_teacher_layer_weights"]) == 2
    log = json.loads((smoke_run / "runs/tiny/math/molsaki/seed0/train_log.json").read_text())
    assert "L_att" in log["history"][-1] and "p_s/0" in log["history"][-1]
    assert log["provenance"]["versions"]["torch"]
    assert (smoke_run / "runs/tiny/math/molsaki/seed0/final/model.safetensors").exists()
    assert not list((smoke_run / "runs/tiny/math/molsaki/seed0").glob("checkpoint-*"))


def test_eval_keeps_per_sample_logs(smoke_run):
    record = json.loads((smoke_run / "eval/tiny/math/dss/seed0.json").read_text())
    assert record["scores"]["math_test"]["n"] == 30
    samples = (smoke_run / "eval/tiny/math/dss/seed0.samples.jsonl").read_text().splitlines()
    assert len(samples) == 60  # math_test + math_steps
    assert json.loads(samples[0])["prompt"].startswith("predict: ")


def test_second_run_does_nothing(smoke_run):
    result = _snakemake(smoke_run.parent.parent, "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_a_restored_bundle_leaves_only_the_student_jobs(smoke_run, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    bundle = tmp_path / "smoke.bundle.tar"
    mold = [sys.executable, "-m", "mold"]
    subprocess.run([*mold, "bundle", "--preset", "smoke", "--results-dir", str(smoke_run.parent), "--out", str(bundle)],
                   env=env, check=True, capture_output=True, timeout=300)
    fresh = tmp_path / "fresh"
    subprocess.run([*mold, "unbundle", str(bundle), "--preset", "smoke", "--results-dir", str(fresh / "results")],
                   env=env, check=True, capture_output=True, timeout=300)
    result = _snakemake(fresh, "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    stats = result.stdout.split("Job stats:")[1].split("\n\n")[0]
    rules = {line.split()[0] for line in stats.splitlines()[3:] if line.strip() and line.split()[0] != "total"}
    assert rules == {"distill_student", "evaluate_student", "make_tables", "all"}, stats
