"""Paired bootstrap comparisons of methods on the same test items, and the run report that shows them."""

from __future__ import annotations

import csv
import json

import pytest

from mold import paths
from mold.config import ConfigError, load_config, load_preset, preset_path
from mold.io import DataError
from mold.reporting.comparisons import comparison_rows, item_scores, paired_bootstrap, sign_test
from mold.reporting.report import write_report


def test_a_method_right_everywhere_the_other_wrong_is_100_points_with_no_spread():
    result = paired_bootstrap([1, 1, 1, 1], [0, 0, 0, 0])
    assert (result.n, result.difference, result.low, result.high) == (4, 100.0, 100.0, 100.0)
    assert (result.a_only, result.b_only) == (4, 0)


def test_two_items_each_method_solving_one():
    # per-item differences +1, -1: resampled mean differences -100, 0, +100 with probability 1/4, 1/2, 1/4
    result = paired_bootstrap([1, 0], [0, 1])
    assert (result.accuracy_a, result.accuracy_b, result.difference) == (50.0, 50.0, 0.0)
    assert (result.low, result.high) == (-100.0, 100.0)
    assert (result.a_only, result.b_only) == (1, 1)


def test_interval_matches_the_exact_binomial_quantiles():
    # A solves 20/20, B the first 10: each resampled item differs with probability 1/2, so the resampled
    # difference is 5 x Binomial(20, 1/2) points. Its 2.5 % quantile is 6 (cdf(5) = 0.021, cdf(6) = 0.058)
    # and its 97.5 % quantile 14 (cdf(13) = 0.942, cdf(14) = 0.979): 30 and 70 points.
    result = paired_bootstrap([1] * 20, [1] * 10 + [0] * 10)
    assert (result.difference, result.low, result.high) == (50.0, 30.0, 70.0)


def test_seeds_are_paired_and_averaged_not_resampled():
    # items x seeds. Item counts A (1, 2, 0), B (0, 1, 1): per-item differences +1, +1, -1 out of 2 seeds each.
    # The resampled sum of three draws is -3 with probability 1/27 (0.037 > 0.025) and at most +1 with 19/27
    # (0.70 < 0.975), so the interval is [-3, +3] / 6 = [-50, +50] points around 1/6 = 16.7.
    result = paired_bootstrap([[1, 0], [1, 1], [0, 0]], [[0, 0], [1, 0], [0, 1]])
    assert result.accuracy_a == 50.0 and result.accuracy_b == pytest.approx(100 / 3)
    assert result.difference == pytest.approx(100 / 6)
    assert (result.low, result.high) == (-50.0, 50.0)
    assert (result.a_only, result.b_only) == (2, 1)  # cells (item 0, seed 0), (item 1, seed 1); (item 2, seed 1)


@pytest.mark.parametrize("wins, losses, p", [
    (4, 0, 0.125),                # 2 x (1/2)^4
    (14, 1, 2 * (1 + 15) / 2**15),  # 2 x (C(15,0) + C(15,1)) / 2^15
    (5, 4, 1.0), (0, 0, 1.0), (1, 0, 1.0),
])
def test_sign_test_hand_computed(wins, losses, p):
    assert sign_test(wins, losses) == p == sign_test(losses, wins)


def test_four_lone_wins_are_outside_the_bootstrap_interval_but_not_significant():
    result = paired_bootstrap([1] * 4 + [0] * 96, [0] * 100)
    assert result.low > 0 and result.sign_test_p == 0.125


def test_resampling_is_seeded():
    a, b = [1, 0, 1, 1, 0, 1, 0, 0], [0, 0, 1, 0, 1, 0, 0, 0]
    assert paired_bootstrap(a, b, seed=3) == paired_bootstrap(a, b, seed=3)


@pytest.mark.parametrize("a, b", [([1, 0], [1]), ([], []), ([[1, 0]], [[1]])])
def test_unequal_or_empty_verdicts_are_refused(a, b):
    with pytest.raises(ValueError, match="verdict tables"):
        paired_bootstrap(a, b)


def test_comparisons_name_known_distinct_methods():
    for bad, message in (([["dss", "nope"]], "comparisons.methods: .*nope"), ([["dss", "dss"]], "with itself")):
        with pytest.raises(ConfigError, match=message):
            load_config(preset_path("smoke"), {"comparisons": {"methods": bad}})


def _sample(mode, dataset, item, correct):
    return json.dumps({"mode": mode, "dataset": dataset, "id": item, "correct": correct, "response": "7"})


def test_a_repeated_item_names_file_line_and_field(tmp_path):
    path = tmp_path / "seed0.samples.jsonl"
    path.write_text("\n".join([_sample("predict", "t", "a", True), _sample("predict", "t", "a", False)]) + "\n")
    with pytest.raises(DataError, match=r"seed0.samples.jsonl, record 2, field 'id': item 'a' scored twice"):
        item_scores(path)


def _fake_run(cfg, verdicts: dict[str, list[bool]]):
    """Samples, eval-free, of the smoke pair for each method; every test set gets the same verdicts."""
    pair = cfg.pairs["tiny"]
    for method, correct in verdicts.items():
        for task in pair.tasks:
            lines = [_sample(mode, ds, f"q{i}", ok) for mode in cfg.evaluation.modes for ds in cfg.tasks[task].tests
                     for i, ok in enumerate(correct)]
            path = paths.eval_samples_file(cfg, "tiny", task, method, 0)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines) + "\n")
            run = paths.run_dir(cfg, "tiny", task, method, 0)
            run.mkdir(parents=True, exist_ok=True)
            history = [{"step": 5, "lr": 1e-3, "loss": 3.0, "L_pre": 2.0}, {"step": 10, "lr": 5e-4, "loss": 1.5, "L_pre": 1.0}]
            (run / "train_log.json").write_text(json.dumps({"history": history}))
    for task in pair.tasks:
        summary = paths.rationale_summary(cfg, pair.rationale_source, task)
        summary.parent.mkdir(parents=True, exist_ok=True)
        summary.write_text(json.dumps({"total": 10, "kept": 4, "kept_phase1": 3, "kept_phase2": 1,
                                       "dropped_by_reason": {"wrong_answer": 5, "restated_hint": 1}}))


def test_rows_and_report_of_a_run(tmp_path):
    cfg = load_preset("smoke").model_copy(update={"results_dir": tmp_path})
    pair = cfg.pairs["tiny"].model_copy(update={"methods": ["vanilla", "dss", "molsaki"]})
    cfg = cfg.model_copy(update={"pairs": {"tiny": pair}})
    _fake_run(cfg, {"vanilla": [False] * 4, "dss": [True, True, False, False], "molsaki": [True, False, True, True]})

    rows = comparison_rows(cfg)
    # (dss, vanilla) and (molsaki, dss); (molsaki, mmi) is skipped: the pair runs no MMIloss
    assert {(r["method_a"], r["method_b"]) for r in rows} == {("dss", "vanilla"), ("molsaki", "dss")}
    assert len(rows) == 2 * len(cfg.evaluation.modes) * 3  # three test sets (math_test, math_steps, choice_test)
    dss = next(r for r in rows if r["method_a"] == "dss" and r["dataset"] == "math_test" and r["mode"] == "predict")
    assert (dss["n"], dss["accuracy_a"], dss["accuracy_b"], dss["difference"], dss["a_only"], dss["b_only"]) == (4, 50, 0, 50, 2, 0)
    molsaki = next(r for r in rows if r["method_a"] == "molsaki" and r["dataset"] == "choice_test" and r["mode"] == "predict")
    assert (molsaki["difference"], molsaki["a_only"], molsaki["b_only"]) == (25, 2, 1)

    report, table, curves = write_report(cfg)
    text = report.read_text()
    assert "| teacher | math | 10 | 4 (40 %) | 3 | 1 | restated_hint 1, wrong_answer 5 |" in text
    assert "3.000 → 1.500" in text and "[+0.0, +100.0]" not in text.split("## Paired")[0]
    assert list(csv.DictReader(table.open()))[0].keys() >= {"difference", "low", "high", "n"}
    curve = [r for r in csv.DictReader(curves.open()) if r["method"] == "dss" and r["task"] == "math" and r["quantity"] == "loss"]
    assert [(r["step"], float(r["value"])) for r in curve] == [("5", 3.0), ("10", 1.5)]


def test_a_method_scored_on_other_items_is_named(tmp_path):
    cfg = load_preset("smoke").model_copy(update={"results_dir": tmp_path})
    pair = cfg.pairs["tiny"].model_copy(update={"methods": ["vanilla", "dss"]})
    cfg = cfg.model_copy(update={"pairs": {"tiny": pair}})
    _fake_run(cfg, {"vanilla": [False] * 4, "dss": [True] * 3})
    with pytest.raises(DataError, match=r"vanilla/seed0.samples.jsonl, field 'id': .* other items"):
        comparison_rows(cfg)
