"""Shareable intermediates: `mold bundle` packs a preset's costly outputs (teacher rationales and attention
targets with everything upstream of them; optionally the students) into one tar with a manifest of sha256,
mtime and provenance; `mold unbundle` restores them, so Snakemake skips those jobs (docs/bundles.md).

Restoring checks the config first (a bundle made for another config is refused, naming the keys that
differ), then every file's hash in a staging folder, and only then moves the files into the results root
with their recorded mtimes, so inputs stay older than outputs as in the run that made them.
"""

from __future__ import annotations

import fnmatch
import io
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from mold.config import ExperimentConfig
from mold.console import log, progress
from mold.io import DataError, atomic_path, sha256_file
from mold.provenance import provenance

MANIFEST = "mold-bundle.json"
FORMAT = 1
# Folders below the results root, by part: the teacher side is everything distill_student reads.
PARTS = {"teachers": ("data", "tokenizers", "teachers", "rationales", "attention"), "students": ("runs",)}
SKIPPED = ("*/checkpoint-*", "*.tmp")  # resumable training state and temporary files are not shared
# Config keys (dotted, fnmatch patterns) that no bundled output depends on: where things live, how
# jobs run, labels; the teacher side also ignores everything only students and tables read.
NEVER_COMPARED = ("description", "results_dir", "data_dir", "data_mirror", "gpu_memory_gb", "threads", "table_note",
                  "pairs.*.label", "pairs.*.paper_pair", "evaluation.batch_size", "evaluation.max_gen_tokens",
                  "evaluation.limit")
STUDENT_ONLY = ("seeds", "pairs.*.training.*", "pairs.*.methods", "pairs.*.setting", "pairs.*.student",
                "loss.alpha", "loss.molsaki_beta", "loss.mmi_beta", "loss.tau2", "loss.router", "deterministic")


def flatten(tree: object, prefix: str = "") -> dict[str, object]:
    """{'a': {'b': 1}} -> {'a.b': 1}; lists stay values."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, object] = {}
    for key, value in tree.items():
        flat |= flatten(value, f"{prefix}.{key}" if prefix else str(key))
    return flat


def compared_config(cfg: ExperimentConfig, parts: list[str]) -> dict[str, object]:
    ignored = NEVER_COMPARED + (() if "students" in parts else STUDENT_ONLY)
    return {key: value for key, value in flatten(cfg.model_dump(mode="json")).items()
            if not any(fnmatch.fnmatchcase(key, pattern) for pattern in ignored)}


def config_differences(bundled: dict[str, object], current: dict[str, object]) -> list[str]:
    missing = object()
    return [f"{key}: {bundled.get(key, '(absent)')!r} in the bundle, {current.get(key, '(absent)')!r} here"
            for key in sorted(bundled.keys() | current.keys())
            if bundled.get(key, missing) != current.get(key, missing)]


def bundled_files(root: Path, parts: list[str]) -> list[Path]:
    files = []
    for part in parts:
        for folder in PARTS[part]:
            for path in sorted((root / folder).rglob("*")):
                rel = path.relative_to(root).as_posix()
                if path.is_file() and not any(fnmatch.fnmatchcase(rel, p) or fnmatch.fnmatchcase(path.name, p) for p in SKIPPED):
                    files.append(path)
    return files


def make_bundle(cfg: ExperimentConfig, out: Path, students: bool = False) -> Path:
    """Pack the costly outputs under `cfg.root` into `out` (an uncompressed tar: weights do not compress)."""
    parts = ["teachers", "students"] if students else ["teachers"]
    files = bundled_files(cfg.root, parts)
    if not any(p.relative_to(cfg.root).parts[0] == "rationales" for p in files):
        raise FileNotFoundError(f"{cfg.root}: no teacher rationales to bundle; run the preset first")
    entries = []
    with progress(f"hash {len(files)} files", len(files)) as advance:
        for path in files:
            stat = path.stat()
            entries.append({"path": path.relative_to(cfg.root).as_posix(), "sha256": sha256_file(path),
                            "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns})
            advance()
    manifest = {"format": FORMAT, "preset": cfg.name, "parts": parts, "config": compared_config(cfg, parts),
                "files": entries, "provenance": provenance(cfg)}
    with atomic_path(out) as tmp, tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        data = json.dumps(manifest, indent=1).encode("utf-8")
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        with progress(f"pack {out.name}", len(files)) as advance:
            for path, entry in zip(files, entries):
                tar.add(path, arcname=entry["path"], recursive=False)
                advance()
    log(f"{out}: {len(files)} files ({', '.join(parts)}), {out.stat().st_size / 2**20:.1f} MiB")
    return out


def read_manifest(tar: tarfile.TarFile, bundle: Path) -> dict:
    member = tar.next()
    if member is None or member.name != MANIFEST:
        raise DataError(bundle, None, MANIFEST, "not a mold bundle (its first member must be the manifest)")
    manifest = json.loads(tar.extractfile(member).read())
    if manifest.get("format") != FORMAT:
        raise DataError(bundle, MANIFEST, "format", f"bundle format {manifest.get('format')!r}, this mold reads {FORMAT}")
    return manifest


def safe_relative(path: str, bundle: Path) -> Path:
    rel = Path(path)
    if rel.is_absolute() or ".." in rel.parts:
        raise DataError(bundle, MANIFEST, "files", f"unsafe path {path!r}")
    return rel


def restore_bundle(cfg: ExperimentConfig, bundle: Path) -> list[Path]:
    """Check the config, then every hash, then move the files under `cfg.root`; returns the restored paths."""
    with tarfile.open(bundle, "r") as tar:
        manifest = read_manifest(tar, bundle)
        differences = config_differences(manifest["config"], compared_config(cfg, manifest["parts"]))
        if differences:
            raise ValueError(f"{bundle} was made for another config ({manifest['preset']}); keys that differ:\n  "
                             + "\n  ".join(differences))
        entries = {entry["path"]: entry for entry in manifest["files"]}
        cfg.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".unbundle-", dir=cfg.root))
        try:
            with progress(f"verify {bundle.name}", len(entries)) as advance:
                for member in tar:
                    if member.name == MANIFEST:
                        continue
                    entry = entries.get(member.name)
                    if entry is None or not member.isfile():
                        raise DataError(bundle, member.name, None, "member not listed in the manifest")
                    dest = staging / safe_relative(member.name, bundle)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with tar.extractfile(member) as src, dest.open("wb") as out:
                        shutil.copyfileobj(src, out)
                    if sha256_file(dest) != entry["sha256"]:
                        raise DataError(bundle, member.name, "sha256", f"hash differs from the manifest ({entry['sha256']}); "
                                        "nothing was restored")
                    advance()
            absent = sorted(set(entries) - {p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file()})
            if absent:
                raise DataError(bundle, MANIFEST, "files", f"{len(absent)} listed files are not in the bundle, e.g. {absent[0]}")
            conflicts = [path for path in entries if (cfg.root / path).is_file()
                         and sha256_file(cfg.root / path) != entries[path]["sha256"]]
            if conflicts:
                raise FileExistsError(f"{cfg.root} already holds {len(conflicts)} different files, e.g. {conflicts[0]}; "
                                      "restore into a fresh results folder (--results-dir)")
            restored = []
            for path, entry in entries.items():
                dest = cfg.root / path
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / path, dest)
                os.utime(dest, ns=(entry["mtime_ns"], entry["mtime_ns"]))
                restored.append(dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    log(f"{bundle}: {len(restored)} files restored under {cfg.root} ({', '.join(manifest['parts'])})")
    return restored
