"""The five real benchmarks of paper Table 4; docs/paper-to-code.md (paper Table 4), read from a local folder or the HF hub.

Local mode reads the pinned public files that `mold fetch-data` puts in the data folder (mold.data.sources;
docs/data.md):

| name | split | file | count |
|---|---|---|---|
| svamp | train / test | `svamp/SVAMP.json`, DSS split (`RandomState(0)` permutation, first 800 train) | 800 / 200 |
| singleeq | test | `singleeq/questions.json` | 508 |
| asdiv | test | `asdiv/ASDiv.xml`, the ASDiv-A ids of `asdiv/nfolds_ids.json`, answers made open-ended | 1218 |
| gsm8k | test (train) | `gsm8k/test.jsonl` (`train.jsonl`) | 1319 (7473) |
| csqa | train / test | `csqa/train_rand_split.jsonl` / `dev_rand_split.jsonl` (dev serves as test) | 9741 / 1221 |

Hub mode reads the pinned `HUB_SOURCES`; local and hub records go through the same
record -> `Example` mapping (SVAMP's `BUILTIN_FIELDS` templates, `gsm8k_example`, ...), so both give the same ids.
`paper_subset` draws the paper's unpublished 108 / 406 / 1318 test sizes (SingleEq / ASDiv / GSM8K) as a seeded sample (paper Table 4; docs/paper-to-code.md
[choice]). Every bad record raises `DataError` naming file, record and field; none is dropped.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mold.config import DATA_DIR_ENV, FieldTemplates, RealDatasetSpec
from mold.data.answers import canonical_number
from mold.data.schema import CHOICE_LETTERS, Example, format_choices
from mold.data.records import Located, hub_source_name, hub_split_rows, read_file_records
from mold.data.templated import map_records
from mold.io import DataError, iter_jsonl_dicts, read_json

SPLIT_SEED = 0  # DSS's SVAMP split seed and the paper-subset seed (paper Table 4; docs/paper-to-code.md).
SVAMP_SIZE, SVAMP_TRAIN_SIZE = 1000, 800  # paper Table 4: 800 / 200
PAPER_SUBSET_SIZES = {"singleeq": 108, "asdiv": 406, "gsm8k": 1318}  # paper Table 4
ASDIV_IDS_FILE = "asdiv/nfolds_ids.json"
LOCAL_FILES: dict[tuple[str, str], str] = {
    ("svamp", "train"): "svamp/SVAMP.json",
    ("svamp", "test"): "svamp/SVAMP.json",
    ("singleeq", "test"): "singleeq/questions.json",
    ("asdiv", "test"): "asdiv/ASDiv.xml",
    ("gsm8k", "train"): "gsm8k/train.jsonl",
    ("gsm8k", "test"): "gsm8k/test.jsonl",
    ("csqa", "train"): "csqa/train_rand_split.jsonl",
    ("csqa", "test"): "csqa/dev_rand_split.jsonl",
}
CALCULATOR_RE = re.compile(r"<<[^<>]*>>")  # GSM8K's `<<48/2=24>>` annotations


# ----------------------------------------------------------------------------- records
class Rec:
    """One raw record and where it came from, so that every error names file, record and field."""

    def __init__(self, data: Any, src: str, where: int | str, prefix: str = ""):
        if not isinstance(data, Mapping):
            raise DataError(src, where, prefix.rstrip(".") or None, f"expected an object, got {type(data).__name__}")
        self.data, self.src, self.where, self.prefix = data, src, where, prefix

    def error(self, field: str, message: str) -> DataError:
        return DataError(self.src, self.where, self.prefix + field, message)

    def get(self, field: str, kinds: type | tuple[type, ...]) -> Any:
        if field not in self.data or self.data[field] is None:
            raise self.error(field, "missing")
        value = self.data[field]
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise self.error(field, f"expected {kinds}, got {type(value).__name__}")
        return value

    def text(self, field: str) -> str:
        value = self.get(field, str).strip()
        if not value:
            raise self.error(field, "empty")
        return value

    def number(self, field: str) -> str:
        """A numeric field (number or numeric string) in canonical form ('18.0' -> '18')."""
        return number_text(self.get(field, (int, float, str)), self, field)

    def sub(self, field: str) -> Rec:
        return Rec(self.get(field, Mapping), self.src, self.where, f"{self.prefix}{field}.")

    def items(self, field: str) -> list[Any]:
        return self.get(field, list)


def number_text(value: Any, rec: Rec, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise rec.error(field, f"expected a number, got {type(value).__name__}")
    canonical = canonical_number(value if isinstance(value, str) else repr(float(value)))
    if canonical is None:
        raise rec.error(field, f"not a number: {value!r}")
    return canonical


def join_question(body: str, question: str) -> str:
    """Body and question joined by one space (SVAMP/ASDiv; LLM-Adapters' and Fine-tune-CoT's form)."""
    return f"{body.strip()} {question.strip()}"


# ----------------------------------------------------------------------------- record -> Example
# SVAMP and SingleEq have the flat JSON shape of `kind: file` datasets (docs/adding-a-dataset.md): they
# go through the same field templates; the others need code (GSM8K's '####' answer and calculator
# annotations, CSQA's labelled choices, ASDiv's XML, units and fold ids).
BUILTIN_FIELDS: dict[str, FieldTemplates] = {
    # SVAMP.json and ChilleD/SVAMP: `ID`, `Body`, `Question`, `Answer` (float or numeric string).
    "svamp": FieldTemplates(id="svamp-{{ ID }}", question="{{ Body | trim }} {{ Question | trim }}", answer="{{ Answer }}"),
    # SingleEq questions.json: `iIndex`, `sQuestion`, `lSolutions` (gold answer first).
    "singleeq": FieldTemplates(id="singleeq-{{ iIndex }}", question="{{ sQuestion }}", answer="{{ lSolutions[0] }}"),
}


def templated_benchmark(name: str, records: list[Located], src: Path | str) -> list[Example]:
    """A built-in benchmark through its field templates. The paper's sets load whole: a record the
    templates would drop is an error here."""
    loaded = map_records(records, BUILTIN_FIELDS[name], src, source=name)
    if loaded.dropped:
        first = loaded.dropped[0]
        raise DataError(src, first.record, first.field, first.reason)
    return loaded.examples


def asdiv_answer(text: str, rec: Rec, field: str = "Answer") -> str:
    """Open-ended ASDiv answer: the number before the unit, `9 (apples)` -> `9` (paper Table 4; docs/paper-to-code.md)."""
    return number_text(text.split("(", 1)[0].strip(), rec, field)


def asdiv_example(rec: Rec) -> Example:
    """A `<Problem>` of ASDiv.xml as a dict: `ID`, `Body`, `Question`, `Answer` with a unit."""
    body, question = rec.text("Body"), rec.text("Question")
    return Example(id=f"asdiv-{rec.text('ID')}", question=join_question(body, question),
                   answer=asdiv_answer(rec.text("Answer"), rec), source="asdiv")


def asdiv_calc_example(rec: Rec) -> Example:
    """MU-NLPC/Calc-asdiv_a (hub): `id` (ASDiv's `nluds-NNNN`), `question` (body + question),
    `result_float`. Its question text may differ in whitespace from the local join."""
    return Example(id=f"asdiv-{rec.text('id')}", question=rec.text("question"),
                   answer=rec.number("result_float"), source="asdiv")


def gsm8k_example(rec: Rec, split: str, index: int) -> Example:
    """GSM8K `question` / `answer`: the answer follows `####` (commas removed); the text before it,
    calculator annotations removed, is the gold rationale."""
    solution = rec.text("answer")
    if solution.count("####") != 1:
        raise rec.error("answer", "expected exactly one '####' final-answer marker")
    steps, final = solution.split("####")
    rationale = CALCULATOR_RE.sub("", steps).strip()
    return Example(id=f"gsm8k-{split}-{index}", question=rec.text("question"),
                   answer=number_text(final.strip(), rec, "answer"), rationale=rationale or None, source="gsm8k")


def csqa_build(rec: Rec, stem: str, labels: list[Any], texts: list[Any]) -> Example:
    """A CSQA question in Fine-tune-CoT's format; the answer is the letter of `answerKey`."""
    expected = list(CHOICE_LETTERS[: len(texts)])
    if not texts or labels != expected:
        raise rec.error("choices", f"expected labels {expected}, got {labels}")
    if not all(isinstance(t, str) and t.strip() for t in texts):
        raise rec.error("choices", "every choice needs a non-empty text")
    key = rec.text("answerKey")
    if key not in expected:
        raise rec.error("answerKey", f"{key!r} is not one of {expected}")
    choices = [t.strip() for t in texts]
    return Example(id=f"csqa-{rec.text('id')}", question=format_choices(stem, choices), answer=key,
                   choices=choices, source="csqa")


def csqa_example(rec: Rec) -> Example:
    """The original CSQA JSONL: `question: {stem, choices: [{label, text}]}`, `answerKey`, `id`."""
    question = rec.sub("question")
    items = [Rec(c, rec.src, rec.where, f"question.choices[{i}].") for i, c in enumerate(question.items("choices"))]
    labels = [c.text("label") for c in items]
    return csqa_build(rec, question.text("stem"), labels, [c.text("text") for c in items])


def csqa_hub_example(rec: Rec) -> Example:
    """tau/commonsense_qa: `question` (the stem), `choices: {label: [...], text: [...]}`."""
    choices = rec.sub("choices")
    return csqa_build(rec, rec.text("question"), choices.items("label"), choices.items("text"))


# ----------------------------------------------------------------------------- splits
def dss_svamp_split(records: list[Example], split: str) -> list[Example]:
    """DSS's SVAMP split: `RandomState(0).permutation(1000)`, first 800 train (paper Table 4; docs/paper-to-code.md)."""
    if len(records) != SVAMP_SIZE:
        raise ValueError(f"SVAMP needs all {SVAMP_SIZE} problems in SVAMP.json order, got {len(records)}")
    order = np.random.RandomState(seed=SPLIT_SEED).permutation(len(records))
    chosen = order[:SVAMP_TRAIN_SIZE] if split == "train" else order[SVAMP_TRAIN_SIZE:]
    return [records[i] for i in chosen]


def paper_subset(examples: list[Example], size: int) -> list[Example]:
    """A seeded sample of the paper's test size (docs/paper-to-code.md [choice]): the first `size` indices of
    `RandomState(0).permutation(n)`, sorted, so the subset keeps the file order."""
    if size > len(examples):
        raise ValueError(f"paper subset of {size} needs at least {size} examples, got {len(examples)}")
    chosen = np.sort(np.random.RandomState(seed=SPLIT_SEED).permutation(len(examples))[:size])
    return [examples[i] for i in chosen]


# ----------------------------------------------------------------------------- local files
def jsonl_recs(path: Path) -> list[tuple[int, Rec]]:
    """(0-based position, record); records are located by 1-based line number."""
    return [(i, Rec(obj, str(path), line)) for i, (line, obj) in enumerate(iter_jsonl_dicts(path))]


def asdiv_xml_recs(path: Path) -> list[Rec]:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise DataError(path, f"line {err.position[0]}", None, f"invalid XML: {err}") from err
    recs = []
    for i, problem in enumerate(root.iter("Problem"), start=1):
        fields = {child.tag: child.text for child in problem} | dict(problem.attrib)
        recs.append(Rec(fields, str(path), f"Problem {i}"))
    return recs


def asdiv_a_ids(path: Path) -> set[str]:
    folds = read_json(path)
    subset = folds.get("asdiv-a") if isinstance(folds, dict) else None
    if not isinstance(subset, dict) or not all(isinstance(ids, list) for ids in subset.values()):
        raise DataError(path, None, "asdiv-a", "expected {'asdiv-a': {fold: [ids]}}")
    return {problem_id for ids in subset.values() for problem_id in ids}


def load_local_asdiv(root: Path) -> list[Example]:
    """ASDiv-A: the problems of ASDiv.xml whose ID is in the ASDiv-A fold lists. (No Grade /
    Solution-Type filter reproduces that subset: its types and grades also occur outside it.)"""
    wanted, path = asdiv_a_ids(root / ASDIV_IDS_FILE), root / LOCAL_FILES["asdiv", "test"]
    recs = [rec for rec in asdiv_xml_recs(path) if rec.data.get("ID") in wanted]
    missing = wanted - {rec.data["ID"] for rec in recs}
    if missing:
        raise DataError(path, None, "ID", f"{len(missing)} ASDiv-A ids not in the file, e.g. {sorted(missing)[0]}")
    return [asdiv_example(rec) for rec in recs]


def load_local(name: str, split: str, root: Path) -> list[Example]:
    path = root / LOCAL_FILES[name, split]
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; `mold fetch-data` fetches the benchmark files (docs/data.md)")
    if name in BUILTIN_FIELDS:
        examples = templated_benchmark(name, read_file_records(path, "json"), path)
        return dss_svamp_split(examples, split) if name == "svamp" else examples
    if name == "asdiv":
        return load_local_asdiv(root)
    if name == "gsm8k":
        return [gsm8k_example(rec, split, i) for i, rec in jsonl_recs(path)]
    return [csqa_example(rec) for _, rec in jsonl_recs(path)]


# ----------------------------------------------------------------------------- hub
@dataclass(frozen=True)
class HubSource:
    repo: str
    config: str | None
    revision: str  # pinned commit
    splits: dict[str, tuple[str, ...]]  # our split -> the hub splits it is read from


HUB_SOURCES: dict[str, HubSource] = {
    # 700/300 repackaging of all 1000 problems: both splits are read and re-split as DSS does.
    "svamp": HubSource("ChilleD/SVAMP", None, "5e0bf1e5e7c0e9c4bc39180d224f41f3f801b7ef",
                       {"train": ("train", "test"), "test": ("train", "test")}),
    "gsm8k": HubSource("openai/gsm8k", "main", "cc7b047b6e5bb11b4f1af84efc572db110a51b3c",
                       {"train": ("train",), "test": ("test",)}),
    "csqa": HubSource("tau/commonsense_qa", None, "94630fe30dad47192a8546eb75f094926d47e155",
                      {"train": ("train",), "test": ("validation",)}),
    # ASDiv-A (1218) with ASDiv's ids; EleutherAI/asdiv has all 2305 problems but no ids.
    "asdiv": HubSource("MU-NLPC/Calc-asdiv_a", "default", "520a6910e097ee287ecd2bb9104f7f45805f9df9",
                       {"test": ("test",)}),
    # singleeq: no hub copy with a pinned, checked revision is known; use source: local.
}


def hub_rows(source: HubSource, split: str) -> list[dict]:
    """All rows of one hub split (network, or the HF cache when offline)."""
    return hub_split_rows(source.repo, source.config, source.revision, split)


def svamp_hub_order(examples: list[Example]) -> list[Example]:
    """ChilleD/SVAMP problems back in SVAMP.json order (`chal-1` ... `chal-1000`)."""
    def key(example: Example) -> int:
        match = re.fullmatch(r"svamp-chal-(\d+)", example.id)
        if match is None:
            raise ValueError(f"ChilleD/SVAMP: id {example.id!r} is not 'svamp-chal-<n>'")
        return int(match.group(1))

    return sorted(examples, key=key)


def load_hub(name: str, split: str) -> list[Example]:
    source = HUB_SOURCES.get(name)
    if source is None or split not in source.splits:
        raise ValueError(f"{name}/{split}: no pinned hub source; use source: local (paper Table 4; docs/paper-to-code.md)")
    parts = [(hub_source_name(source.repo, source.revision, hub_split), hub_rows(source, hub_split))
             for hub_split in source.splits[split]]
    if name == "svamp":
        examples = [ex for src, rows in parts for ex in templated_benchmark(name, [(f"#{i}", r) for i, r in enumerate(rows)], src)]
        return dss_svamp_split(svamp_hub_order(examples), split)
    recs = [Rec(row, src, i) for src, rows in parts for i, row in enumerate(rows)]
    if name == "gsm8k":
        return [gsm8k_example(rec, split, i) for i, rec in enumerate(recs)]
    mapper: Callable[[Rec], Example] = csqa_hub_example if name == "csqa" else asdiv_calc_example
    return [mapper(rec) for rec in recs]


# ----------------------------------------------------------------------------- entry point
def check_spec(spec: RealDatasetSpec) -> None:
    if (spec.name, spec.split) not in LOCAL_FILES:
        raise ValueError(f"{spec.name} has no {spec.split} split (paper Table 4)")
    if spec.paper_subset and spec.name not in PAPER_SUBSET_SIZES:
        raise ValueError(f"paper_subset is only defined for {sorted(PAPER_SUBSET_SIZES)}, not {spec.name!r}")


def resolve_data_dir(data_dir: Path | str | None) -> Path:
    if data_dir is None:
        env = os.environ.get(DATA_DIR_ENV)
        if not env:
            raise ValueError(f"source: local needs a data_dir (config data_dir or ${DATA_DIR_ENV})")
        data_dir = env
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: data_dir is not a folder")
    return root


def check_unique_ids(examples: Iterable[Example], name: str) -> None:
    seen: set[str] = set()
    for ex in examples:
        if ex.id in seen:
            raise ValueError(f"{name}: duplicate id {ex.id!r}")
        seen.add(ex.id)


def load_real_dataset(spec: RealDatasetSpec, data_dir: Path | str | None = None) -> list[Example]:
    """The examples of one benchmark split (paper Table 4; docs/paper-to-code.md), in file order; then `paper_subset`, then `limit`."""
    check_spec(spec)
    if spec.source == "hub":
        examples = load_hub(spec.name, spec.split)
    else:
        examples = load_local(spec.name, spec.split, resolve_data_dir(data_dir))
    check_unique_ids(examples, spec.name)
    if spec.paper_subset:
        examples = paper_subset(examples, PAPER_SUBSET_SIZES[spec.name])
    return examples[: spec.limit] if spec.limit else examples
