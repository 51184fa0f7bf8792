"""Stage `prepare_data`: materialise one dataset of a preset as JSONL in the one schema, with provenance
(which records were dropped, and why)."""

from __future__ import annotations

from pathlib import Path

from mold import paths
from mold.config import ExperimentConfig
from mold.console import log
from mold.data.prepared import load_examples
from mold.io import write_json_atomic, write_jsonl_atomic
from mold.provenance import provenance


def run(cfg: ExperimentConfig, dataset: str) -> int:
    loaded = load_examples(cfg, dataset)
    ids = [e.id for e in loaded.examples]
    if len(set(ids)) != len(ids):
        raise ValueError(f"dataset {dataset}: duplicate example ids")
    if not loaded.examples:
        raise ValueError(f"dataset {dataset}: no usable example ({len(loaded.dropped)} dropped)")
    out = paths.dataset_file(cfg, dataset)
    count = write_jsonl_atomic(out, loaded.examples)
    for drop in loaded.dropped:
        log(f"dropped {dataset} record {drop.record}: {drop.field} {drop.reason}")
    inputs = [out, *([Path(loaded.source)] if loaded.source else [])]  # a file source is hashed; an hf:// split is not a file
    spec = cfg.datasets[dataset].model_dump(mode="json")
    write_json_atomic(out.with_suffix(".provenance.json"),
                      provenance(cfg, inputs, dataset=dataset, spec=spec, count=count, **loaded.summary()))
    return count
