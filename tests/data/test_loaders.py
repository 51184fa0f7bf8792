"""Real benchmark loaders (paper Table 4; docs/paper-to-code.md): counts, the DSS SVAMP split, answers checked by hand against
the files, paper subsets, errors that locate bad records, and the hub path on in-memory rows."""

from __future__ import annotations

import json
import random
import re
from functools import lru_cache
from pathlib import Path

import pytest

from mold.config import RealDatasetSpec
from mold.data import loaders
from mold.data.answers import format_number
from mold.data.loaders import (
    Rec,
    asdiv_calc_example,
    csqa_hub_example,
    gsm8k_example,
    load_real_dataset,
)
from mold.data.palm import eval_arithmetic
from mold.data.schema import Example
from mold.io import DataError


@lru_cache(maxsize=None)
def _load(data_dir: Path, name: str, split: str, paper_subset: bool = False) -> tuple[Example, ...]:
    spec = RealDatasetSpec(name=name, split=split, paper_subset=paper_subset)
    return tuple(load_real_dataset(spec, data_dir))


def by_id(data_dir: Path, name: str, split: str) -> dict[str, Example]:
    return {ex.id: ex for ex in _load(data_dir, name, split)}


# ----------------------------------------------------------------------------- counts and ids
@pytest.mark.parametrize(
    ("name", "split", "count", "id_pattern"),
    [
        ("svamp", "train", 800, r"svamp-chal-\d+"),
        ("svamp", "test", 200, r"svamp-chal-\d+"),
        ("singleeq", "test", 508, r"singleeq-\d+"),
        ("asdiv", "test", 1218, r"asdiv-nluds-\d{4}"),
        ("gsm8k", "test", 1319, r"gsm8k-test-\d+"),
        ("csqa", "train", 9741, r"csqa-[0-9a-f]{32}(_\d+)?"),
        ("csqa", "test", 1221, r"csqa-[0-9a-f]{32}(_\d+)?"),
    ],
)
def test_counts_ids_and_source(shared_data_dir, name, split, count, id_pattern):
    examples = _load(shared_data_dir, name, split)
    assert len(examples) == count
    assert len({ex.id for ex in examples}) == count
    assert all(re.fullmatch(id_pattern, ex.id) for ex in examples)
    assert {ex.source for ex in examples} == {name}


def test_every_math_answer_is_canonical(shared_data_dir):
    for name, split in [("svamp", "train"), ("svamp", "test"), ("singleeq", "test"), ("asdiv", "test"), ("gsm8k", "test")]:
        for ex in _load(shared_data_dir, name, split):
            assert re.fullmatch(r"-?\d+(\.\d+)?", ex.answer), (ex.id, ex.answer)
            assert ex.choices is None


# ----------------------------------------------------------------------------- SVAMP split
@pytest.mark.parametrize("split", ["train", "test"])
def test_svamp_split_is_the_dss_split(shared_data_dir, split):
    """Same problems in the same order as DSS's svamp_{split}.json (Body + newline + Question)."""
    examples = _load(shared_data_dir, "svamp", split)
    lines = (shared_data_dir / f"svamp/dss/svamp_{split}.json").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    assert [row["input"].replace("\n", " ") for row in rows] == [ex.question for ex in examples]
    mismatched = [ex.id for ex, row in zip(examples, rows) if abs(eval_arithmetic(row["label"]) - float(ex.answer)) > 1e-4]
    assert mismatched == (["svamp-chal-680"] if split == "train" else [])  # SVAMP.json's own erratum


def test_svamp_splits_partition_the_benchmark(shared_data_dir):
    train, test = by_id(shared_data_dir, "svamp", "train"), by_id(shared_data_dir, "svamp", "test")
    assert not train.keys() & test.keys()
    assert train.keys() | test.keys() == {f"svamp-chal-{i}" for i in range(1, 1001)}


# ----------------------------------------------------------------------------- spot checks (read from the files)
def test_svamp_spot_checks(shared_data_dir):
    train = by_id(shared_data_dir, "svamp", "train")
    assert train["svamp-chal-1"].question == (
        "Each pack of dvds costs 76 dollars. If there is a discount of 25 dollars on each pack "
        "How much do you have to pay to buy each pack?"
    )
    assert train["svamp-chal-1"].answer == "51"
    assert _load(shared_data_dir, "svamp", "train")[0].id == "svamp-chal-994"  # first line of DSS train
    assert _load(shared_data_dir, "svamp", "test")[0].answer == "450"  # chal-153: 10 * 45


def test_singleeq_spot_checks(shared_data_dir):
    examples = by_id(shared_data_dir, "singleeq", "test")
    assert examples["singleeq-0"].answer == "43"  # 70-x=27
    assert examples["singleeq-2"].question.startswith("After eating at the restaurant, Sally, Sam, and Alyssa")
    assert examples["singleeq-2"].answer == "135"
    assert examples["singleeq-205"].answer == "11.5"


def test_asdiv_spot_checks(shared_data_dir):
    examples = by_id(shared_data_dir, "asdiv", "test")
    assert examples["asdiv-nluds-0001"].question == (
        "Seven red apples and two green apples are in the basket. How many apples are in the basket?"
    )
    assert examples["asdiv-nluds-0001"].answer == "9"  # "9 (apples)"
    assert examples["asdiv-nluds-1008"].answer == "14"  # "14  (seats)"
    assert examples["asdiv-nluds-0575"].answer == "3.333"  # "3.333 (minutes)"
    assert "asdiv-nluds-0014" not in examples  # in ASDiv, not in ASDiv-A


def test_gsm8k_spot_checks(shared_data_dir):
    examples = by_id(shared_data_dir, "gsm8k", "test")
    first = examples["gsm8k-test-0"]
    assert first.answer == "18"
    assert first.rationale == (
        "Janet sells 16 - 3 - 4 = 9 duck eggs a day.\nShe makes 9 * 2 = $18 every day at the farmer’s market."
    )
    assert examples["gsm8k-test-2"].answer == "70000"  # "#### 70000"; its steps write 70,000
    assert examples["gsm8k-test-489"].answer == "-10"
    assert not any("<<" in (ex.rationale or "") for ex in examples.values())


def test_csqa_spot_checks(shared_data_dir):
    ex = by_id(shared_data_dir, "csqa", "test")["csqa-a7ab086045575bb497933726e4e6ad28"]
    assert ex.question == (
        "What do people aim to do at work? Answer choices: (A) complete job, (B) learn from each other, "
        "(C) kill animals, (D) wear hats, (E) talk to each other."
    )
    assert ex.answer == "A"
    assert ex.choices == ["complete job", "learn from each other", "kill animals", "wear hats", "talk to each other"]


# ----------------------------------------------------------------------------- paper subsets, limit, misuse
@pytest.mark.parametrize(("name", "size"), [("singleeq", 108), ("asdiv", 406), ("gsm8k", 1318)])
def test_paper_subset_is_seeded_and_keeps_file_order(shared_data_dir, name, size):
    subset = load_real_dataset(RealDatasetSpec(name=name, split="test", paper_subset=True), shared_data_dir)
    again = _load(shared_data_dir, name, "test", True)
    assert len(subset) == size and tuple(subset) == again
    position = {ex.id: i for i, ex in enumerate(_load(shared_data_dir, name, "test"))}
    indices = [position[ex.id] for ex in subset]
    assert indices == sorted(indices) and len(set(indices)) == size


def test_paper_subset_first_ids(shared_data_dir):
    """Pinned so a change of sampling rule shows up as a failing test, not a silent new subset."""
    assert [ex.id for ex in _load(shared_data_dir, "singleeq", "test", True)[:3]] == ["singleeq-1", "singleeq-6", "singleeq-10"]
    assert [ex.id for ex in _load(shared_data_dir, "asdiv", "test", True)[:3]] == [
        "asdiv-nluds-0002", "asdiv-nluds-0003", "asdiv-nluds-0006"]


def test_limit_keeps_the_first_examples(shared_data_dir):
    limited = load_real_dataset(RealDatasetSpec(name="gsm8k", split="test", limit=5), shared_data_dir)
    assert limited == list(_load(shared_data_dir, "gsm8k", "test")[:5])


@pytest.mark.parametrize("name", ["svamp", "csqa"])
def test_paper_subset_refused_elsewhere(tmp_path, name):
    with pytest.raises(ValueError, match="paper_subset"):
        load_real_dataset(RealDatasetSpec(name=name, split="test", paper_subset=True), tmp_path)


@pytest.mark.parametrize("name", ["singleeq", "asdiv"])
def test_test_only_datasets_have_no_train_split(tmp_path, name):
    with pytest.raises(ValueError, match="no train split"):
        load_real_dataset(RealDatasetSpec(name=name, split="train"), tmp_path)


def test_missing_data_dir_is_explained(monkeypatch):
    monkeypatch.delenv("MOLD_DATA_DIR", raising=False)
    with pytest.raises(ValueError, match="data_dir"):
        load_real_dataset(RealDatasetSpec(name="gsm8k", split="test"), None)


# ----------------------------------------------------------------------------- malformed files
def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def svamp_row(i: int, **overrides) -> dict:
    row = {"ID": f"chal-{i}", "Body": f"Tom has {i} apples.", "Question": "How many apples does he have?",
           "Equation": f"( {i}.0 )", "Answer": float(i), "Type": "Addition"}
    return row | overrides


def assert_locates(err: DataError, path: Path, record: str, field: str) -> None:
    message = str(err)
    assert str(path) in message and f"record {record}" in message and f"field '{field}'" in message


def test_svamp_record_missing_body(tmp_path):
    rows = [svamp_row(1), {k: v for k, v in svamp_row(2).items() if k != "Body"}] + [svamp_row(i) for i in range(3, 1001)]
    path = write(tmp_path, "svamp/SVAMP.json", json.dumps(rows))
    with pytest.raises(DataError) as info:  # whichever split the bad problem falls in
        load_real_dataset(RealDatasetSpec(name="svamp", split="test"), tmp_path)
    assert_locates(info.value, path, "#1", "question")  # the template field; the message names the key
    assert "'Body' is undefined" in str(info.value)


def test_svamp_needs_all_problems(tmp_path):
    write(tmp_path, "svamp/SVAMP.json", json.dumps([svamp_row(i) for i in range(1, 4)]))
    with pytest.raises(ValueError, match="1000"):
        load_real_dataset(RealDatasetSpec(name="svamp", split="train"), tmp_path)


def test_csqa_line_missing_answer_key(tmp_path):
    good = {"id": "a" * 32, "answerKey": "B", "question": {"stem": "Why?", "choices": [
        {"label": label, "text": f"c{label}"} for label in "ABCDE"]}}
    bad = {k: v for k, v in (good | {"id": "b" * 32}).items() if k != "answerKey"}
    path = write(tmp_path, "csqa/dev_rand_split.jsonl", f"{json.dumps(good)}\n{json.dumps(bad)}\n")
    with pytest.raises(DataError) as info:
        load_real_dataset(RealDatasetSpec(name="csqa", split="test"), tmp_path)
    assert_locates(info.value, path, "2", "answerKey")


def test_csqa_choice_without_text(tmp_path):
    row = {"id": "a" * 32, "answerKey": "B", "question": {"stem": "Why?", "choices": [
        {"label": label, "text": f"c{label}"} for label in "ABCD"] + [{"label": "E"}]}}
    path = write(tmp_path, "csqa/train_rand_split.jsonl", json.dumps(row) + "\n")
    with pytest.raises(DataError) as info:
        load_real_dataset(RealDatasetSpec(name="csqa", split="train"), tmp_path)
    assert_locates(info.value, path, "1", "question.choices[4].text")


def test_gsm8k_line_without_final_answer(tmp_path):
    rows = [{"question": "1+1?", "answer": "1+1=2\n#### 2"}, {"question": "2+2?", "answer": "it is 4"}]
    path = write(tmp_path, "gsm8k/test.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError) as info:
        load_real_dataset(RealDatasetSpec(name="gsm8k", split="test"), tmp_path)
    assert_locates(info.value, path, "2", "answer")


def test_singleeq_without_solution(tmp_path):
    rows = [{"iIndex": 0, "sQuestion": "x?", "lSolutions": [1.0]}, {"iIndex": 1, "sQuestion": "y?", "lSolutions": []}]
    path = write(tmp_path, "singleeq/questions.json", json.dumps(rows))
    with pytest.raises(DataError) as info:
        load_real_dataset(RealDatasetSpec(name="singleeq", split="test"), tmp_path)
    assert_locates(info.value, path, "#1", "answer")


def test_singleeq_unparsable_answer_is_an_error_not_a_drop(tmp_path):
    """The paper's test sets load whole: what a `kind: file` dataset would drop stops a built-in one."""
    rows = [{"iIndex": 0, "sQuestion": "x?", "lSolutions": [1.0]}, {"iIndex": 1, "sQuestion": "y?", "lSolutions": ["two"]}]
    path = write(tmp_path, "singleeq/questions.json", json.dumps(rows))
    with pytest.raises(DataError, match="'two' is not a number") as info:
        load_real_dataset(RealDatasetSpec(name="singleeq", split="test"), tmp_path)
    assert_locates(info.value, path, "#1", "answer")


def asdiv_problem(problem_id: str, answer: str) -> str:
    return (f'<Problem ID="{problem_id}" Grade="1"><Body>Ann has 2 pens.</Body>'
            f"<Question>How many pens?</Question><Answer>{answer}</Answer></Problem>")


def test_asdiv_non_numeric_answer(tmp_path):
    xml = f"<Root><ProblemSet>{asdiv_problem('nluds-0001', '2 (pens)')}{asdiv_problem('nluds-0002', 'two (pens)')}</ProblemSet></Root>"
    path = write(tmp_path, "asdiv/ASDiv.xml", xml)
    write(tmp_path, "asdiv/nfolds_ids.json", json.dumps({"asdiv-a": {"fold0": ["nluds-0001", "nluds-0002"]}}))
    with pytest.raises(DataError) as info:
        load_real_dataset(RealDatasetSpec(name="asdiv", split="test"), tmp_path)
    assert_locates(info.value, path, "Problem 2", "Answer")


def test_invalid_json_is_located(tmp_path):
    path = write(tmp_path, "gsm8k/test.jsonl", '{"question": "1+1?", "answer": "#### 2"}\n{"question": \n')
    with pytest.raises(DataError, match=re.escape(f"{path}, record 2")):
        load_real_dataset(RealDatasetSpec(name="gsm8k", split="test"), tmp_path)


# ----------------------------------------------------------------------------- hub mapping, in memory
def test_svamp_hub_row():
    row = {"ID": "chal-777", "Body": "There are 87 oranges and 290 bananas.", "Question": "How big is each group? ",
           "Equation": "( 290.0 / 2.0 )", "Answer": "145", "Type": "Common-Division", "question_concat": "..."}
    [ex] = loaders.templated_benchmark("svamp", [("#0", row)], "mem")
    assert (ex.id, ex.answer) == ("svamp-chal-777", "145")
    assert ex.question == "There are 87 oranges and 290 bananas. How big is each group?"


def test_csqa_hub_row():
    row = {"id": "c" * 32, "question": "Where do fish live?", "question_concept": "fish",
           "choices": {"label": list("ABCDE"), "text": ["sea", "sky", "desert", "moon", "fire"]}, "answerKey": "A"}
    ex = csqa_hub_example(Rec(row, "mem", 0))
    assert ex.question == "Where do fish live? Answer choices: (A) sea, (B) sky, (C) desert, (D) moon, (E) fire."
    assert (ex.id, ex.answer, ex.choices[0]) == ("csqa-" + "c" * 32, "A", "sea")
    with pytest.raises(DataError, match="field 'answerKey'"):
        csqa_hub_example(Rec(row | {"answerKey": "F"}, "mem", 0))


def test_gsm8k_and_asdiv_hub_rows():
    ex = gsm8k_example(Rec({"question": "q?", "answer": "2*3=<<2*3=6>>6\n#### 1,006"}, "mem", 0), "test", 17)
    assert (ex.id, ex.answer, ex.rationale) == ("gsm8k-test-17", "1006", "2*3=6")
    row = {"id": "nluds-0001", "question": "Seven apples and two apples. How many?", "chain": "", "result": "9",
           "result_float": 9.0, "result_unit": "apples", "grade": 1, "source_question": ""}
    assert asdiv_calc_example(Rec(row, "mem", 3)).model_dump(include={"id", "answer"}) == {
        "id": "asdiv-nluds-0001", "answer": "9"}
    with pytest.raises(DataError, match=r"mem, record 3, field 'result_float'"):
        asdiv_calc_example(Rec(row | {"result_float": None}, "mem", 3))


@lru_cache(maxsize=None)
def hub_shaped_rows(data_dir: Path) -> dict[tuple[str, str], list[dict]]:
    """Local files rewritten in the hub repos' shapes (ChilleD's 700/300 split, tau's flat choices)."""
    svamp = json.loads((data_dir / "svamp/SVAMP.json").read_text(encoding="utf-8"))
    svamp = [row | {"Answer": format_number(row["Answer"])} for row in svamp]
    random.Random(1).shuffle(svamp)
    rows = {("ChilleD/SVAMP", "train"): svamp[:700], ("ChilleD/SVAMP", "test"): svamp[700:]}
    for split, hub_split in [("train", "train"), ("test", "validation")]:
        local = [json.loads(line) for line in (data_dir / loaders.LOCAL_FILES["csqa", split]).open(encoding="utf-8")]
        rows["tau/commonsense_qa", hub_split] = [
            {"id": r["id"], "question": r["question"]["stem"], "answerKey": r["answerKey"],
             "choices": {"label": [c["label"] for c in r["question"]["choices"]],
                         "text": [c["text"] for c in r["question"]["choices"]]}} for r in local]
    rows["openai/gsm8k", "test"] = [json.loads(line) for line in (data_dir / "gsm8k/test.jsonl").open(encoding="utf-8")]
    return rows


@pytest.mark.parametrize(("name", "split"), [("svamp", "train"), ("svamp", "test"), ("csqa", "train"),
                                             ("csqa", "test"), ("gsm8k", "test")])
def test_hub_path_equals_local(shared_data_dir, monkeypatch, name, split):
    rows = hub_shaped_rows(shared_data_dir)
    monkeypatch.setattr(loaders, "hub_rows", lambda source, hub_split: rows[source.repo, hub_split])
    hub = load_real_dataset(RealDatasetSpec(name=name, split=split, source="hub"), None)
    assert hub == list(_load(shared_data_dir, name, split))


def test_hub_sources_are_pinned():
    for source in loaders.HUB_SOURCES.values():
        assert re.fullmatch(r"[0-9a-f]{40}", source.revision)
    with pytest.raises(ValueError, match="use source: local"):
        load_real_dataset(RealDatasetSpec(name="singleeq", split="test", source="hub"), None)
