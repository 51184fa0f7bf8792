"""Tests of mold verify: what counts as an artefact, and naming the first stage where two result folders differ."""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

import pytest

from mold.cli import main
from mold.verify import build_manifest, differences, kind_of, stage_of

FILES = {
    "data/math_train.jsonl": "q1\n",
    "data/math_train.provenance.json": '{"git": "abc"}',
    "tokenizers/student/tokenizer.json": "{}",
    "teachers/teacher/model.safetensors": "W",
    "rationales/teacher/math.jsonl": "r1\n",
    "rationales/teacher/math.summary.json": '{"kept": 1}',
    "attention/teacher/teacher/math/targets-00000.safetensors": "A",
    "runs/tiny/math/molsaki/seed0/final/model.safetensors": "S",
    "runs/tiny/math/molsaki/seed0/train_log.json": '{"seconds": 1}',
    "runs/tiny/math/molsaki/seed0/lm_eval/tasks/hf_datasets_cache/x.arrow": "scratch",
    "eval/tiny/math/molsaki/seed0.json": '{"eval_seconds": 1}',
    "eval/tiny/math/molsaki/seed0.samples.jsonl": "s\n",
    "table1.csv": "t\n",
    "logs/make_tables.log": "log",
    "benchmarks/distill_student/x.tsv": "1.0",
    "runs/tiny/math/molsaki/.final.abc123/model.safetensors": "half-written",
}


def make_results(root: Path, **changes: str) -> Path:
    for rel, text in {**FILES, **changes}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.mark.parametrize(("rel", "kind", "stage"), [
    ("data/math_train.jsonl", "artefact", "prepare_data"),
    ("tokenizers/student/tokenizer.json", "artefact", "train_tokenizer"),
    ("teachers/teacher/model.safetensors", "artefact", "pretrain_teacher"),
    ("teachers/teacher/train_log.json", "record", "pretrain_teacher"),
    ("rationales/teacher/math.summary.json", "record", "generate_rationales"),
    ("attention/t/t/math.index.json", "record", "extract_attention_targets"),
    ("runs/p/math/dss/seed0/final/model.safetensors", "artefact", "distill_student"),
    ("eval/p/math/dss/seed0.json", "record", "evaluate_student"),
    ("eval/p/math/dss/seed0.samples.jsonl", "artefact", "evaluate_student"),
    ("table2.tex", "artefact", "make_tables"),
    ("data/sources/gsm8k.json", "record", "fetch_data"),  # names where the copy came from: differs by run
    ("models/smollm2.json", "record", "fetch_model"),
    ("logs/x.log", None, None),
    ("runs/p/math/dss/seed0/lm_eval/tasks/math_test.jsonl", None, None),
    ("data/.math_train.jsonl.k2j3.tmp", None, None),
])
def test_kind_and_stage(rel, kind, stage):
    assert kind_of(PurePosixPath(rel)) == kind
    if kind:
        assert stage_of(PurePosixPath(rel)) == stage


def test_manifest_lists_artefacts_and_records_not_scratch(tmp_path):
    manifest = build_manifest(make_results(tmp_path))
    assert len(manifest["artefacts"]) == 8 and len(manifest["records"]) == 4
    assert manifest["artefacts"]["data/math_train.jsonl"] == {
        "stage": "prepare_data", "bytes": 3, "sha256": hashlib.sha256(b"q1\n").hexdigest()}


def test_records_do_not_count_as_differences(tmp_path):
    a = build_manifest(make_results(tmp_path / "a"))
    b = build_manifest(make_results(tmp_path / "b", **{"runs/tiny/math/molsaki/seed0/train_log.json": '{"seconds": 2}',
                                                       "logs/make_tables.log": "other"}))
    assert differences(a, b) == {}


def test_first_diverging_stage_is_named_in_dag_order(tmp_path):
    a = build_manifest(make_results(tmp_path / "a"))
    b = build_manifest(make_results(tmp_path / "b", **{"table1.csv": "u\n", "rationales/teacher/math.jsonl": "r2\n",
                                                       "eval/tiny/math/molsaki/seed0.samples.jsonl": "z\n"}))
    diff = differences(a, b)
    assert list(diff) == ["generate_rationales", "evaluate_student", "make_tables"]


def test_a_missing_artefact_is_a_difference(tmp_path):
    a = build_manifest(make_results(tmp_path / "a"))
    b_root = make_results(tmp_path / "b")
    (b_root / "tokenizers/student/tokenizer.json").unlink()
    assert differences(a, build_manifest(b_root)) == {"train_tokenizer": ["tokenizers/student/tokenizer.json"]}


def test_cli_writes_manifest_and_compares(tmp_path, capsys):
    a, b = make_results(tmp_path / "a"), make_results(tmp_path / "b")
    assert main(["verify", str(a)]) == 0 and (a / "manifest.json").is_file()
    assert main(["verify", str(b), str(a / "manifest.json")]) == 0
    assert "identical: all 8 artefacts" in capsys.readouterr().out
    (b / "teachers/teacher/model.safetensors").write_text("W2")
    assert main(["verify", str(b), str(a)]) == 1
    err = capsys.readouterr().err
    assert "first stage whose outputs diverge is pretrain_teacher" in err and "teachers/teacher/model.safetensors" in err


def test_cli_missing_folder_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="no such result folder"):
        main(["verify", str(tmp_path / "nowhere")])
