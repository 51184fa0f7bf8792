"""mold.reporting.tables: aggregation by hand, exact CSV, Markdown/LaTeX cells, paper numbers (paper §4)."""

from __future__ import annotations

import csv
import json
import math

import pytest

from mold.io import DataError
from mold.reporting.tables import (
    PAPER_COLUMNS,
    PAPER_NUMBERS,
    EvalRecord,
    PaperRow,
    Row,
    Score,
    aggregate,
    load_eval_records,
    load_paper_numbers,
    method_name,
    table1,
    table2,
    table3,
    write_tables,
)

PAIR, LABEL = "tiny_pair", "Tiny → Tinier"


def record(method: str, seed: int, pair: str = PAIR, mode: str = "predict", n: int = 200, **accs: float) -> EvalRecord:
    scores = {mode: {dataset: {"acc": acc, "n": n} for dataset, acc in accs.items()}}
    label = LABEL if pair == PAIR else pair.upper()
    return EvalRecord(pair=pair, pair_label=label, task="math", method=method, seed=seed, scores=scores)


def row(method: str, dataset: str, mean: float, std: float = 0.0, n_seeds: int = 3, pair: str = PAIR,
        n: int | None = None) -> Row:
    return Row(pair, LABEL if pair == PAIR else pair.upper(), method, dataset, mean, std, n_seeds, n)


# ---------------------------------------------------------------- aggregate


def test_aggregate_mean_and_sample_std_by_hand():
    rows = aggregate([record("dss", 0, svamp=0.5), record("dss", 1, svamp=0.6)])
    assert len(rows) == 1
    (got,) = rows
    assert (got.pair, got.pair_label, got.method, got.dataset, got.n_seeds) == (PAIR, LABEL, "dss", "svamp", 2)
    assert got.mean == pytest.approx(55.0)
    assert got.std == pytest.approx(math.sqrt(50.0))  # sample std of 50, 60 = sqrt((25 + 25) / 1) = 7.07


def test_aggregate_one_seed_has_zero_std():
    (got,) = aggregate([record("vanilla", 7, svamp=0.25)])
    assert (got.mean, got.std, got.n_seeds) == (25.0, 0.0, 1)


def test_aggregate_average_is_per_seed_then_over_seeds():
    records = [record("dss", 0, svamp=0.4, asdiv=0.2), record("dss", 1, svamp=0.6, asdiv=0.6)]
    rows = {r.dataset: r for r in aggregate(records, average_over=["svamp", "asdiv"])}
    assert set(rows) == {"svamp", "asdiv", "avg"}
    # per-seed averages 30 and 60 -> mean 45, sample std sqrt(2 * 15^2) = 21.21
    assert rows["avg"].mean == pytest.approx(45.0)
    assert rows["avg"].std == pytest.approx(math.sqrt(450.0))
    assert rows["avg"].n_seeds == 2
    assert rows["svamp"].n == 200 and rows["avg"].n is None  # an average's datasets carry their own n


def test_aggregate_n_is_what_each_seed_scored():
    uneven = record("dss", 1, svamp=0.6, n=150)
    with pytest.raises(ValueError, match=r"scored 'svamp' on different n: \[150, 200\]"):
        aggregate([record("dss", 0, svamp=0.5), uneven])


def test_aggregate_average_skips_seeds_missing_a_dataset():
    records = [record("dss", 0, svamp=0.4, asdiv=0.2), record("dss", 1, svamp=0.6)]
    rows = {r.dataset: r for r in aggregate(records, average_over=["svamp", "asdiv"])}
    assert (rows["avg"].mean, rows["avg"].n_seeds) == (pytest.approx(30.0), 1)


def test_aggregate_merges_task_files_and_rejects_duplicates():
    split = [record("dss", 0, svamp=0.5), record("dss", 0, csqa=0.3)]
    assert {r.dataset for r in aggregate(split)} == {"svamp", "csqa"}
    with pytest.raises(ValueError, match="two records score 'svamp'.*seed 0"):
        aggregate([record("dss", 0, svamp=0.5), record("dss", 0, svamp=0.6)])


# ---------------------------------------------------------------- loading eval files


def test_load_eval_records_ignores_extra_keys(tmp_path):
    path = tmp_path / "seed0.json"
    obj = {"pair": PAIR, "pair_label": LABEL, "task": "math", "method": "dss", "seed": 0,
           "scores": {"predict": {"svamp": {"acc": 0.5, "n": 10, "extra": 1}}}, "config": {"anything": True}}
    path.write_text(json.dumps(obj))
    (got,) = load_eval_records([path])
    score = got.scores["predict"]["svamp"]
    assert (got.method, got.seed, score.acc, score.n) == ("dss", 0, 0.5, 10)


@pytest.mark.parametrize(
    ("drop", "key"), [(("seed",), "seed"), (("scores", "predict", "svamp", "acc"), "scores.predict.svamp.acc")]
)
def test_load_eval_records_names_file_and_missing_key(tmp_path, drop, key):
    obj = {"pair": PAIR, "pair_label": LABEL, "task": "math", "method": "dss", "seed": 0,
           "scores": {"predict": {"svamp": {"acc": 0.5, "n": 10}}}}
    inner = obj
    for part in drop[:-1]:
        inner = inner[part]
    del inner[drop[-1]]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(DataError) as err:
        load_eval_records([path])
    assert str(err.value) == f"{path}, field '{key}': missing key '{key}'"


def test_load_eval_records_rejects_accuracy_in_percent(tmp_path):
    path = tmp_path / "pct.json"
    path.write_text(json.dumps({"pair": PAIR, "pair_label": LABEL, "task": "math", "method": "dss",
                                "seed": 0, "scores": {"predict": {"svamp": {"acc": 55.0, "n": 10}}}}))
    with pytest.raises(DataError, match=r"pct\.json, field 'scores\.predict\.svamp\.acc'"):
        load_eval_records([path])


# ---------------------------------------------------------------- Table 1


ROWS_T1 = [
    row("dss", "svamp", 55.0, math.sqrt(50.0), 2, n=200),
    row("dss", "gsm8k", 12.34, 1.0, 2, n=1319),
    row("molsaki", "svamp", 49.5, 1.2, 2, n=200),
    row("vanilla", "svamp", 10.0, 0.0, 2, pair="other", n=200),
    row("unshown", "svamp", 1.0, 0.0, 2, n=200),
]


def test_table1_csv_is_exact_long_format():
    tables = table1(ROWS_T1, ["svamp", "gsm8k"], ["vanilla", "dss", "molsaki"])
    assert tables["csv"] == (
        "pair,method,dataset,mean,std,n_seeds,n\n"
        "tiny_pair,dss,svamp,55.00,7.07,2,200\n"
        "tiny_pair,dss,gsm8k,12.34,1.00,2,1319\n"
        "tiny_pair,molsaki,svamp,49.50,1.20,2,200\n"
        "other,vanilla,svamp,10.00,0.00,2,200\n"
    )


def test_table1_markdown_cells_note_and_seed_note():
    md = table1(ROWS_T1, ["svamp", "gsm8k"], ["vanilla", "dss", "molsaki"], note="tiny random-init models")["md"]
    lines = md.splitlines()
    assert lines[0].startswith("## Table 1")
    assert "tiny random-init models" in lines[2]
    assert "over 2 seeds" in md
    assert "| Pair | Method | SVAMP (n=200) | GSM8K (n=1319) |" in lines  # each test set's size
    assert "| Tiny → Tinier | DSS | 55.0 ± 7.1 | 12.3 ± 1.0 |" in lines
    assert "|  | MoLSAKI | 49.5 ± 1.2 | – |" in lines  # pair printed once; missing cell is a dash
    assert "| OTHER | Vanilla | 10.0 ± 0.0 | – |" in lines
    assert "unshown" not in md


def test_table1_seed_note_for_one_seed_and_mixed_counts():
    one = table1([row("dss", "svamp", 50.0, 0.0, 1)], ["svamp"], ["dss"])["md"]
    assert "one seed per cell" in one
    mixed = table1([row("dss", "svamp", 50.0, 0.0, 1), row("mmi", "svamp", 50.0, 1.0, 3)], ["svamp"], ["dss", "mmi"])
    assert "over 1–3 seeds per cell" in mixed["md"]


def test_table1_with_paper_numbers_and_delta_by_hand():
    paper = [
        PaperRow(1, PAIR, "unified", "molsaki", "svamp", 49.5),
        PaperRow(1, PAIR, "unified", "dss", "svamp", 48.0),
        PaperRow(1, PAIR, "unified", "vanilla", "svamp", 10.0),  # not run by us: paper-only line
    ]
    tables = table1(ROWS_T1[:3], ["svamp", "gsm8k"], ["vanilla", "dss", "molsaki"], paper=paper)
    lines = tables["md"].splitlines()
    assert "| Tiny → Tinier | Vanilla | – (paper 10.0) | – |" in lines
    assert "|  | DSS | 55.0 ± 7.1 (paper 48.0, Δ +7.0) | 12.3 ± 1.0 |" in lines
    assert "|  | MoLSAKI | 49.5 ± 1.2 (paper 49.5, Δ +0.0) | – |" in lines
    assert "Δ = ours − paper" in tables["md"]
    assert "Test sets of the paper's sizes (paper Table 4): SVAMP (ours n=200, paper n=200)." in lines
    assert tables["csv"] == (
        "pair,method,dataset,mean,std,n_seeds,n,paper,delta\n"
        "tiny_pair,dss,svamp,55.00,7.07,2,200,48.0,+7.00\n"
        "tiny_pair,dss,gsm8k,12.34,1.00,2,1319,,\n"
        "tiny_pair,molsaki,svamp,49.50,1.20,2,200,49.5,+0.00\n"
    )


def test_table1_delta_is_of_printed_numbers_and_never_minus_zero():
    paper = [PaperRow(1, PAIR, "unified", "dss", "svamp", 41.3)]
    md = table1([row("dss", "svamp", 41.26)], ["svamp"], ["dss"], paper=paper)["md"]
    assert "41.3 ± 0.0 (paper 41.3, Δ +0.0)" in md
    md = table1([row("dss", "svamp", 40.0)], ["svamp"], ["dss"], paper=paper)["md"]
    assert "(paper 41.3, Δ -1.3)" in md


def test_table1_latex_is_booktabs_with_escapes():
    paper = [PaperRow(1, PAIR, "unified", "molsaki", "svamp", 49.5)]
    tex = table1(ROWS_T1[:3], ["svamp"], ["dss", "molsaki"], paper=paper, note="a_b & 100%")["tex"]
    lines = tex.splitlines()
    assert lines[0].startswith("% Table 1")
    assert "% a_b & 100%" in lines  # notes are comments, not typeset
    body = lines[lines.index("\\begin{tabular}{llc}"):]
    assert body[:4] == ["\\begin{tabular}{llc}", "\\toprule", "Pair & Method & SVAMP (n=200) \\\\", "\\midrule"]
    assert body[4] == "Tiny $\\rightarrow$ Tinier & DSS & 55.0 $\\pm$ 7.1 \\\\"
    assert body[5] == " & MoLSAKI & 49.5 $\\pm$ 1.2 (paper 49.5, $\\Delta$ +0.0) \\\\"
    assert body[-2:] == ["\\bottomrule", "\\end{tabular}"]


def test_table1_latex_separates_pairs_with_midrule():
    tex = table1(ROWS_T1, ["svamp"], ["vanilla", "dss"])["tex"]
    lines = tex.splitlines()
    assert lines[lines.index("\\toprule") + 2:][:4] == [
        "\\midrule",
        "Tiny $\\rightarrow$ Tinier & DSS & 55.0 $\\pm$ 7.1 \\\\",
        "\\midrule",
        "OTHER & Vanilla & 10.0 $\\pm$ 0.0 \\\\",
    ]


# ---------------------------------------------------------------- Tables 2 and 3


ROWS_T2 = [
    row("dss", "svamp", 36.0), row("dss", "asdiv", 24.0), row("dss", "avg", 30.0),
    row("sl:14->17", "svamp", 42.0), row("sl:14->17", "asdiv", 28.0), row("sl:14->17", "avg", 35.0),
    row("molsaki", "svamp", 44.5), row("molsaki", "asdiv", 30.5), row("molsaki", "avg", 37.5),
]


def test_table2_shows_molsaki_as_mol_with_avg_column_and_paper():
    paper = load_paper_numbers(2, {"llama3-8b_gpt2-medium": PAIR})
    tables = table2(ROWS_T2, ["svamp", "asdiv"], ["dss", "sl:14->17", "sl:last->last", "molsaki"], paper=paper)
    lines = tables["md"].splitlines()
    assert "| Pair | Method | SVAMP | ASDiv | Avg |" in lines
    assert "| Tiny → Tinier | DSS | 36.0 ± 0.0 (paper 35.0, Δ +1.0) | 24.0 ± 0.0 (paper 23.3, Δ +0.7) " \
           "| 30.0 ± 0.0 (paper 29.1, Δ +0.9) |" in lines
    assert "|  | SL last→last | – (paper 43.0) | – (paper 28.1) | – (paper 35.8) |" in lines
    assert "|  | MoL | 44.5 ± 0.0 (paper 44.5, Δ +0.0) | 30.5 ± 0.0 (paper 30.5, Δ +0.0) " \
           "| 37.5 ± 0.0 (paper 37.5, Δ +0.0) |" in lines
    assert "tiny_pair,molsaki,avg,37.50,0.00,3,,37.5,+0.00" in tables["csv"].splitlines()


def test_table2_needs_exactly_one_pair():
    with pytest.raises(ValueError, match="one pair"):
        table2([*ROWS_T2, row("dss", "svamp", 1.0, pair="other")], ["svamp"], ["dss"])


def test_table3_settings_by_rows_and_paper():
    rows_by_setting = {
        "unified": [row("dss", "svamp", 48.0), row("dss", "avg", 38.0)],
        "hybrid": [row("dss", "singleeq", 33.3, pair="hybrid_pair")],
    }
    tables = table3(rows_by_setting, ["svamp", "singleeq"], ["dss"], paper=load_paper_numbers(3))
    lines = tables["md"].splitlines()
    assert "| Rationale source | Method | SVAMP | SingleEq | Avg |" in lines
    assert "| Rationale and attention from one teacher | DSS | 48.0 ± 0.0 (paper 48.0, Δ +0.0) " \
           "| – (paper 36.1) | 38.0 ± 0.0 (paper 38.1, Δ -0.1) |" in lines
    assert "| Rationale from PaLM-540B, attention from the teacher | DSS | – (paper 43.0) " \
           "| 33.3 ± 0.0 (paper 33.3, Δ +0.0) | – (paper 36.4) |" in lines
    assert tables["csv"] == (
        "setting,pair,method,dataset,mean,std,n_seeds,n,paper,delta\n"
        "unified,tiny_pair,dss,svamp,48.00,0.00,3,,48.0,+0.00\n"
        "unified,tiny_pair,dss,avg,38.00,0.00,3,,38.1,-0.10\n"
        "hybrid,hybrid_pair,dss,singleeq,33.30,0.00,3,,33.3,+0.00\n"
    )


def test_method_names():
    assert [method_name(m) for m in ["vanilla", "dss", "mmi", "molsaki", "sl:13->8", "sl:last->last"]] == [
        "Vanilla", "DSS", "MMIloss", "MoLSAKI", "SL 13→8", "SL last→last"
    ]


def test_write_tables_writes_three_files(tmp_path):
    tables = table1(ROWS_T1, ["svamp"], ["dss"])
    paths = write_tables(tmp_path / "out" / "table1.tiny", tables)
    assert [p.name for p in paths] == ["table1.tiny.md", "table1.tiny.csv", "table1.tiny.tex"]
    for path, ext in zip(paths, ["md", "csv", "tex"]):
        assert path.read_text(encoding="utf-8") == tables[ext]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)  # no temp files
    with pytest.raises(ValueError, match="unknown table formats"):
        write_tables(tmp_path / "x", {"html": ""})


# ---------------------------------------------------------------- the paper's numbers (paper §4)


def paper_lines() -> list[dict[str, str]]:
    with PAPER_NUMBERS.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == PAPER_COLUMNS == ["table", "pair", "setting", "method", "dataset", "accuracy"]
        return list(reader)


def test_paper_numbers_counts_and_unique_keys():
    lines = paper_lines()
    # Table 1: 2 pairs x 4 methods x 5 test sets; Table 2: 13 methods x (SVAMP, ASDiv, avg);
    # Table 3: 2 settings x 3 methods x (SVAMP, SingleEq, ASDiv, avg).
    counts = {t: sum(line["table"] == t for line in lines) for t in "123"}
    assert counts == {"1": 40, "2": 39, "3": 24}
    assert len(lines) == 103
    keys = [(line["table"], line["pair"], line["setting"], line["method"], line["dataset"]) for line in lines]
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize(
    ("table", "pair", "setting", "method", "dataset", "accuracy"),
    [
        ("1", "llama3-8b_gpt2-large", "unified", "vanilla", "svamp", "10.0"),
        ("1", "llama3-8b_gpt2-large", "unified", "molsaki", "gsm8k", "15.1"),
        ("1", "qwen2.5-32b_tinyllama", "unified", "molsaki", "svamp", "68.5"),
        ("1", "qwen2.5-32b_tinyllama", "unified", "mmi", "asdiv", "42.6"),
        ("1", "qwen2.5-32b_tinyllama", "unified", "dss", "csqa", "28.9"),
        ("2", "llama3-8b_gpt2-medium", "unified", "mol", "avg", "37.5"),
        ("2", "llama3-8b_gpt2-medium", "unified", "sl:last->last", "avg", "35.8"),
        ("2", "llama3-8b_gpt2-medium", "unified", "sl:15->24", "asdiv", "24.6"),
        ("2", "llama3-8b_gpt2-medium", "unified", "mmi", "svamp", "42.5"),
        ("3", "llama3-8b_gpt2-large", "hybrid", "dss", "singleeq", "33.3"),
        ("3", "llama3-8b_gpt2-large", "hybrid", "molsaki", "avg", "39.3"),
        ("3", "llama3-8b_gpt2-large", "unified", "mmi", "avg", "38.5"),
    ],
)
def test_paper_numbers_spot_checks(table, pair, setting, method, dataset, accuracy):
    want = {"table": table, "pair": pair, "setting": setting, "method": method, "dataset": dataset}
    (match,) = [line for line in paper_lines() if all(line[k] == v for k, v in want.items())]
    assert match["accuracy"] == accuracy


def test_paper_numbers_vocabulary():
    lines = paper_lines()
    assert {line["pair"] for line in lines} == {
        "llama3-8b_gpt2-large", "qwen2.5-32b_tinyllama", "llama3-8b_gpt2-medium"
    }
    assert {line["setting"] for line in lines if line["table"] != "3"} == {"unified"}
    assert {line["dataset"] for line in lines} == {"svamp", "singleeq", "asdiv", "gsm8k", "csqa", "avg"}
    sl = [f"sl:{t}->{s}" for t in (13, 14, 15) for s in (8, 17, 24)] + ["sl:last->last"]
    assert {line["method"] for line in lines if line["table"] == "2"} == {"dss", "mmi", "mol", *sl}


def test_load_paper_numbers_maps_pairs_and_mol():
    rows = load_paper_numbers(2, {"llama3-8b_gpt2-medium": PAIR})
    assert len(rows) == 39 and {r.pair for r in rows} == {PAIR}
    assert PaperRow(2, PAIR, "unified", "molsaki", "avg", 37.5) in rows  # the paper's "MoL" row
    assert load_paper_numbers(1, {"nothing": "x"}) == []
    assert len(load_paper_numbers(1)) == 40
    with pytest.raises(ValueError, match="Tables 1, 2 and 3"):
        load_paper_numbers(4)
