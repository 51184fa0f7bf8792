"""Tests of mold.io: strict JSONL with located errors, atomic writes, hashing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mold.data.schema import Example
from mold.io import (
    DataError,
    atomic_dir,
    atomic_path,
    iter_jsonl_dicts,
    read_json,
    read_jsonl,
    sha256_file,
    write_json_atomic,
    write_jsonl_atomic,
    write_text_atomic,
)

GOOD = {"id": "m0", "question": "Tom has 3 apples. How many?", "answer": "3", "source": "math"}


class Boom(RuntimeError):
    pass


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def test_iter_jsonl_skips_blank_lines_and_keeps_line_numbers(tmp_path):
    path = _write_lines(tmp_path / "a.jsonl", ['{"x": 1}', "", '{"x": 2}'])
    assert list(iter_jsonl_dicts(path)) == [(1, {"x": 1}), (3, {"x": 2})]


def test_malformed_line_names_file_and_line(tmp_path):
    path = _write_lines(tmp_path / "bad.jsonl", ['{"x": 1}', "", '{"x": 2', '{"x": 3}'])
    with pytest.raises(DataError) as info:
        list(iter_jsonl_dicts(path))
    err = info.value
    assert err.path == str(path)
    assert err.record == 3  # 1-based line, blank line 2 included
    assert err.field is None
    assert str(err).startswith(f"{path}, record 3: invalid JSON")


def test_non_object_line_is_rejected(tmp_path):
    path = _write_lines(tmp_path / "list.jsonl", ['{"x": 1}', "[1, 2]"])
    with pytest.raises(DataError, match=r"record 2: expected a JSON object, got list"):
        list(iter_jsonl_dicts(path))


def test_schema_error_names_file_line_and_field(tmp_path):
    missing_answer = {k: v for k, v in GOOD.items() if k != "answer"}
    path = _write_lines(tmp_path / "ex.jsonl", [json.dumps(GOOD), json.dumps(missing_answer)])
    with pytest.raises(DataError) as info:
        read_jsonl(path, Example)
    err = info.value
    assert (err.path, err.record, err.field) == (str(path), 2, "answer")
    assert f"{path}, record 2, field 'answer'" in str(err)


def test_schema_error_for_an_unknown_field(tmp_path):
    path = _write_lines(tmp_path / "ex.jsonl", [json.dumps({**GOOD, "extra": 1})])
    with pytest.raises(DataError) as info:
        read_jsonl(path, Example)
    assert (info.value.record, info.value.field) == (1, "extra")


def test_schema_error_for_a_bad_value(tmp_path):
    path = _write_lines(tmp_path / "ex.jsonl", [json.dumps(GOOD), json.dumps(GOOD), json.dumps({**GOOD, "question": ""})])
    with pytest.raises(DataError) as info:
        read_jsonl(path, Example)
    assert (info.value.record, info.value.field) == (3, "question")


def test_jsonl_round_trip(tmp_path):
    records = [Example(**GOOD), Example(**{**GOOD, "id": "c1", "answer": "B", "choices": ["x", "y"]})]
    path = tmp_path / "sub" / "rt.jsonl"
    assert write_jsonl_atomic(path, records) == 2
    assert read_jsonl(path, Example) == records


def test_read_json_error_names_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{\n  "a": 1,\n  oops\n}\n')
    with pytest.raises(DataError, match=r"bad\.json, record line 3: invalid JSON"):
        read_json(path)


def test_json_round_trip(tmp_path):
    obj = {"a": [1, 2.5, "x"], "b": {"c": None}}
    write_json_atomic(tmp_path / "o.json", obj)
    assert read_json(tmp_path / "o.json") == obj


# ---------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------


def test_atomic_path_success_replaces_target_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_text("new")
        assert target.read_text() == "old"  # not replaced before the block ends
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_path_failure_keeps_old_target_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(Boom), atomic_path(target) as tmp:
        tmp.write_text("half-written")
        raise Boom
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_path_failure_without_previous_target_creates_nothing(tmp_path):
    target = tmp_path / "new" / "out.txt"
    with pytest.raises(Boom), atomic_path(target) as tmp:
        tmp.write_text("x")
        raise Boom
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_write_jsonl_atomic_failure_mid_stream_keeps_old_file(tmp_path):
    target = tmp_path / "rows.jsonl"
    write_text_atomic(target, "old\n")

    def rows():
        yield {"a": 1}
        raise Boom

    with pytest.raises(Boom):
        write_jsonl_atomic(target, rows())
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.jsonl"]


def test_atomic_dir_success_replaces_folder(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "stale.bin").write_text("stale")
    with atomic_dir(target) as tmp:
        (tmp / "weights.bin").write_text("w")
        assert (target / "stale.bin").exists()
    assert sorted(p.name for p in target.iterdir()) == ["weights.bin"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_atomic_dir_failure_keeps_old_folder(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "good.bin").write_text("good")
    with pytest.raises(Boom), atomic_dir(target) as tmp:
        (tmp / "partial.bin").write_text("p")
        raise Boom
    assert sorted(p.name for p in target.iterdir()) == ["good.bin"]
    assert (target / "good.bin").read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


# ---------------------------------------------------------------------------
# Hashing
# ---------------------------------------------------------------------------


def test_sha256_known_values(tmp_path):
    abc = tmp_path / "abc"
    abc.write_bytes(b"abc")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert sha256_file(abc) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_file(empty) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_sha256_chunked_equals_whole(tmp_path):
    data = bytes(range(256)) * 41 + b"tail"
    path = tmp_path / "blob"
    path.write_bytes(data)
    whole = hashlib.sha256(data).hexdigest()
    assert sha256_file(path) == whole
    assert sha256_file(path, chunk=7) == whole


def test_write_verified_writes_only_matching_bytes(tmp_path):
    import hashlib
    import io as bytes_io

    from mold.io import DigestMismatch, write_verified

    data = b"abc" * 1000
    good = hashlib.sha256(data).hexdigest()
    write_verified(bytes_io.BytesIO(data), tmp_path / "a.bin", good, mode=0o644, chunk=7)
    assert (tmp_path / "a.bin").read_bytes() == data and (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o644
    with pytest.raises(DigestMismatch) as caught:
        write_verified(bytes_io.BytesIO(data + b"!"), tmp_path / "b.bin", good)
    assert caught.value.got == hashlib.sha256(data + b"!").hexdigest()
    assert list(tmp_path.iterdir()) == [tmp_path / "a.bin"]  # no file, no temporary left behind
