"""The run report beside the tables (docs/outputs.md, "Run report and comparisons"): what the teachers kept,
how each run's losses moved, and the paired comparisons of methods on the same test items.

    report.md                       the three, for reading
    comparisons.csv                 mold.reporting.comparisons.CSV_COLUMNS, one row per comparison
    figures/training_curves.csv     pair,task,method,seed,step,quantity,value (every logged loss term and lr)
"""

from __future__ import annotations

from pathlib import Path

from mold import paths
from mold.config import ExperimentConfig
from mold.io import read_json, write_csv_atomic, write_text_atomic
from mold.methods import get_method
from mold.reporting.comparisons import CSV_COLUMNS, comparison_rows
from mold.reporting.tables import dataset_name

CURVE_COLUMNS = ("pair", "task", "method", "seed", "step", "quantity", "value")
LOSS_TERMS = ("loss", "L_pre", "L_exp", "L_att")
Run = tuple[str, str, str, int, list[dict]]  # pair, task, method, seed, logged history


def report_files(cfg: ExperimentConfig) -> list[Path]:
    return [cfg.root / "report.md", cfg.root / "comparisons.csv", cfg.root / "figures" / "training_curves.csv"]


def yield_rows(cfg: ExperimentConfig) -> list[dict]:
    """Each rationale source's summary per task (mold.teacher.generate.TeacherOutcome.summary), once per source."""
    sources = dict.fromkeys((p.rationale_source, t) for p in cfg.pairs.values() for t in p.tasks)
    return [{"source": source, "task": task, **read_json(paths.rationale_summary(cfg, source, task))}
            for source, task in sources]


def histories(cfg: ExperimentConfig) -> list[Run]:
    """Every distillation run with its logged history, read once."""
    return [(key, task, method, seed, read_json(paths.train_log(cfg, key, task, method, seed))["history"])
            for key, pair in cfg.pairs.items() for task in pair.tasks for method in pair.methods for seed in cfg.seeds]


def curve_rows(runs: list[Run]) -> list[dict]:
    """Every logged value but the router weights (those are in figures/layer_weights.csv)."""
    return [{"pair": key, "task": task, "method": method, "seed": seed, "step": entry["step"], "quantity": name, "value": value}
            for key, task, method, seed, history in runs for entry in history
            for name, value in entry.items() if name != "step" and not name.startswith("p_s/")]


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in rows)])


def _phases(row: dict) -> list[str]:
    """Kept per phase; '—' for a source without phases (the PaLM rationales are read, not generated)."""
    phases = [row.get("kept_phase1", 0), row.get("kept_phase2", 0)]
    return ["—", "—"] if row["kept"] and not any(phases) else [str(k) for k in phases]


def _yields_md(rows: list[dict]) -> str:
    body = [[r["source"], r["task"], str(r["total"]), f"{r['kept']} ({100 * r['kept'] / r['total']:.0f} %)" if r["total"] else "0",
             *_phases(r), ", ".join(f"{k} {v}" for k, v in sorted(r["dropped_by_reason"].items())) or "none"] for r in rows]
    return _table(["source", "task", "problems", "kept", "phase 1", "phase 2", "dropped (final reason)"], body)


def _training_md(runs: list[Run]) -> str:
    body = []
    for key, task, method, seed, history in runs:
        first, last = history[0], history[-1]
        cells = [f"{first[t]:.3f} → {last[t]:.3f}" if t in last else "" for t in LOSS_TERMS]
        body.append([key, task, get_method(method).label, str(seed), f"{first['step']} → {last['step']}", *cells])
    return _table(["pair", "task", "method", "seed", "logged steps", *LOSS_TERMS], body)


def _comparisons_md(cfg: ExperimentConfig, rows: list[dict]) -> str:
    if not rows:
        return "No pair runs both methods of any configured comparison (`comparisons.methods`)."
    parts = []
    for mode in cfg.evaluation.modes:
        body = [[r["pair"], r["task"], dataset_name(r["dataset"]), f"{get_method(r['method_a']).label} − {get_method(r['method_b']).label}",
                 str(r["n"]), f"{r['accuracy_a']:.1f}", f"{r['accuracy_b']:.1f}", f"{r['difference']:+.1f}",
                 f"[{r['low']:+.1f}, {r['high']:+.1f}]" + (" *" if r["low"] > 0 or r["high"] < 0 else ""),
                 str(r["a_only"]), str(r["b_only"]), f"{r['sign_test_p']:.3g}"] for r in rows if r["mode"] == mode]
        parts.append(f"### {mode} mode\n\n" + _table(
            ["pair", "task", "test set", "A − B", "n", "A %", "B %", "A − B (points)", "95 % interval", "only A", "only B",
             "sign test p"], body))
    spec = cfg.comparisons
    return ("\n\n".join(parts) + f"\n\nPaired percentile bootstrap over test items ({spec.resamples} resamples, seed {spec.seed}, "
            f"{spec.confidence:.0%} interval), {len(cfg.seeds)} seed(s); * marks an interval that excludes 0. "
            "Only A / only B: (item, seed) cells one method got right and the other wrong. Sign test: exact, two-sided, "
            "over the items whose scores differ (McNemar with one seed); with few such items the bootstrap interval is too "
            "narrow, so read the two together.")


def write_report(cfg: ExperimentConfig) -> list[Path]:
    comparisons, runs = comparison_rows(cfg), histories(cfg)
    report, table, curves = report_files(cfg)
    sections = [f"# Run report: {cfg.name}", cfg.table_note,
                "## Rationales kept (teacher yield)", _yields_md(yield_rows(cfg)),
                "## Training: first and last logged value of each loss term", _training_md(runs),
                "## Paired comparisons: accuracy of A minus B on the same test items", _comparisons_md(cfg, comparisons)]
    write_text_atomic(report, "\n\n".join(s for s in sections if s) + "\n")
    write_csv_atomic(table, CSV_COLUMNS, comparisons)
    write_csv_atomic(curves, CURVE_COLUMNS, curve_rows(runs))
    return [report, table, curves]
