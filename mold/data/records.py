"""Raw records of a dataset file (JSON array, JSON Lines, CSV) or a hub split, each with where it came from."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from mold.io import DataError, iter_jsonl_dicts, read_json_array

FileFormat = Literal["json", "jsonl", "csv"]
SUFFIX_FORMATS: dict[str, FileFormat] = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}

Located = tuple[str, Mapping[str, Any]]  # (record: '#3' in an array or hub split, 'line 4' in JSONL / CSV; record)


def detect_format(path: Path) -> FileFormat:
    """By suffix; else '[' first means a JSON array and '{' JSON Lines."""
    if path.suffix.lower() in SUFFIX_FORMATS:
        return SUFFIX_FORMATS[path.suffix.lower()]
    with path.open(encoding="utf-8") as fh:
        head = fh.read(4096).lstrip()
    if head.startswith("["):
        return "json"
    if head.startswith("{"):
        return "jsonl"
    raise DataError(path, None, None, "cannot tell the format (no .json/.jsonl/.csv suffix and not JSON); set `format`")


def read_file_records(path: Path, fmt: FileFormat | Literal["auto"] = "auto") -> list[Located]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: dataset file not found")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "jsonl":
        return [(f"line {line}", obj) for line, obj in iter_jsonl_dicts(path)]
    if fmt == "csv":
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            rows = [(f"line {reader.line_num}", row) for row in reader]
        if any(None in row for _, row in rows):  # more cells than header names
            where = next(w for w, row in rows if None in row)
            raise DataError(path, where, None, "more cells than the header has names")
        return rows
    return [(f"#{i}", item) for i, item in enumerate(read_json_array(path, Mapping, "an object"))]


def hub_split_rows(repo: str, config: str | None, revision: str, split: str) -> list[dict]:
    """All rows of one hub split at a pinned revision (network, or the HF cache when offline)."""
    from datasets import load_dataset

    return [dict(row) for row in load_dataset(repo, config, split=split, revision=revision)]


def hub_source_name(repo: str, revision: str, split: str) -> str:
    return f"hf://{repo}@{revision[:12]}/{split}"
