"""Which test sets the tables show and average (paper Tables 2-4), in both evaluation modes and on the
paper-sized subsets; hand-built records through the same functions make_tables uses."""

from __future__ import annotations

import pytest

from mold.config import load_preset
from mold.reporting.columns import (TableVariant, averaged_columns, columns_shown, lone_subsets, paper_names,
                                    table_variants)
from mold.reporting.tables import EvalRecord, aggregate, load_paper_numbers, table1, table2, table3

PAIR = "llama3-8b_gpt2-medium"


@pytest.fixture(scope="module")
def paper():
    return load_preset("paper")


def record(method: str, seed: int, scores: dict, mode: str = "predict", pair: str = PAIR) -> EvalRecord:
    return EvalRecord(pair=pair, pair_label="Llama3-8B → GPT2-Medium", task="math", method=method, seed=seed,
                      scores={mode: {d: {"acc": acc, "n": n} for d, (acc, n) in scores.items()}})


def test_variants_and_file_stems(paper):
    variants = table_variants(paper)
    assert [(v.mode, v.test_sets) for v in variants] == [
        ("predict", "full"), ("explain", "full"), ("predict", "paper_subset"), ("explain", "paper_subset")]
    assert [v.file_stem(2) for v in variants] == ["table2", "table2_explain", "table2_paper_subset", "table2_paper_subset_explain"]
    assert "explain-then-answer" in TableVariant("explain", "full").title("Table 1")
    assert "paper-sized seeded subsets" in TableVariant("predict", "paper_subset").title("Table 1")


def test_full_and_subset_columns(paper):
    tests = paper.tasks["math"].tests
    assert columns_shown(paper, tests, "full") == ["svamp", "singleeq", "asdiv", "gsm8k"]
    subset = columns_shown(paper, tests, "paper_subset")
    assert subset == ["svamp", "singleeq_subset", "asdiv_subset", "gsm8k_subset"]
    assert paper_names(paper, subset) == {"svamp": "svamp", "singleeq_subset": "singleeq", "asdiv_subset": "asdiv",
                                          "gsm8k_subset": "gsm8k"}


def test_a_subset_without_its_full_set_is_shown_in_the_full_tables():
    real = load_preset("real-small")  # ASDiv only as the paper's 406-problem ASDiv-A subset
    tests = real.tasks["math"].tests
    assert [(v.mode, v.test_sets) for v in table_variants(real)] == [("predict", "full")]  # a subset family would repeat it
    assert columns_shown(real, tests, "full") == columns_shown(real, tests, "paper_subset") == ["svamp", "singleeq", "asdiv", "gsm8k"]
    assert lone_subsets(real, ["svamp", "asdiv"], tests) == ["asdiv"]
    assert averaged_columns(real, columns_shown(real, tests, "full"), 3) == (["svamp", "singleeq", "asdiv"], True)


def test_tables_2_and_3_average_the_papers_columns_only(paper):
    full = columns_shown(paper, paper.tasks["math"].tests, "full")
    assert averaged_columns(paper, full, 2) == (["svamp", "asdiv"], True)
    assert averaged_columns(paper, full, 3) == (["svamp", "singleeq", "asdiv"], True)
    subset = columns_shown(paper, paper.tasks["math"].tests, "paper_subset")
    assert averaged_columns(paper, subset, 3) == (["svamp", "singleeq_subset", "asdiv_subset"], True)
    smoke = load_preset("smoke")  # synthetic data: no paper columns, so every column is shown and averaged
    assert averaged_columns(smoke, ["math_test", "math_steps"], 2) == (["math_test", "math_steps"], False)


def test_hand_built_table2_average_excludes_gsm8k_and_prints_n(paper):
    scores = {"svamp": (0.50, 200), "singleeq": (0.40, 508), "asdiv": (0.30, 1218), "gsm8k": (0.10, 1319)}
    records = [record("dss", 0, scores), record("dss", 1, {d: (acc + 0.02, n) for d, (acc, n) in scores.items()})]
    columns, _ = averaged_columns(paper, columns_shown(paper, paper.tasks["math"].tests, "full"), 2)
    rows = aggregate(records, average_over=columns)
    avg = next(r for r in rows if r.dataset == "avg")
    # seed 0: (50 + 30) / 2 = 40; seed 1: (52 + 32) / 2 = 42 -> 41.0 (GSM8K's 10 / 12 would give 30.7)
    assert avg.mean == pytest.approx(41.0) and avg.n is None
    mapping = {"llama3-8b_gpt2-medium": PAIR}
    tables = table2(rows, columns, ["dss"], load_paper_numbers(2, mapping), paper_names=paper_names(paper, columns))
    lines = tables["md"].splitlines()
    assert "| Pair | Method | SVAMP (n=200) | ASDiv (n=1218) | Avg |" in lines
    # the paper's DSS row: SVAMP 35.0, ASDiv 23.3, AVG 29.1
    assert "| Llama3-8B → GPT2-Medium | DSS | 51.0 ± 1.4 (paper 35.0, Δ +16.0) | 31.0 ± 1.4 (paper 23.3, Δ +7.7) " \
           "| 41.0 ± 1.4 (paper 29.1, Δ +11.9) |" in lines
    assert ("Δ compares different test sets where n differs from the paper's (paper Table 4): "
            "ASDiv (ours n=1218, paper n=406); an average's Δ inherits them.") in lines
    assert tables["csv"].splitlines()[1:] == [
        f"{PAIR},dss,svamp,51.00,1.41,2,200,35.0,+16.00",
        f"{PAIR},dss,asdiv,31.00,1.41,2,1218,23.3,+7.70",
        f"{PAIR},dss,avg,41.00,1.41,2,,29.1,+11.90",
    ]


def test_subset_table_matches_paper_numbers_under_the_papers_names(paper):
    columns = columns_shown(paper, paper.tasks["math"].tests, "paper_subset")
    records = [record("molsaki", 0, {"svamp": (0.5, 200), "singleeq_subset": (0.25, 108), "asdiv_subset": (0.75, 406),
                                     "gsm8k_subset": (0.125, 1318)})]
    rows = aggregate(records)
    paper_rows = load_paper_numbers(1, {"llama3-8b_gpt2-large": PAIR})
    md = table1(rows, columns, ["molsaki"], paper_rows, paper_names=paper_names(paper, columns))["md"]
    assert "| Pair | Method | SVAMP (n=200) | SingleEq (n=108) | ASDiv (n=406) | GSM8K (n=1318) |" in md
    assert "Test sets of the paper's sizes (paper Table 4): SVAMP (ours n=200, paper n=200), " \
           "SingleEq (ours n=108, paper n=108), ASDiv (ours n=406, paper n=406), GSM8K (ours n=1318, paper n=1318)." in md
    assert "25.0 ± 0.0 (paper " in md  # the subset column is compared with the paper's SingleEq


def test_modes_are_aggregated_apart_and_seeds_must_share_n():
    records = [record("dss", 0, {"svamp": (0.5, 200)}), record("dss", 1, {"svamp": (0.25, 200)}, mode="explain")]
    (predict,) = aggregate(records)
    (explain,) = aggregate(records, mode="explain")
    assert (predict.mean, predict.n_seeds, explain.mean, explain.n_seeds) == (50.0, 1, 25.0, 1)
    with pytest.raises(ValueError, match="different n: \\[100, 200\\]"):
        aggregate([record("dss", 0, {"svamp": (0.5, 200)}), record("dss", 1, {"svamp": (0.5, 100)})])


def test_table3_hybrid_columns(paper):
    columns, faithful = averaged_columns(paper, columns_shown(paper, paper.tasks["math"].tests, "full"), 3)
    rows = aggregate([record("dss", 0, {"svamp": (0.4, 200), "singleeq": (0.2, 508), "asdiv": (0.3, 1218),
                                        "gsm8k": (0.9, 1319)}, pair="palm")], average_over=columns)
    md = table3({"hybrid": rows}, columns, ["dss"], load_paper_numbers(3))["md"]
    assert "| Rationale source | Method | SVAMP (n=200) | SingleEq (n=508) | ASDiv (n=1218) | Avg |" in md
    assert "30.0 ± 0.0 (paper 36.4, Δ -6.4)" in md  # (40 + 20 + 30) / 3, GSM8K left out


def test_top_layers_by_weight():
    from mold.reporting.figures import top_layers

    assert top_layers({1: 0.1, 2: 0.4, 3: 0.2, 4: 0.3}) == [2, 4, 3]
    assert top_layers({1: 0.5, 2: 0.5}, k=3) == [1, 2]  # ties: the lower layer first; fewer than k layers
