"""Stage `prepare_data`: materialise one dataset of a preset as JSONL in the one schema, with provenance."""

from __future__ import annotations

from mold import paths
from mold.config import ExperimentConfig
from mold.data.prepared import load_examples
from mold.io import write_json_atomic, write_jsonl_atomic
from mold.provenance import provenance


def run(cfg: ExperimentConfig, dataset: str) -> int:
    examples = load_examples(cfg, dataset)
    if not examples:
        raise ValueError(f"dataset {dataset}: no examples (spec {cfg.datasets[dataset].model_dump(mode='json')})")
    ids = [e.id for e in examples]
    if len(set(ids)) != len(ids):
        raise ValueError(f"dataset {dataset}: duplicate example ids")
    out = paths.dataset_file(cfg, dataset)
    count = write_jsonl_atomic(out, examples)
    write_json_atomic(out.with_suffix(".provenance.json"),
                      provenance(cfg, [out], dataset=dataset, spec=cfg.datasets[dataset].model_dump(mode="json"), count=count))
    return count
