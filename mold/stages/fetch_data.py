"""Stage `fetch_data`: the pinned public files of one benchmark (or all a preset reads) into the data
folder, verified by sha256, and a record of what came from where (mold.data.fetch; docs/data.md)."""

from __future__ import annotations

from mold import paths, plan
from mold.config import ExperimentConfig
from mold.console import log, progress
from mold.data.fetch import fetch_benchmarks, mirror_list, total_files
from mold.io import write_json_atomic
from mold.provenance import provenance


def run(cfg: ExperimentConfig, benchmark: str | None = None) -> None:
    names = [benchmark] if benchmark else plan.benchmarks(cfg)
    unknown = sorted(set(names) - set(plan.benchmarks(cfg)))
    if unknown:
        raise ValueError(f"preset {cfg.name} reads no local files of {', '.join(unknown)}; it reads {plan.benchmarks(cfg)}")
    data_dir, mirrors = cfg.resolved_data_dir(), mirror_list(cfg.data_mirror)
    command = f"mold fetch-data --preset {cfg.name}" + (f" --benchmark {benchmark}" if benchmark else "")
    with progress(f"fetch {', '.join(names)} into {data_dir}", total_files(names)) as advance:
        records = fetch_benchmarks(names, data_dir, mirrors, command, advance)
    for name, files in records.items():
        write_json_atomic(paths.fetch_record(cfg, name), provenance(cfg, benchmark=name, data_dir=str(data_dir), files=files))
        log(f"{name}: {len(files)} files verified in {data_dir}")
