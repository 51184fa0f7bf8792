"""Shipped PaLM-540B rationales (paper §3.1 hybrid setting): parse counts measured on the DSS files,
alignment with the loaders' ids, the parsing rules, and errors on malformed files."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pytest

from mold.config import RealDatasetSpec
from mold.data.loaders import load_real_dataset
from mold.data.palm import (
    FAILURE_REASONS,
    MARKERS,
    Rejected,
    csqa_answer,
    derive_keywords,
    eval_arithmetic,
    load_palm_rationales,
    split_completion,
    svamp_answer,
)
from mold.data.schema import RationaleRecord
from mold.io import DataError

# Measured on ../shared/data (DSS files at maxh119Z/distilling-step-by-step1@5b76a471).
EXPECTED = {
    ("svamp", "train"): (592, {"no_answer_marker": 11, "empty_rationale": 0, "unparsable_answer": 23, "wrong_answer": 174}),
    ("svamp", "test"): (155, {"no_answer_marker": 2, "empty_rationale": 0, "unparsable_answer": 5, "wrong_answer": 38}),
    ("csqa", "train"): (7377, {"no_answer_marker": 0, "empty_rationale": 0, "unparsable_answer": 182, "wrong_answer": 2182}),
    ("csqa", "test"): (961, {"no_answer_marker": 0, "empty_rationale": 0, "unparsable_answer": 16, "wrong_answer": 244}),
}


@lru_cache(maxsize=None)
def _palm(data_dir: Path, dataset: str, split: str) -> tuple[tuple[RationaleRecord, ...], dict[str, int]]:
    records, failures = load_palm_rationales(dataset, split, data_dir)
    return tuple(records), failures


@pytest.mark.parametrize(("dataset", "split"), sorted(EXPECTED))
def test_parse_counts(shared_data_dir, dataset, split):
    records, failures = _palm(shared_data_dir, dataset, split)
    kept, expected_failures = EXPECTED[dataset, split]
    assert (len(records), failures) == (kept, expected_failures)
    total = len(load_real_dataset(RealDatasetSpec(name=dataset, split=split), shared_data_dir))
    assert len(records) + sum(failures.values()) == total


@pytest.mark.parametrize(("dataset", "split"), sorted(EXPECTED))
def test_records_align_with_loader(shared_data_dir, dataset, split):
    records, _ = _palm(shared_data_dir, dataset, split)
    examples = {ex.id: ex for ex in load_real_dataset(RealDatasetSpec(name=dataset, split=split), shared_data_dir)}
    for rec in records:
        ex = examples[rec.id]
        assert (rec.question, rec.answer) == (ex.question, ex.answer)
        assert (rec.phase, rec.source, rec.keywords) == (0, "palm", None)
        assert MARKERS[dataset] not in rec.rationale and "Q:" not in rec.rationale
    assert len({rec.id for rec in records}) == len(records)


def test_svamp_records_follow_dss_order(shared_data_dir):
    """The DSS train file is in permutation order, as are the loader's examples."""
    records, _ = _palm(shared_data_dir, "svamp", "train")
    order = [ex.id for ex in load_real_dataset(RealDatasetSpec(name="svamp", split="train"), shared_data_dir)]
    positions = [order.index(rec.id) for rec in records]
    assert positions == sorted(positions)
    assert records[0].id == "svamp-chal-994"
    assert records[0].rationale == "Luke scored 84 points after 2 rounds. So he scored 84 points in 2 rounds. 84 / 2 = 42."


def test_svamp_erratum_is_dropped(shared_data_dir):
    """chal-680: PaLM answers ((4 - 2) + 3) = 5, right, but SVAMP.json's Answer says 1."""
    records, _ = _palm(shared_data_dir, "svamp", "train")
    assert "svamp-chal-680" not in {rec.id for rec in records}


def test_csqa_letter_decides(shared_data_dir):
    records, _ = _palm(shared_data_dir, "csqa", "test")
    first = {rec.id: rec for rec in records}["csqa-1afa02df02c908a558b4036e80242fac"]
    assert first.answer == "A"
    assert first.question.startswith("A revolving door is convenient for two direction travel")


# ----------------------------------------------------------------------------- parsing rules
def test_split_completion_cuts_spill_over():
    raw = "Tom has 3. 3 + 4 = 7. The answer is (3 + 4).\n\nQ: Ann has 2 pens. The answer is (2)."
    assert split_completion(raw, "The answer is") == ("Tom has 3. 3 + 4 = 7.", "(3 + 4).")
    with pytest.raises(Rejected, match="no_answer_marker"):
        split_completion("Tom has 3.\nQ: x. The answer is (1).", "The answer is")
    with pytest.raises(Rejected, match="empty_rationale"):
        split_completion("  The answer is (1).", "The answer is")


@pytest.mark.parametrize(("text", "value"), [("(84 / 2).", "42"), ("(7 * 36)", "252"), ("(5 - (-3)).", "8"),
                                             ("(10 * 3) / 4.", "7.5"), ("(17 - 3) + (21 - 7).", "28"),
                                             ("(1,200 - 200).", "1000")])
def test_svamp_answer_evaluates_expressions(text, value):
    assert svamp_answer(text) == value


@pytest.mark.parametrize("text", ["(some - 8).", "(2 * x).", "((28 - 13) and (28 - 15)).", "((415 - 309) - (41",
                                  "(3, 4).", "(2x = 12).", "(1 / 0).", "(__import__('os').getcwd())"])
def test_svamp_answer_rejects_non_arithmetic(text):
    with pytest.raises(Rejected, match="unparsable_answer"):
        svamp_answer(text)


def test_eval_arithmetic_allows_only_arithmetic():
    assert eval_arithmetic("( ( 4.0 - 2.0 ) + 3.0 )") == 5.0
    for text in ["2 ** 10", "abs(-1)", "[1]", "'a'"]:
        with pytest.raises(ValueError):
            eval_arithmetic(text)


def test_csqa_answer():
    choices = ["aquarium", "bowl", "river", "lake", "pond"]
    assert csqa_answer("(e) pond.", choices) == "E"
    assert csqa_answer("(B) something else.", choices) == "B"  # the letter decides
    assert csqa_answer("Lake.", choices) == "D"  # no letter: the choice's text
    for text in ["either (a) aquarium or (e) pond.", "(f) sea.", "the sea."]:
        with pytest.raises(Rejected, match="unparsable_answer"):
            csqa_answer(text, choices)


# ----------------------------------------------------------------------------- tiny CSQA folder
QUESTIONS = [("a" * 32, "Where do fish live?", ["sea", "sky", "desert", "moon", "fire"], "A"),
             ("b" * 32, "What barks?", ["cat", "fish", "bird", "cow", "dog"], "E"),
             ("c" * 32, "What melts?", ["rock", "iron", "glass", "ice", "wood"], "D"),
             ("d" * 32, "Where to sleep?", ["oven", "pool", "bed", "road", "tree"], "C")]
COMPLETIONS = ["Fish live in water. So the answer is (a) sea.\n\nQ: next",
               "Cats meow. So the answer is (a) cat.",
               "Ice melts, so it is ice.",
               "Beds are for sleeping. So the answer is either (c) bed or (e) tree."]


def write_csqa(root: Path, dss_rows: list[dict] | None = None, completions: list | None = None) -> Path:
    (root / "csqa/dss/llm").mkdir(parents=True)
    rand = [{"id": i, "answerKey": k, "question": {"stem": s, "choices": [
        {"label": "ABCDE"[j], "text": c} for j, c in enumerate(cs)]}} for i, s, cs, k in QUESTIONS]
    (root / "csqa/train_rand_split.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rand))
    dss = dss_rows or [{"id": i, "question": s, "choices": cs, "answer": cs["ABCDE".index(k)]} for i, s, cs, k in QUESTIONS]
    (root / "csqa/dss/cqa_train.json").write_text("".join(json.dumps(r) + "\n" for r in dss))
    llm = root / "csqa/dss/llm/train_CoT_0.json"
    llm.write_text(json.dumps(COMPLETIONS if completions is None else completions))
    return llm


def test_tiny_csqa_counts(tmp_path):
    write_csqa(tmp_path)
    records, failures = load_palm_rationales("csqa", "train", tmp_path)
    assert [(r.id, r.answer, r.rationale) for r in records] == [("csqa-" + "a" * 32, "A", "Fish live in water.")]
    assert failures == {"no_answer_marker": 1, "empty_rationale": 0, "unparsable_answer": 1, "wrong_answer": 1}
    assert set(failures) == set(FAILURE_REASONS)


def test_completion_not_a_string(tmp_path):
    llm = write_csqa(tmp_path, completions=COMPLETIONS[:1] + [{"text": "x"}] + COMPLETIONS[2:])
    with pytest.raises(DataError, match=f"{llm}, record #1"):
        load_palm_rationales("csqa", "train", tmp_path)


def test_completion_count_mismatch(tmp_path):
    write_csqa(tmp_path, completions=COMPLETIONS[:3])
    with pytest.raises(DataError, match="3 train completions for 4 lines"):
        load_palm_rationales("csqa", "train", tmp_path)


def test_gold_line_with_unknown_id(tmp_path):
    rows = [{"id": "f" * 32, "question": "?", "choices": [], "answer": "sea"}]
    write_csqa(tmp_path, dss_rows=rows, completions=COMPLETIONS[:1])
    with pytest.raises(DataError) as info:
        load_palm_rationales("csqa", "train", tmp_path)
    message = str(info.value)
    assert "cqa_train.json" in message and "record 1" in message and "field 'id'" in message


def test_gold_answer_must_match_letter(tmp_path):
    rows = [{"id": i, "question": s, "choices": cs, "answer": cs[0]} for i, s, cs, _ in QUESTIONS]
    write_csqa(tmp_path, dss_rows=rows)
    with pytest.raises(DataError, match="record 2, field 'answer'"):
        load_palm_rationales("csqa", "train", tmp_path)


def test_unknown_dataset_refused(tmp_path):
    with pytest.raises(ValueError, match="PaLM rationales exist for"):
        load_palm_rationales("gsm8k", "test", tmp_path)  # type: ignore[arg-type]


def test_gold_line_repeated(tmp_path):
    rows = [{"id": i, "question": s, "choices": cs, "answer": cs["ABCDE".index(k)]} for i, s, cs, k in QUESTIONS]
    write_csqa(tmp_path, dss_rows=rows[:3] + rows[:1])
    with pytest.raises(DataError, match="record 4, field 'id'.*two lines"):
        load_palm_rationales("csqa", "train", tmp_path)


def test_ids_restrict_kept_and_dropped_alike(shared_data_dir):
    """A `limit`ed train split (paper-tiny) reads PaLM's rationales of its own problems only."""
    first = load_real_dataset(RealDatasetSpec(name="svamp", split="train", limit=48), shared_data_dir)
    records, failures = load_palm_rationales("svamp", "train", shared_data_dir, ids={ex.id for ex in first})
    assert {r.id for r in records} <= {ex.id for ex in first}
    assert len(records) + sum(failures.values()) == 48
    everything, _ = _palm(shared_data_dir, "svamp", "train")
    assert [r for r in everything if r.id in {ex.id for ex in first}] == records


def test_derive_keywords_by_hand():
    question = "Where would you keep milk so it stays fresh? Answer choices: (A) fridge, (B) oven."
    rationale = "Milk must stay cold to stay fresh. A fridge keeps food cold."
    # content words of the rationale that the question also uses, in rationale order
    assert derive_keywords(question, rationale) == ["milk", "fresh", "fridge"]
    # fewer than the minimum shared: the rationale's other content words fill up, in order
    assert derive_keywords("Pick one. Answer choices: (A) fridge, (B) oven.", rationale) == ["fridge", "milk", "stay"]
    assert derive_keywords(question, rationale, limit=(1, 2)) == ["milk", "fresh"]
    assert derive_keywords("Why?", "It is so.") == []
