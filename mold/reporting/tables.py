"""Paper-style tables (paper §4, paper Tables 1–3) built by pure functions from saved eval JSON.

Flow: `load_eval_records(paths)` → `aggregate(records)` → `table1/2/3(rows, ...)` →
`write_tables(prefix, tables)`. Each table function returns {"md", "csv", "tex"} texts.
Nothing here imports torch or runs a model.

`mold/paper_numbers.csv` (read by `load_paper_numbers`) holds the numbers *the paper
reports* in Tables 1–3, transcribed from paper §4 — they are not results of this
repository. Its method `mol` (Table 2's "MoL" row) is MoLSAKI with the mixture of layers,
so it is loaded under our method name `molsaki`; `sl:last->last` is the paper's "32→24".
Averages (`avg`) in that file are the paper's printed values, not recomputed.

Every table prints each test set's size n; a Δ against the paper comes with a note naming
the test sets whose size differs from the paper's (paper Table 4; docs/paper-to-code.md).
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mold.config import EvalMode
from mold.io import DataError, read_json, write_text_atomic
from mold.methods import get_method, paper_names

PAPER_NUMBERS = Path(__file__).with_name("paper_numbers.csv")
PAPER_COLUMNS = ["table", "pair", "setting", "method", "dataset", "accuracy"]
PAPER_SEEDS = 3  # paper §4: "Mean of 3 random seeds."

DATASET_NAMES = {
    "svamp": "SVAMP", "singleeq": "SingleEq", "asdiv": "ASDiv",
    "gsm8k": "GSM8K", "csqa": "CSQA", "avg": "Avg",
}
SETTING_LABELS = {
    "unified": "Rationale and attention from one teacher",
    "hybrid": "Rationale from PaLM-540B, attention from the teacher",
}
EXTENSIONS = ("md", "csv", "tex")
# paper Table 4: the test sets the paper's numbers were measured on
PAPER_TEST_SIZES = {"svamp": 200, "singleeq": 108, "asdiv": 406, "gsm8k": 1318, "csqa": 1221}
# the columns the paper averages (its "AVG"): Table 2 over SVAMP and ASDiv, Table 3 over SVAMP, SingleEq and ASDiv
PAPER_AVERAGED = {2: ("svamp", "asdiv"), 3: ("svamp", "singleeq", "asdiv")}


class Score(BaseModel):
    model_config = ConfigDict(extra="ignore")
    acc: float = Field(ge=0.0, le=1.0, description="Accuracy as a fraction.")
    n: int = Field(ge=0, description="Number of test examples scored.")


class EvalRecord(BaseModel):
    """The fields of one eval JSON file that tables need; other keys are ignored."""

    model_config = ConfigDict(extra="ignore")
    pair: str
    pair_label: str
    task: str
    method: str
    seed: int
    scores: dict[EvalMode, dict[str, Score]] = Field(description="Per evaluation mode, per test set.")


@dataclass(frozen=True)
class Row:
    """One (pair, method, dataset) cell aggregated over seeds; mean and std in %."""

    pair: str
    pair_label: str
    method: str
    dataset: str
    mean: float
    std: float  # sample std over seeds; 0.0 with a single seed
    n_seeds: int
    n: int | None = None  # test examples scored per seed; None for an average (each dataset's n is its own column)


@dataclass(frozen=True)
class PaperRow:
    """One number the paper reports (accuracy in %)."""

    table: int
    pair: str
    setting: str
    method: str
    dataset: str
    accuracy: float


# ---------------------------------------------------------------- loading and aggregating


def load_eval_records(paths: Iterable[Path | str]) -> list[EvalRecord]:
    """Read eval JSON files; a bad file raises DataError naming the file and the key."""
    records = []
    for path in paths:
        obj = read_json(path)
        if not isinstance(obj, dict):
            raise DataError(path, None, None, f"expected a JSON object, got {type(obj).__name__}")
        try:
            records.append(EvalRecord.model_validate(obj))
        except ValidationError as err:
            first = err.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or None
            missing = first["type"] == "missing"
            raise DataError(path, None, field, f"missing key {field!r}" if missing else first["msg"]) from err
    return records


def _scores_by_run(records: Iterable[EvalRecord], mode: EvalMode) -> dict[tuple[str, str, int], dict[str, Score]]:
    """Each (pair, method, seed)'s scores per dataset in evaluation `mode`, merged over task files."""
    runs: dict[tuple[str, str, int], dict[str, Score]] = defaultdict(dict)
    for rec in records:
        run = runs[(rec.pair, rec.method, rec.seed)]
        for dataset, score in rec.scores.get(mode, {}).items():
            if dataset in run:
                raise ValueError(
                    f"two records score {dataset!r} for pair {rec.pair!r}, method {rec.method!r}, seed {rec.seed}"
                )
            run[dataset] = score
    return runs


def _pair_labels(records: Iterable[EvalRecord]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for rec in records:
        if labels.setdefault(rec.pair, rec.pair_label) != rec.pair_label:
            raise ValueError(f"pair {rec.pair!r} has two labels: {labels[rec.pair]!r} and {rec.pair_label!r}")
    return labels


def aggregate(
    records: Sequence[EvalRecord], average_over: Sequence[str] | None = None, average_name: str = "avg",
    mode: EvalMode = "predict",
) -> list[Row]:
    """Mean and sample std over seeds, in %, per (pair, method, dataset) of evaluation `mode`, sorted by those keys.

    With `average_over`, each seed also gets `average_name` = the mean of its accuracies on
    those datasets (seeds lacking one of them get none); that per-seed average is then
    aggregated like any dataset, so its std is the spread of the seeds' averages.
    Each row carries its test set's n, which all seeds must share.
    """
    labels = _pair_labels(records)
    by_cell: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    sizes: dict[tuple[str, str, str], set[int]] = defaultdict(set)
    for (pair, method, _seed), scores in sorted(_scores_by_run(records, mode).items()):
        accs = {dataset: 100.0 * score.acc for dataset, score in scores.items()}
        if average_over and all(d in accs for d in average_over):
            accs[average_name] = statistics.fmean(accs[d] for d in average_over)
        for dataset, acc in accs.items():
            by_cell[(pair, method, dataset)].append(acc)
        for dataset, score in scores.items():
            sizes[(pair, method, dataset)].add(score.n)
    for (pair, method, dataset), ns in sizes.items():
        if len(ns) > 1:
            raise ValueError(f"seeds of pair {pair!r}, method {method!r} scored {dataset!r} on different n: {sorted(ns)}")
    return [
        Row(pair, labels[pair], method, dataset, statistics.fmean(accs),
            statistics.stdev(accs) if len(accs) > 1 else 0.0, len(accs),
            next(iter(sizes[(pair, method, dataset)]), None))
        for (pair, method, dataset), accs in sorted(by_cell.items())
    ]


def load_paper_numbers(
    table: int, mapping: Mapping[str, str] | None = None, path: Path | str = PAPER_NUMBERS
) -> list[PaperRow]:
    """The paper's numbers for `table` (1, 2 or 3) from `paper_numbers.csv`.

    `mapping` renames paper pair ids to ours (e.g. {"llama3-8b_gpt2-large": "tiny_large"});
    when given, pairs it does not name are dropped. Paper method `mol` becomes `molsaki`.
    """
    if table not in (1, 2, 3):
        raise ValueError(f"the paper has Tables 1, 2 and 3, not {table!r}")
    rows = []
    with Path(path).open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != PAPER_COLUMNS:
            raise DataError(path, 1, None, f"header must be {','.join(PAPER_COLUMNS)}, got {reader.fieldnames}")
        for line in reader:
            if int(line["table"]) != table or (mapping is not None and line["pair"] not in mapping):
                continue
            pair = mapping[line["pair"]] if mapping is not None else line["pair"]
            method = paper_names().get(line["method"], line["method"])
            rows.append(PaperRow(table, pair, line["setting"], method, line["dataset"], float(line["accuracy"])))
    return rows


# ---------------------------------------------------------------- names


def method_name(method: str) -> str:
    """Display name from the method registry: 'dss' -> 'DSS', 'sl:13->8' -> 'SL 13→8'; unknown names pass through."""
    try:
        return get_method(method).label
    except KeyError:
        return method


def dataset_name(dataset: str) -> str:
    return DATASET_NAMES.get(dataset, dataset)


def _column_names(columns: Sequence[str], paper_names: Mapping[str, str] | None) -> list[str]:
    """Display names of dataset columns: a column the paper also has is shown under the paper's name."""
    return [dataset_name((paper_names or {}).get(d, d)) for d in columns]


# ---------------------------------------------------------------- layout shared by the tables


@dataclass(frozen=True)
class _Cell:
    keys: tuple[str, ...]  # the CSV key columns of this cell (e.g. pair, method)
    dataset: str
    ours: Row | None
    paper: float | None
    paper_dataset: str | None  # the paper's name of this column's test set (svamp, ..., avg)


@dataclass(frozen=True)
class _Line:
    group: str  # first column; printed once per group
    label: str  # method display name
    cells: list[_Cell]


@dataclass(frozen=True)
class _Layout:
    title: str
    note: str
    headers: list[str]  # group header, method header, then one per dataset
    csv_keys: list[str]
    lines: list[_Line]
    with_paper: bool

    def column_sizes(self) -> list[set[int]]:
        """Our test-set sizes n seen in each dataset column."""
        sizes: list[set[int]] = [set() for _ in self.headers[2:]]
        for line in self.lines:
            for column, cell in enumerate(line.cells):
                if cell.ours is not None and cell.ours.n is not None:
                    sizes[column].add(cell.ours.n)
        return sizes


def _cell_text(cell: _Cell) -> str:
    ours = f"{cell.ours.mean:.1f} ± {cell.ours.std:.1f}" if cell.ours else "–"
    if cell.paper is None:
        return ours
    if cell.ours is None:
        return f"{ours} (paper {cell.paper:.1f})"
    shown = float(f"{cell.ours.mean:.1f}")  # Δ of the printed numbers, so readers can check it
    delta = round(shown - cell.paper, 1) + 0.0  # + 0.0 turns -0.0 into +0.0
    return f"{ours} (paper {cell.paper:.1f}, Δ {delta:+.1f})"


def _seed_note(layout: _Layout) -> str:
    counts = sorted({c.ours.n_seeds for line in layout.lines for c in line.cells if c.ours})
    if not counts:
        note = "No results of ours yet."
    elif counts == [1]:
        note = "Ours: one seed per cell (std shown as 0.0)."
    elif len(counts) == 1:
        note = f"Ours: mean ± sample std over {counts[0]} seeds."
    else:
        note = f"Ours: mean ± sample std over {counts[0]}–{counts[-1]} seeds per cell (n_seeds in the CSV)."
    if layout.with_paper:
        note += f" Paper: mean of {PAPER_SEEDS} seeds; Δ = ours − paper."
    return note


def _size_note(layout: _Layout) -> str:
    """Which of our test sets differ in size from the paper's (paper Table 4), so a Δ there compares different sets."""
    if not layout.with_paper:
        return ""
    differ, same = [], []
    for column, ns in enumerate(layout.column_sizes()):
        named = {line.cells[column].paper_dataset for line in layout.lines if line.cells[column].paper is not None}
        for paper_dataset in sorted(named & set(PAPER_TEST_SIZES)):
            shown = f"{dataset_name(paper_dataset)} (ours n={'/'.join(map(str, sorted(ns))) or '?'}, paper n={PAPER_TEST_SIZES[paper_dataset]})"
            (same if ns == {PAPER_TEST_SIZES[paper_dataset]} else differ).append(shown)
    if not differ:
        return "Test sets of the paper's sizes (paper Table 4): " + ", ".join(same) + "." if same else ""
    return ("Δ compares different test sets where n differs from the paper's (paper Table 4): " + ", ".join(differ)
            + "; an average's Δ inherits them.")


def _headers(layout: _Layout) -> list[str]:
    """The column headers, each dataset's with our test-set size n (one n, or every n seen)."""
    sized = [f"{h} (n={'/'.join(map(str, sorted(ns)))})" if ns else h
             for h, ns in zip(layout.headers[2:], layout.column_sizes())]
    return [*layout.headers[:2], *sized]


def _notes(layout: _Layout) -> list[str]:
    return [text for text in (layout.note, _seed_note(layout), _size_note(layout)) if text]


def _texts(lines: Sequence[_Line]) -> Iterator[tuple[bool, list[str]]]:
    """(starts a new group, cell texts) per line; a group's label is printed on its first line."""
    previous = None
    for line in lines:
        starts = line.group != previous
        previous = line.group
        yield starts, [line.group if starts else "", line.label, *map(_cell_text, line.cells)]


def _markdown(layout: _Layout) -> str:
    out = [f"## {layout.title}", ""]
    for text in _notes(layout):
        out += [text, ""]
    headers = _headers(layout)
    out.append("| " + " | ".join(headers) + " |")
    out.append("|" + "---|" * len(headers))
    for _, texts in _texts(layout.lines):
        out.append("| " + " | ".join(texts) + " |")
    return "\n".join(out) + "\n"


_TEX = {
    **{c: "\\" + c for c in "&%$#_{}"}, "\\": "\\textbackslash{}", "~": "\\textasciitilde{}",
    "^": "\\textasciicircum{}", "±": "$\\pm$", "→": "$\\rightarrow$", "Δ": "$\\Delta$", "−": "$-$", "–": "--",
}


def _tex_escape(text: str) -> str:
    return "".join(_TEX.get(c, c) for c in text)


def _latex(layout: _Layout) -> str:
    comments = "\n".join([layout.title, *_notes(layout)])
    out = [f"% {text}" for text in comments.splitlines() if text]
    out += ["\\begin{tabular}{ll" + "c" * (len(layout.headers) - 2) + "}", "\\toprule"]
    out.append(" & ".join(map(_tex_escape, _headers(layout))) + " \\\\")
    out.append("\\midrule")
    for index, (starts_group, texts) in enumerate(_texts(layout.lines)):
        if starts_group and index > 0:
            out.append("\\midrule")
        out.append(" & ".join(map(_tex_escape, texts)) + " \\\\")
    out += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(out) + "\n"


def _csv(layout: _Layout) -> str:
    """Long format, one line per cell with a result of ours; `n` (test examples) empty for an average,
    `paper,delta` empty when unknown."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    extra = ["paper", "delta"] if layout.with_paper else []
    writer.writerow([*layout.csv_keys, "dataset", "mean", "std", "n_seeds", "n", *extra])
    for line in layout.lines:
        for cell in line.cells:
            if cell.ours is None:
                continue
            n = "" if cell.ours.n is None else cell.ours.n
            row = [*cell.keys, cell.dataset, f"{cell.ours.mean:.2f}", f"{cell.ours.std:.2f}", cell.ours.n_seeds, n]
            if layout.with_paper:
                known = cell.paper is not None
                row += [f"{cell.paper:.1f}", f"{cell.ours.mean - cell.paper:+.2f}"] if known else ["", ""]
            writer.writerow(row)
    return buffer.getvalue()


def _render(layout: _Layout) -> dict[str, str]:
    return {"md": _markdown(layout), "csv": _csv(layout), "tex": _latex(layout)}


def _line(
    group: str, label: str, keys: tuple[str, ...], columns: Sequence[str],
    ours: Mapping[tuple[str, ...], Row], paper: Mapping[tuple[str, ...], float], at: tuple[str, ...],
    paper_names: Mapping[str, str] | None = None,
) -> _Line | None:
    """The line whose cells are `ours` at (*at, dataset) and `paper` at (*at, the paper's name of dataset);
    `paper_names` maps our dataset keys to the paper's (default: the same key). None when all cells are empty."""
    named = {d: (paper_names or {}).get(d, d) for d in columns}
    cells = [_Cell(keys, d, ours.get((*at, d)), paper.get((*at, named[d])), named[d]) for d in columns]
    if all(c.ours is None and c.paper is None for c in cells):
        return None
    return _Line(group, label, cells)


# ---------------------------------------------------------------- the three tables


def table1(
    rows: Sequence[Row],
    datasets_order: Sequence[str],
    methods_order: Sequence[str],
    paper: Sequence[PaperRow] | None = None,
    note: str = "",
    pairs_order: Sequence[str] | None = None,
    title: str = "Table 1: accuracy (%) of each method on each test set",
    paper_names: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Pair × method lines, one column per test set (paper Table 1).

    Pairs appear in `pairs_order` (default: first appearance in `rows`); methods outside
    `methods_order` and datasets outside `datasets_order` are left out.
    Paper rows match ours on (pair, method, dataset), the dataset renamed by `paper_names`
    (our key -> the paper's name, e.g. {"singleeq_subset": "singleeq"}); rename pairs via `load_paper_numbers`.
    """
    ours = {(r.pair, r.method, r.dataset): r for r in rows}
    theirs = {(p.pair, p.method, p.dataset): p.accuracy for p in paper or () if p.setting == "unified"}
    labels = {r.pair: r.pair_label for r in rows}
    lines = []
    for pair in pairs_order or list(labels):
        for method in methods_order:
            line = _line(labels.get(pair, pair), method_name(method), (pair, method), datasets_order,
                         ours, theirs, at=(pair, method), paper_names=paper_names)
            lines += [line] if line else []
    headers = ["Pair", "Method", *_column_names(datasets_order, paper_names)]
    return _render(_Layout(title, note, headers, ["pair", "method"], lines, paper is not None))


def _single_pair(rows: Sequence[Row], what: str) -> tuple[str, str]:
    pairs = sorted({(r.pair, r.pair_label) for r in rows})
    if len(pairs) != 1:
        raise ValueError(f"{what} takes the rows of one pair; got pairs {[p for p, _ in pairs] or 'none'}")
    return pairs[0]


def table2(
    rows: Sequence[Row],
    datasets_order: Sequence[str],
    methods_order: Sequence[str],
    paper: Sequence[PaperRow] | None = None,
    note: str = "",
    average_name: str = "avg",
    title: str = "Table 2: single-layer maps (SL teacher→student) vs the mixture of layers (MoL)",
    paper_names: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Method lines (dss, mmi, sl:*, molsaki shown as 'MoL') for one pair; columns are
    `datasets_order` + `average_name` (make the avg rows with `aggregate(average_over=...)`).
    Paper rows match ours on (pair, method, dataset), the dataset renamed by `paper_names` as in `table1`."""
    pair, label = _single_pair(rows, "table2")
    columns = [*datasets_order, average_name]
    ours = {(r.method, r.dataset): r for r in rows}
    theirs = {(p.method, p.dataset): p.accuracy for p in paper or () if p.pair == pair and p.setting == "unified"}
    lines = []
    for method in methods_order:
        shown = "MoL" if get_method(method).uses_router else method_name(method)  # the paper's row name
        line = _line(label, shown, (pair, method), columns, ours, theirs, at=(method,), paper_names=paper_names)
        lines += [line] if line else []
    headers = ["Pair", "Method", *_column_names(columns, paper_names)]
    return _render(_Layout(title, note, headers, ["pair", "method"], lines, paper is not None))


def table3(
    rows_by_setting: Mapping[str, Sequence[Row]],
    datasets_order: Sequence[str],
    methods_order: Sequence[str],
    paper: Sequence[PaperRow] | None = None,
    note: str = "",
    average_name: str = "avg",
    setting_labels: Mapping[str, str] = SETTING_LABELS,
    title: str = "Table 3: rationale source (unified vs hybrid) × method",
    paper_names: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Setting × method lines; columns `datasets_order` + `average_name` (paper Table 3).

    `rows_by_setting` maps a setting ('unified', 'hybrid') to the rows of the one pair run
    in it (each setting is its own pair in our configs, so paper rows match ours on
    (setting, method, dataset), not on pair). CSV key columns: setting, pair, method.
    """
    columns = [*datasets_order, average_name]
    lines = []
    for setting, rows in rows_by_setting.items():
        theirs = {(p.method, p.dataset): p.accuracy for p in paper or () if p.setting == setting}
        pair = _single_pair(rows, f"table3 setting {setting!r}")[0] if rows else ""
        ours = {(r.method, r.dataset): r for r in rows}
        for method in methods_order:
            line = _line(setting_labels.get(setting, setting), method_name(method), (setting, pair, method),
                         columns, ours, theirs, at=(method,), paper_names=paper_names)
            lines += [line] if line else []
    headers = ["Rationale source", "Method", *_column_names(columns, paper_names)]
    return _render(_Layout(title, note, headers, ["setting", "pair", "method"], lines, paper is not None))


def write_tables(out_prefix: Path | str, tables: Mapping[str, str]) -> list[Path]:
    """Write `<out_prefix>.md/.csv/.tex` atomically; returns the paths written."""
    unknown = set(tables) - set(EXTENSIONS)
    if unknown:
        raise ValueError(f"unknown table formats {sorted(unknown)}; expected {EXTENSIONS}")
    out_prefix = Path(out_prefix)
    paths = []
    for ext in EXTENSIONS:
        if ext in tables:
            path = out_prefix.with_name(f"{out_prefix.name}.{ext}")
            write_text_atomic(path, tables[ext])
            paths.append(path)
    return paths
