"""mold bundle / unbundle on a fake results tree: hashes, mtimes, tampering, config checks."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from mold.bundle import MANIFEST, compared_config, config_differences, flatten, make_bundle, restore_bundle
from mold.cli import main
from mold.config import load_preset
from mold.io import DataError


def smoke(results: Path, **update):
    cfg = load_preset("smoke").model_copy(update={"results_dir": results})
    return cfg.model_copy(update=update) if update else cfg


def fake_run(cfg) -> dict[str, bytes]:
    """A results tree with one file of every kind, mtimes increasing along the DAG."""
    files = {
        "data/math_train.jsonl": b'{"id": "m1"}\n',
        "tokenizers/student/tokenizer.json": b"{}",
        "teachers/teacher/train_log.json": b"{}",
        "teachers/teacher/checkpoint-10/state.bin": b"resumable state, not shared",
        "rationales/teacher/math.jsonl": b'{"id": "m1", "rationale": "1 + 1 = 2"}\n',
        "attention/teacher/teacher/math.index.json": b"{}",
        "attention/teacher/teacher/math/targets-00000.safetensors": b"\x00\x01",
        "runs/tiny/math/dss/seed0/train_log.json": b"{}",
        "runs/tiny/math/dss/seed0/final/model.safetensors": b"\x02\x03",
        "eval/tiny/math/dss/seed0.json": b"{}",
    }
    for i, (rel, data) in enumerate(files.items()):
        path = cfg.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, ns=(1_700_000_000_000_000_000 + i * 1_234_567, 1_700_000_000_000_000_000 + i * 1_234_567))
    return files


def test_round_trip_restores_bytes_and_mtimes_of_the_teacher_side(tmp_path):
    source = smoke(tmp_path / "a")
    files = fake_run(source)
    bundle = make_bundle(source, tmp_path / "smoke.bundle.tar")
    target = smoke(tmp_path / "b")
    restored = {p.relative_to(target.root).as_posix() for p in restore_bundle(target, bundle)}
    assert restored == {rel for rel in files if rel.split("/")[0] in ("data", "tokenizers", "teachers", "rationales", "attention")
                        and "checkpoint-" not in rel}
    for rel in restored:
        assert (target.root / rel).read_bytes() == files[rel]
        assert (target.root / rel).stat().st_mtime_ns == (source.root / rel).stat().st_mtime_ns
    assert not list(target.root.glob(".unbundle-*"))
    assert restore_bundle(target, bundle)  # restoring the same bundle again changes nothing


def test_students_part_adds_runs_but_not_checkpoints_or_evals(tmp_path):
    source = smoke(tmp_path / "a")
    fake_run(source)
    bundle = make_bundle(source, tmp_path / "s.tar", students=True)
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
    assert names[0] == MANIFEST
    assert "runs/tiny/math/dss/seed0/final/model.safetensors" in names
    assert not [n for n in names if n.startswith("eval/") or "checkpoint-" in n]


def test_a_tampered_member_is_refused_and_nothing_restored(tmp_path):
    source = smoke(tmp_path / "a")
    fake_run(source)
    bundle = make_bundle(source, tmp_path / "smoke.bundle.tar")
    tampered = tmp_path / "tampered.tar"
    with tarfile.open(bundle) as tar, tarfile.open(tampered, "w", format=tarfile.PAX_FORMAT) as out:
        for member in tar:
            data = tar.extractfile(member).read()
            if member.name == "rationales/teacher/math.jsonl":
                data = data.replace(b"2", b"3")
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    target = smoke(tmp_path / "b")
    with pytest.raises(DataError, match=r"tampered\.tar, record rationales/teacher/math\.jsonl, field 'sha256'"):
        restore_bundle(target, tampered)
    assert not [p for p in target.root.rglob("*") if p.is_file()]


def test_a_bundle_for_another_config_is_refused_naming_the_key(tmp_path):
    source = smoke(tmp_path / "a")
    fake_run(source)
    bundle = make_bundle(source, tmp_path / "smoke.bundle.tar")
    other = smoke(tmp_path / "b", generation=source.generation.model_copy(update={"max_new_tokens": 99}))
    with pytest.raises(ValueError, match=r"generation\.max_new_tokens: 64 in the bundle, 99 here"):
        restore_bundle(other, bundle)
    assert main(["unbundle", str(bundle), "--preset", "mini", "--results-dir", str(tmp_path / "c")]) == 1
    # students' training settings do not matter to teacher outputs...
    pair = source.pairs["tiny"]
    longer = {"tiny": pair.model_copy(update={"training": pair.training.model_copy(update={"steps": 99})})}
    assert restore_bundle(smoke(tmp_path / "d", pairs=longer), bundle)
    # ...but do to a bundle with students
    with_students = make_bundle(source, tmp_path / "s.tar", students=True)
    with pytest.raises(ValueError, match=r"pairs\.tiny\.training\.steps: 30 in the bundle, 99 here"):
        restore_bundle(smoke(tmp_path / "e", pairs=longer), with_students)


def test_restoring_over_different_results_is_refused(tmp_path):
    source = smoke(tmp_path / "a")
    fake_run(source)
    bundle = make_bundle(source, tmp_path / "smoke.bundle.tar")
    target = smoke(tmp_path / "b")
    (target.root / "data").mkdir(parents=True)
    (target.root / "data/math_train.jsonl").write_text("other\n")
    with pytest.raises(FileExistsError, match="already holds 1 different files, e.g. data/math_train.jsonl"):
        restore_bundle(target, bundle)


def test_flatten_and_differences_by_hand():
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": None}) == {"a.b": 1, "a.c": [1, 2], "d": None}
    assert config_differences({"a": 1, "b": 2}, {"a": 1, "c": 3}) == [
        "b: 2 in the bundle, '(absent)' here", "c: '(absent)' in the bundle, 3 here"]
    keys = compared_config(load_preset("smoke"), ["teachers"])
    assert "generation.max_new_tokens" in keys and "results_dir" not in keys and "seeds" not in keys
    assert json.dumps(keys)  # stored in the manifest as JSON
