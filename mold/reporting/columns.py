"""Which test sets each table shows, what its "Avg" averages, and which variants of the tables exist
(paper Tables 1–4; docs/paper-to-code.md "Test sets").

Pure functions of the config. A variant is one evaluation mode (predict, explain) on one family of
test sets: the full ones, or the paper-sized seeded subsets (`paper_subset: true` datasets) put in
place of the full set of the same benchmark.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from mold.config import EvalMode, ExperimentConfig
from mold.methods import get_method
from mold.reporting.tables import PAPER_AVERAGED

TestSets = Literal["full", "paper_subset"]

MODE_TITLES = {
    "predict": "predict mode: the student answers directly (DSS's protocol)",
    "explain": "explain-then-answer mode: the student writes its rationale, the answer is read from it",
}
TEST_SET_TITLES = {
    "full": "full test sets",
    "paper_subset": "paper-sized seeded subsets of SingleEq / ASDiv / GSM8K (paper Table 4 sizes)",
}


@dataclass(frozen=True)
class TableVariant:
    mode: EvalMode
    test_sets: TestSets

    def file_stem(self, table: int) -> str:
        """`table1`, `table1_explain`, `table1_paper_subset`, `table1_paper_subset_explain`."""
        subset = "" if self.test_sets == "full" else "_paper_subset"
        mode = "" if self.mode == "predict" else f"_{self.mode}"
        return f"table{table}{subset}{mode}"

    def title(self, base: str) -> str:
        return f"{base} — {MODE_TITLES[self.mode]}; {TEST_SET_TITLES[self.test_sets]}"


def paper_name(cfg: ExperimentConfig, dataset: str) -> str | None:
    """The paper's benchmark name of a dataset key (`svamp`, ..., `csqa`); None for synthetic data."""
    spec = cfg.datasets[dataset]
    return spec.name if spec.kind == "real" else None


def is_paper_subset(cfg: ExperimentConfig, dataset: str) -> bool:
    spec = cfg.datasets[dataset]
    return spec.kind == "real" and spec.paper_subset


def single_layer_pairs(cfg: ExperimentConfig) -> list[str]:
    """Pairs that run a method only Table 2 shows (the SL ablation); Table 2 reports the first."""
    return [k for k, p in cfg.pairs.items() if any(get_method(m).tables == {2} for m in p.methods)]


def hybrid_pairs(cfg: ExperimentConfig) -> list[str]:
    """Pairs whose rationales and attention come from different teachers; Table 3 reports the first."""
    return [k for k, p in cfg.pairs.items() if p.setting == "hybrid"]


def tables_written(cfg: ExperimentConfig) -> list[int]:
    """Table 1 always; Table 2 with a single-layer pair; Table 3 with a hybrid pair."""
    return [1, *([2] if single_layer_pairs(cfg) else []), *([3] if hybrid_pairs(cfg) else [])]


def _twinned_subsets(cfg: ExperimentConfig, tests: Sequence[str]) -> dict[str, str]:
    """Benchmark name -> its paper-sized subset, for the subsets whose full set is among `tests` too."""
    full = {paper_name(cfg, d) for d in tests if not is_paper_subset(cfg, d)}
    return {name: d for d in tests if is_paper_subset(cfg, d) and (name := paper_name(cfg, d)) in full}


def table_variants(cfg: ExperimentConfig) -> list[TableVariant]:
    """Every evaluation mode on the full test sets, then on the paper subsets when some subset has its full set
    beside it (a benchmark configured only as its subset is in the full tables already)."""
    families: list[TestSets] = ["full"]
    if any(_twinned_subsets(cfg, t.tests) for t in cfg.tasks.values()):
        families.append("paper_subset")
    return [TableVariant(mode, family) for family in families for mode in cfg.evaluation.modes]


def columns_shown(cfg: ExperimentConfig, tests: Sequence[str], test_sets: TestSets) -> list[str]:
    """The test sets a table shows: the full ones, or each replaced by its paper-sized subset (same benchmark) where
    the config has one; benchmarks the paper used whole (SVAMP, CSQA) stay as they are. A subset whose full set is
    not configured (e.g. only ASDiv-A's 406 problems) is shown in both."""
    twinned = _twinned_subsets(cfg, tests)
    full = [d for d in tests if d not in twinned.values()]
    if test_sets == "full":
        return full
    return [twinned.get(paper_name(cfg, d), d) for d in full]


def lone_subsets(cfg: ExperimentConfig, columns: Sequence[str], tests: Sequence[str]) -> list[str]:
    """The columns that are a paper-sized subset with no full set configured (named in the full tables' note)."""
    twinned = set(_twinned_subsets(cfg, tests).values())
    return [d for d in columns if is_paper_subset(cfg, d) and d not in twinned]


def paper_names(cfg: ExperimentConfig, columns: Sequence[str]) -> dict[str, str]:
    """Our dataset keys -> the paper's benchmark names, for the columns that have one."""
    return {d: name for d in columns if (name := paper_name(cfg, d)) is not None}


def averaged_columns(cfg: ExperimentConfig, columns: Sequence[str], table: int) -> tuple[list[str], bool]:
    """The columns Table 2 or 3 shows and averages: the paper's (Table 2: SVAMP, ASDiv; Table 3: SVAMP,
    SingleEq, ASDiv) when all are there, flagged True; else every column given (presets on other data)."""
    by_name = {paper_name(cfg, d): d for d in columns}
    wanted = PAPER_AVERAGED[table]
    if all(name in by_name for name in wanted):
        return [by_name[name] for name in wanted], True
    return list(columns), False
