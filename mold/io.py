"""File I/O: atomic writes and strict JSONL reading with errors that name file, line and field."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TypeVar

from pydantic import BaseModel, ValidationError

Record = TypeVar("Record", bound=BaseModel)


class DataError(ValueError):
    """Bad input data, located precisely: file, record (1-based line) and field."""

    def __init__(self, path: Path | str, record: int | str | None, field: str | None, message: str):
        self.path, self.record, self.field = str(path), record, field
        where = str(path)
        if record is not None:
            where += f", record {record}"
        if field:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


class DigestMismatch(ValueError):
    """Bytes whose sha256 is not the one expected; `got` is the digest found."""

    def __init__(self, got: str, expected: str) -> None:
        super().__init__(f"sha256 {got}, expected {expected}")
        self.got, self.expected = got, expected


def write_verified(stream: BinaryIO, path: Path | str, sha256: str, mode: int | None = None, chunk: int = 1 << 20) -> None:
    """Stream `stream` into `path` through a temporary file, hashing as it goes: `path` appears (with `mode`, if
    given) only when the sha256 matches; otherwise DigestMismatch, and nothing is written."""
    digest = hashlib.sha256()
    with atomic_path(path) as tmp:
        with tmp.open("wb") as out:
            while block := stream.read(chunk):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != sha256:
            raise DigestMismatch(digest.hexdigest(), sha256)
        if mode is not None:
            tmp.chmod(mode)


def write_text_atomic(path: Path | str, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_csv_atomic(path: Path | str, columns: Sequence[str], rows: Iterable[Mapping]) -> None:
    """A CSV file with a header of `columns` and one line per row (a mapping column -> value), atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


def write_json_atomic(path: Path | str, obj: object) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def write_jsonl_atomic(path: Path | str, records: Iterable[BaseModel | dict]) -> int:
    count = 0
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as fh:
        for rec in records:
            row = rec.model_dump(mode="json") if isinstance(rec, BaseModel) else rec
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def read_json(path: Path | str) -> object:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(path, f"line {err.lineno}", None, f"invalid JSON: {err.msg}") from err
    except UnicodeDecodeError as err:
        raise DataError(path, None, None, f"not UTF-8 text (byte {err.start})") from err


def read_json_array(path: Path | str, item_type: type | tuple[type, ...], item: str) -> list:
    """A JSON file holding an array whose every element is an `item_type` (`item` names one, e.g. "an object");
    anything else raises DataError naming the file and the element (`#i`)."""
    data = read_json(path)
    if not isinstance(data, list):
        raise DataError(path, None, None, f"expected a JSON array of {item.split(' ', 1)[1]}s, got {type(data).__name__}")
    for i, element in enumerate(data):
        if not isinstance(element, item_type):
            raise DataError(path, f"#{i}", None, f"expected {item}, got {type(element).__name__}")
    return data


def iter_jsonl_dicts(path: Path | str) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for every non-blank line; a bad line raises DataError."""
    path = Path(path)
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(path, lineno, None, f"not UTF-8 text (byte {err.start} of the line)") from err
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(path, lineno, None, f"invalid JSON ({err.msg})") from err
            if not isinstance(obj, dict):
                raise DataError(path, lineno, None, f"expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj


def read_jsonl(path: Path | str, model: type[Record], unique: str | None = None, allow_empty: bool = True) -> list[Record]:
    """Read every line of `path` as `model`; the first invalid line raises DataError, as does a repeated value
    of the field `unique` (e.g. "id") or, unless `allow_empty`, a file without records."""
    records, first_line = [], {}
    for lineno, obj in iter_jsonl_dicts(path):
        try:
            records.append(model.model_validate(obj))
        except ValidationError as err:
            first = err.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or None
            raise DataError(path, lineno, field, first["msg"]) from err
        if unique is not None:
            value = getattr(records[-1], unique)
            if value in first_line:
                raise DataError(path, lineno, unique, f"duplicate {value!r} (first on line {first_line[value]})")
            first_line[value] = lineno
    if not records and not allow_empty:
        raise DataError(path, None, None, "no records")
    return records


def sha256_file(path: Path | str, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def atomic_dir(path: Path | str) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; it replaces `path` only if the block succeeds."""
    import shutil

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_safetensors(path: Path | str, require_finite: bool = True) -> dict:
    """Every tensor of a safetensors file; a missing, truncated or corrupt file, or (with `require_finite`)
    a NaN/inf value, raises DataError naming the file and the tensor."""
    import torch
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, None, "missing safetensors file")
    try:
        with safe_open(str(path), framework="pt") as fh:
            tensors = {key: fh.get_tensor(key) for key in fh.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise DataError(path, None, None, f"truncated or corrupt safetensors file ({err})") from err
    if require_finite:
        for key, tensor in tensors.items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise DataError(path, None, key, "tensor holds NaN or inf")
    return tensors


def check_safetensors_dir(folder: Path | str) -> None:
    """Read every *.safetensors under `folder` (a saved model) so a damaged one is named before loading."""
    for path in sorted(Path(folder).glob("*.safetensors")):
        read_safetensors(path)
