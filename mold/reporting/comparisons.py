"""Paired comparisons of two methods on the same test items, with a paired bootstrap interval
(docs/outputs.md, "Run report and comparisons").

For each (A, B) in `cfg.comparisons.methods` and each teacher→student pair that runs both: per task, test
set and evaluation mode, A's accuracy minus B's in percentage points over the same items. The interval
resamples the test items with replacement, one draw for A and B together, so it measures how much the
difference depends on which problems the test set holds; training noise is not in it. With several seeds an
item's score is its number of correct seeds (seeds are averaged, not resampled; seed j of A is paired with
seed j of B). `a_only` and `b_only` count the (item, seed) cells only A, or only B, got right.

Beside the interval, an exact two-sided sign test over the items whose score differs (with one seed, exact
McNemar): the percentile bootstrap is too narrow when only a handful of items differ (4 items solved by A
alone and none by B give an interval above 0, p = 0.125), so read the two together.

Differences are sums of integers (correct counts), so every figure is exact and the same on every machine.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import comb
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from mold import paths
from mold.config import ExperimentConfig
from mold.io import DataError, read_jsonl

CSV_COLUMNS = ("mode", "pair", "task", "dataset", "method_a", "method_b", "seeds", "n", "accuracy_a", "accuracy_b",
               "difference", "low", "high", "a_only", "b_only", "sign_test_p")
_CHUNK = 1000  # resamples drawn at a time: memory stays at _CHUNK x n indices


@dataclass(frozen=True)
class PairedDifference:
    """A minus B on the same n items, in percentage points, with the bootstrap interval [low, high]."""

    n: int
    accuracy_a: float
    accuracy_b: float
    difference: float
    low: float
    high: float
    a_only: int  # (item, seed) cells A got right and B wrong
    b_only: int
    sign_test_p: float  # exact two-sided sign test over the items whose scores differ


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided sign test: P(a split at least as uneven as wins:losses | each side 1/2); 1.0 with no split."""
    trials = wins + losses
    tail = sum(comb(trials, k) for k in range(min(wins, losses) + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2**trials))) if trials else 1.0


def paired_bootstrap(a: Sequence, b: Sequence, resamples: int = 10_000, confidence: float = 0.95,
                     seed: int = 0) -> PairedDifference:
    """Percentile bootstrap of accuracy(A) - accuracy(B) over items. `a[i]` and `b[i]` are item i's verdicts:
    one bool, or one per seed (a row; seed j of A beside seed j of B). The same resampled items serve A and B,
    which is what makes it paired."""
    a_cells, b_cells = (np.asarray(x, dtype=bool).reshape(len(x), -1) if len(x) else np.zeros((0, 0), bool) for x in (a, b))
    if a_cells.shape != b_cells.shape or a_cells.size == 0:
        raise ValueError(f"need two non-empty verdict tables of one shape (items x seeds), got {a_cells.shape} and {b_cells.shape}")
    n, seeds = a_cells.shape
    diffs = a_cells.sum(axis=1, dtype=np.int64) - b_cells.sum(axis=1, dtype=np.int64)  # per item, in correct seeds
    rng = np.random.default_rng(seed)
    sums = np.concatenate([diffs[rng.integers(0, n, size=(min(_CHUNK, resamples - start), n))].sum(axis=1)
                           for start in range(0, resamples, _CHUNK)])
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(sums, [tail, 1.0 - tail], method="inverted_cdf")  # differences some resample attained
    scale = 100.0 / (n * seeds)
    return PairedDifference(n=n, accuracy_a=float(a_cells.sum() * scale), accuracy_b=float(b_cells.sum() * scale),
                            difference=float(diffs.sum() * scale), low=float(low * scale), high=float(high * scale),
                            a_only=int((a_cells & ~b_cells).sum()), b_only=int((b_cells & ~a_cells).sum()),
                            sign_test_p=sign_test(int((diffs > 0).sum()), int((diffs < 0).sum())))


class _Sample(BaseModel):
    """The fields of one evaluation sample line (mold.evaluation.harness.save_eval) a comparison needs."""

    model_config = ConfigDict(extra="ignore")
    mode: str
    dataset: str
    id: str | int
    correct: bool


def item_scores(path: Path) -> dict[tuple[str, str], dict[str | int, bool]]:
    """{(mode, dataset): {item id: correct}} of one samples file; a repeated item raises DataError."""
    scores: dict[tuple[str, str], dict[str | int, bool]] = {}
    for line, sample in enumerate(read_jsonl(path, _Sample), start=1):
        items = scores.setdefault((sample.mode, sample.dataset), {})
        if sample.id in items:
            raise DataError(path, line, "id", f"item {sample.id!r} scored twice in {sample.mode}/{sample.dataset}")
        items[sample.id] = sample.correct
    return scores


def _verdicts(scores_of, files: Sequence[Path], key: tuple[str, str],
              ids: Sequence[str | int] | None) -> tuple[list, list[list[bool]]]:
    """Each item's verdict per seed over `files` (one per seed), items in `ids` order (default: the first file's)."""
    per_seed = [scores_of(f).get(key, {}) for f in files]
    order = list(ids) if ids is not None else list(per_seed[0])
    for path, scores in zip(files, per_seed, strict=True):
        if set(scores) != set(order):
            odd = sorted(map(str, set(scores) ^ set(order)))[:3]
            raise DataError(path, None, "id", f"{key[0]}/{key[1]} scores other items than its comparison (e.g. {odd})")
    return order, [[scores[i] for scores in per_seed] for i in order]


def _cases(cfg: ExperimentConfig) -> Iterator[tuple[str, str, str, str, str, str]]:
    """(mode, pair, task, test set, A, B) for every configured (A, B) a pair runs."""
    for mode in cfg.evaluation.modes:
        for pair_key, pair in cfg.pairs.items():
            for method_a, method_b in (c for c in cfg.comparisons.methods if set(c) <= set(pair.methods)):
                for task in pair.tasks:
                    for dataset in cfg.tasks[task].tests:
                        yield mode, pair_key, task, dataset, method_a, method_b


def comparison_rows(cfg: ExperimentConfig) -> list[dict]:
    """One row (CSV_COLUMNS) per evaluation mode, pair, task, test set and configured (A, B) the pair runs."""
    spec, rows, read = cfg.comparisons, [], {}

    def scores_of(path: Path) -> dict:
        if path not in read:
            read[path] = item_scores(path)
        return read[path]

    for mode, pair, task, dataset, method_a, method_b in _cases(cfg):
        files_a, files_b = ([paths.eval_samples_file(cfg, pair, task, m, s) for s in cfg.seeds] for m in (method_a, method_b))
        ids, a = _verdicts(scores_of, files_a, (mode, dataset), None)
        _, b = _verdicts(scores_of, files_b, (mode, dataset), ids)
        if not ids:
            continue
        result = paired_bootstrap(a, b, spec.resamples, spec.confidence, spec.seed)
        rows.append({"mode": mode, "pair": pair, "task": task, "dataset": dataset, "method_a": method_a,
                     "method_b": method_b, "seeds": len(cfg.seeds), **{k: round(getattr(result, k), 4) for k in CSV_COLUMNS[7:]}})
    return rows
