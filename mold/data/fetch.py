"""Fetch the benchmark files a preset reads into its data folder, each verified by sha256 (docs/data.md).

For every file, in order: the copy already in the data folder (kept when its hash matches), each
mirror, then the upstream host (skipped when $MOLD_DATA_OFFLINE=1). A mirror is a base URL laid out
like the upstream host (`<owner>/<repo>/<commit>/<path>`) or a local folder laid out like the data
folder or like the host. Bytes that do not match their sha256 stop the fetch with a `ChecksumError`
naming the file and the source; nothing partial is left behind (written through `mold.io.atomic_path`).
Files found nowhere are collected, and one `MissingDataError` lists them with the command that fetches them.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from mold.data.sources import GITHUB_RAW, SOURCES, DataFile, DerivedFile, Upstream
from mold.io import DigestMismatch, atomic_path, sha256_file, write_verified

MIRROR_ENV = "MOLD_DATA_MIRROR"
OFFLINE_ENV = "MOLD_DATA_OFFLINE"
TIMEOUT_S = 60
CHUNK = 1 << 20


class ChecksumError(ValueError):
    """A file's bytes differ from its pinned sha256."""


class MissingDataError(FileNotFoundError):
    """Files that are neither in the data folder nor at any reachable source."""


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://", "file://"))


def mirror_list(configured: str | None = None) -> list[str]:
    """Mirrors from $MOLD_DATA_MIRROR (several separated by spaces or commas), then the config's."""
    found = [m for m in os.environ.get(MIRROR_ENV, "").replace(",", " ").split() if m]
    return found + ([configured] if configured else [])


def upstream_hosts(mirrors: list[str]) -> list[str]:
    """Bases laid out like the upstream host: URL mirrors, then the host itself unless offline."""
    online = os.environ.get(OFFLINE_ENV, "") not in ("1", "true", "yes")
    return [m for m in mirrors if is_url(m)] + ([GITHUB_RAW] if online else [])


@contextmanager
def open_location(location: str) -> Iterator[BinaryIO | None]:
    """The bytes at a URL or path, or None when it is not there (404, unreachable host, no such file)."""
    if is_url(location):
        try:
            response = urllib.request.urlopen(location, timeout=TIMEOUT_S)  # noqa: S310 (http/https/file only)
        except (urllib.error.URLError, OSError):
            yield None
            return
        with response:
            yield response
    elif Path(location).is_file():
        with Path(location).open("rb") as fh:
            yield fh
    else:
        yield None


def check_digest(got: str, expected: str, label: str, origin: str) -> None:
    if got != expected:
        raise ChecksumError(f"{label}: sha256 mismatch for the copy from {origin}: expected {expected}, got {got}; "
                            "nothing was written")


def local_candidates(local: str, mirrors: list[str]) -> list[str]:
    return [str(Path(m) / local) for m in mirrors if not is_url(m)]


def address_candidates(upstream: Upstream, mirrors: list[str]) -> list[str]:
    folders = [str(Path(m) / upstream.address) for m in mirrors if not is_url(m)]
    return folders + [f"{host.rstrip('/')}/{upstream.address}" for host in upstream_hosts(mirrors)]


def copy_first(candidates: list[str], dest: Path, sha256: str, label: str) -> str | None:
    """Copy the first candidate that exists; returns where it came from, or None if none exists."""
    for location in candidates:
        with open_location(location) as stream:
            if stream is not None:
                try:
                    write_verified(stream, dest, sha256, chunk=CHUNK)
                except DigestMismatch as err:
                    check_digest(err.got, sha256, label, location)
                return location
    return None


def read_first(candidates: list[str]) -> tuple[bytes, str] | None:
    for location in candidates:
        with open_location(location) as stream:
            if stream is not None:
                return stream.read(), location
    return None


def fetch_file(entry: DataFile | DerivedFile, data_dir: Path, mirrors: list[str]) -> str | None:
    """Make `data_dir/entry.local` hold the pinned bytes; returns where they came from, None if from nowhere."""
    dest = data_dir / entry.local
    if dest.is_file() and sha256_file(dest) == entry.sha256:
        return "cache"
    label = f"{entry.local}"
    if isinstance(entry, DataFile):
        return copy_first([*local_candidates(entry.local, mirrors), *address_candidates(entry.upstream, mirrors)],
                          dest, entry.sha256, label)
    origin = copy_first(local_candidates(entry.local, mirrors), dest, entry.sha256, label)
    if origin is not None:
        return origin
    parts = [read_first(address_candidates(upstream, mirrors)) for upstream in entry.inputs]
    if any(part is None for part in parts):
        return None
    built = entry.build([data for data, _ in parts])
    origins = sorted({location.rsplit("/", 1)[0] for _, location in parts})
    with atomic_path(dest) as tmp:
        tmp.write_bytes(built)
        check_digest(hashlib.sha256(built).hexdigest(), entry.sha256, label, f"built from {', '.join(origins)}")
    return f"built from {len(parts)} files under {', '.join(origins)}"


def describe(entry: DataFile | DerivedFile) -> str:
    if isinstance(entry, DataFile):
        return f"{entry.local}  ({entry.upstream.repo.name}@{entry.upstream.repo.commit[:8]}: {entry.upstream.path})"
    first = entry.inputs[0]
    return f"{entry.local}  (built from {len(entry.inputs)} files of {first.repo.name}@{first.repo.commit[:8]})"


def entry_record(entry: DataFile | DerivedFile, origin: str) -> dict:
    """What a fetch record says of one file: hash, upstream and where this copy came from."""
    upstreams = [entry.upstream] if isinstance(entry, DataFile) else list(entry.inputs)
    return {
        "file": entry.local, "sha256": entry.sha256, "bytes": entry.size, "origin": origin,
        "repository": upstreams[0].repo.name, "commit": upstreams[0].repo.commit, "licence": upstreams[0].repo.licence,
        "upstream_paths": [u.path for u in upstreams],
    }


def fetch_benchmarks(names: list[str], data_dir: Path, mirrors: list[str], fetch_command: str,
                     advance=None) -> dict[str, list[dict]]:
    """Fetch every file of `names` into `data_dir`; returns benchmark -> per-file records.
    Raises MissingDataError listing every file found nowhere, with `fetch_command`."""
    records: dict[str, list[dict]] = {}
    missing: list[str] = []
    for name in names:
        records[name] = []
        for entry in SOURCES[name]:
            origin = fetch_file(entry, data_dir, mirrors)
            if origin is None:
                missing.append(describe(entry))
            else:
                records[name].append(entry_record(entry, origin))
            if advance is not None:
                advance(info=entry.local)
    if missing:
        tried = ", ".join(mirrors) or "none"
        hosts = ", ".join(upstream_hosts([])) or f"none (${OFFLINE_ENV}=1)"
        raise MissingDataError(
            f"{len(missing)} benchmark file(s) missing from {data_dir} and found at no source "
            f"(mirrors: {tried}; upstream: {hosts}):\n  " + "\n  ".join(missing)
            + f"\nFetch them with network access: {fetch_command}\n"
            f"or point ${MIRROR_ENV} at a folder or base URL that holds them (docs/data.md).")
    return records


def total_files(names: list[str]) -> int:
    return sum(len(SOURCES[name]) for name in names)
