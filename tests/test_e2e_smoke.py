"""The whole DAG on the smoke preset, as a user runs it: snakemake, offline, CPU. The preset is a copy
with docs/adding-a-dataset.md's example added by config alone (its own JSON file and field names, as
a second math test set), so the run also shows a new dataset reaching the tables."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


MYDATA_RECORDS = 6  # the problems in the doc's JSON block
# The environment's own `snakemake` script, called by its full path with a bare PATH, as a user of a venv does
# without activating it: every job must still run this interpreter (the Snakefile uses sys.executable).
SNAKEMAKE_SCRIPT = Path(sys.executable).parent / "snakemake"
BARE_PATH = "/usr/bin:/bin"


def _snakemake(workdir: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "MOLD_DATA_DIR": str(workdir / "data"),
           "PATH": BARE_PATH}
    launcher = [str(SNAKEMAKE_SCRIPT)] if SNAKEMAKE_SCRIPT.is_file() else [sys.executable, "-m", "snakemake"]
    cmd = [*launcher, "-s", str(REPO_ROOT / "Snakefile"), "-d", str(workdir),
           "--cores", "2", "--config", f"config_file={workdir / 'my-smoke.yaml'}", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, check=False)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, docs):
    workdir = tmp_path_factory.mktemp("smoke")
    docs.dataset_example(workdir / "data", workdir)
    result = _snakemake(workdir)
    if result.returncode != 0:
        logs = "\n".join(f"== {p}\n{p.read_text()[-3000:]}" for p in sorted((workdir / "results").rglob("*.log")))
        pytest.fail(f"snakemake failed:\n{result.stderr[-5000:]}\n{logs}")
    return workdir / "results" / "smoke"


def test_table1_has_every_method_and_test_set(smoke_run):
    with (smoke_run / "table1.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:7] == ["pair", "method", "dataset", "mean", "std", "n_seeds", "n"]
    cells = {(r["method"], r["dataset"]) for r in rows}
    methods = ["vanilla", "dss", "molsaki", "sl:last->last"]
    assert cells == {(m, d) for m in methods for d in ("math_test", "math_steps", "choice_test", "mydata")}
    assert all(0.0 <= float(r["mean"]) <= 100.0 and r["n_seeds"] == "1" for r in rows)
    assert {r["dataset"]: r["n"] for r in rows} == {"math_test": "30", "math_steps": "30", "choice_test": "30",
                                                    "mydata": str(MYDATA_RECORDS)}
    table1_md = (smoke_run / "table1.md").read_text()
    assert "±" in table1_md and "predict mode" in table1_md and "math_test (n=30)" in table1_md
    assert "Setup: router layer_bias, steps split on periods" in table1_md
    assert (smoke_run / "table2.md").exists()


def test_config_added_dataset_is_prepared_whole(smoke_run):
    record = json.loads((smoke_run / "data/mydata.provenance.json").read_text())
    assert (record["count"], record["dropped"]) == (MYDATA_RECORDS, 0)
    ids = [json.loads(line)["id"] for line in (smoke_run / "data/mydata.jsonl").read_text().splitlines()]
    assert ids == [f"mydata-{i}" for i in range(101, 107)]


def test_explain_mode_tables_are_labelled(smoke_run):
    for table in ("table1", "table2"):
        md = (smoke_run / f"{table}_explain.md").read_text()
        assert "explain-then-answer mode" in md.splitlines()[0]
    with (smoke_run / "table1_explain.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["dataset"]: r["n"] for r in rows} == {"math_test": "30", "math_steps": "30", "choice_test": "30",
                                                    "mydata": str(MYDATA_RECORDS)}


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
    attention = log["data"]
    assert attention["step_split"] == "periods" and attention["tau1"] == attention["extraction_tau1"]
    assert sum(attention["n_steps"].values()) == attention["attention"]["with_target"]
    assert log["provenance"]["versions"]["torch"]
    assert (smoke_run / "runs/tiny/math/molsaki/seed0/final/model.safetensors").exists()
    assert not list((smoke_run / "runs/tiny/math/molsaki/seed0").glob("checkpoint-*"))


def test_eval_keeps_per_sample_logs(smoke_run):
    record = json.loads((smoke_run / "eval/tiny/math/dss/seed0.json").read_text())
    assert record["scores"]["predict"]["math_test"]["n"] == record["scores"]["explain"]["math_test"]["n"] == 30
    samples = [json.loads(line) for line in (smoke_run / "eval/tiny/math/dss/seed0.samples.jsonl").read_text().splitlines()]
    assert len(samples) == 2 * (60 + MYDATA_RECORDS)  # (math_test + math_steps + mydata) x (predict, explain)
    assert all(s["prompt"].startswith("predict: ") for s in samples if s["mode"] == "predict")
    assert all(s["prompt"].startswith("explain: ") for s in samples if s["mode"] == "explain")


def test_second_run_does_nothing(smoke_run):
    result = _snakemake(smoke_run.parent.parent, "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_verify_manifest_covers_every_stage(smoke_run):
    from mold.cli import main
    from mold.verify import STAGE_ORDER

    assert main(["verify", str(smoke_run)]) == 0
    manifest = json.loads((smoke_run / "manifest.json").read_text())
    assert {entry["stage"] for entry in manifest["artefacts"].values()} == set(STAGE_ORDER)
    assert "teachers/teacher/model.safetensors" in manifest["artefacts"]
    assert "teachers/teacher/train_log.json" in manifest["records"]


def test_a_restored_bundle_leaves_only_the_student_jobs(smoke_run, tmp_path):
    workdir = smoke_run.parent.parent
    config = workdir / "my-smoke.yaml"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "MOLD_DATA_DIR": str(workdir / "data")}
    bundle = tmp_path / "smoke.bundle.tar"
    mold = [sys.executable, "-m", "mold"]
    subprocess.run([*mold, "bundle", "--config", str(config), "--results-dir", str(smoke_run.parent), "--out", str(bundle)],
                   env=env, check=True, capture_output=True, timeout=300)
    fresh = tmp_path / "fresh"
    shutil.copytree(workdir / "data", fresh / "data")  # the config's own dataset file
    shutil.copy(config, fresh / "my-smoke.yaml")
    subprocess.run([*mold, "unbundle", str(bundle), "--config", str(fresh / "my-smoke.yaml"), "--results-dir", str(fresh / "results")],
                   env={**env, "MOLD_DATA_DIR": str(fresh / "data")}, check=True, capture_output=True, timeout=300)
    result = _snakemake(fresh, "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    stats = result.stdout.split("Job stats:")[1].split("\n\n")[0]
    rules = {line.split()[0] for line in stats.splitlines()[3:] if line.strip() and line.split()[0] != "total"}
    assert rules == {"distill_student", "evaluate_student", "make_tables", "all"}, stats
