"""`mold verify`: a sha256 manifest of a result folder's artefacts, and the first stage where two differ.

Artefacts are what a rerun must reproduce to the byte: datasets, tokenizers, teacher weights, rationales,
attention-target shards, student weights, evaluation samples, tables and figures. Records that document a
run (provenance, timings, logs, benchmarks) legitimately differ between runs; they are listed with their
hashes but not compared. Scratch (lm-eval's working folder, temporary files of an interrupted write) is
left out. docs/reproducibility.md says what may still differ across machines.
"""

from __future__ import annotations

import sys
from pathlib import Path, PurePosixPath

from mold.io import read_json, sha256_file, write_json_atomic

MANIFEST = "manifest.json"
# Top folder of an artefact -> the stage (Snakemake rule) that writes it, in DAG order; top-level files
# (tables, figures) come from make_tables.
STAGE_OF_FOLDER = {
    "data": "prepare_data",
    "tokenizers": "train_tokenizer",
    "teachers": "pretrain_teacher",
    "rationales": "generate_rationales",
    "attention": "extract_attention_targets",
    "runs": "distill_student",
    "eval": "evaluate_student",
}
STAGE_ORDER = [*STAGE_OF_FOLDER.values(), "make_tables"]
NOT_RESULTS = {"logs", "benchmarks"}
RECORD_SUFFIXES = (".provenance.json", ".summary.json", ".index.json", "train_log.json")


# What fetch_data / fetch_model record (mold.paths.fetch_record, fetched_model_record): where each copy came
# from (cache, mirror, upstream), which legitimately differs between runs; the bytes are pinned by sha256.
FETCH_RECORDS = {("data", "sources"): "fetch_data", ("models",): "fetch_model"}


def _fetch_stage(rel: PurePosixPath) -> str | None:
    return next((stage for prefix, stage in FETCH_RECORDS.items() if rel.parts[:len(prefix)] == prefix), None)


def stage_of(rel: PurePosixPath) -> str:
    if (fetch := _fetch_stage(rel)) is not None:
        return fetch
    return STAGE_OF_FOLDER.get(rel.parts[0], "make_tables") if len(rel.parts) > 1 else "make_tables"


def kind_of(rel: PurePosixPath) -> str | None:
    """'artefact' (compared), 'record' (listed only) or None (scratch, logs: left out)."""
    if rel.parts[0] in NOT_RESULTS or str(rel) == MANIFEST or any(p.startswith(".") for p in rel.parts):
        return None
    if "lm_eval" in rel.parts[:-1]:
        return None
    if rel.name.endswith(RECORD_SUFFIXES) or (rel.parts[0] == "eval" and rel.suffix == ".json") or _fetch_stage(rel):
        return "record"
    return "artefact"


def build_manifest(root: Path) -> dict:
    """{"artefacts": {path: {stage, sha256, bytes}}, "records": {...}} for every file under `root`."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such result folder")
    manifest: dict[str, dict] = {"artefacts": {}, "records": {}}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = PurePosixPath(path.relative_to(root).as_posix())
        kind = kind_of(rel)
        if kind is not None:
            manifest[f"{kind}s"][str(rel)] = {"stage": stage_of(rel), "sha256": sha256_file(path), "bytes": path.stat().st_size}
    return manifest


def load_manifest(place: Path) -> dict:
    """A result folder (hashed now) or a manifest.json written by `mold verify`."""
    place = Path(place)
    return build_manifest(place) if place.is_dir() else read_json(place)


def differences(a: dict, b: dict) -> dict[str, list[str]]:
    """Stage -> artefacts that differ (content, or present on one side only), stages in DAG order."""
    left, right = a["artefacts"], b["artefacts"]
    by_stage: dict[str, list[str]] = {}
    for rel in sorted(set(left) | set(right)):
        if left.get(rel, {}).get("sha256") != right.get(rel, {}).get("sha256"):
            by_stage.setdefault((left.get(rel) or right[rel])["stage"], []).append(rel)
    return {stage: by_stage[stage] for stage in STAGE_ORDER if stage in by_stage}


def verify_command(root: Path, other: Path | None) -> int:
    """Write root/manifest.json; with `other`, compare: 0 when every artefact is identical, 1 otherwise."""
    manifest = build_manifest(root)
    write_json_atomic(Path(root) / MANIFEST, manifest)
    print(f"{root}: {len(manifest['artefacts'])} artefacts, {len(manifest['records'])} records -> {Path(root) / MANIFEST}")
    if other is None:
        return 0
    diff = differences(manifest, load_manifest(other))
    if not diff:
        print(f"identical: all {len(manifest['artefacts'])} artefacts match {other}")
        return 0
    first = next(iter(diff))
    count = sum(len(files) for files in diff.values())
    print(f"differ: {count} artefacts; the first stage whose outputs diverge is {first}", file=sys.stderr)
    for stage, files in diff.items():
        for rel in files:
            print(f"  {stage}: {rel}", file=sys.stderr)
    return 1
