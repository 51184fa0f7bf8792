"""Parsing and filtering on real SmolLM2-135M-Instruct replies (tests/teacher/fixtures/smollm2_replies.json,
recorded once through mold's prompts and generation). Expected outcomes were read off the replies by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mold.config import GenerationSpec
from mold.data.schema import Example
from mold.teacher import generate
from mold.teacher.parse import Dropped, ParsedReply, check_hinted_reply, check_reply, parse_reply
from mold.teacher.prompts import BUILTIN_EXEMPLARS

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "smollm2_replies.json").read_text(encoding="utf-8"))
REPLIES = {(r["format"], r["phase"], r["id"]): r for r in FIXTURE["replies"]}

# (format, phase, id) -> the reason it is dropped, or the kept (answer, rationale)
EXPECTED = {
    ("chat", 1, "svamp-chal-786"): "wrong_answer",
    ("chat", 1, "svamp-chal-874"): "wrong_answer",
    ("chat", 1, "svamp-chal-66"): "wrong_answer",
    ("chat", 1, "svamp-chal-903"): "wrong_answer",
    ("chat", 1, "svamp-chal-318"): "no_answer",  # ran out of tokens mid-sentence
    ("chat", 1, "svamp-chal-637"): "wrong_answer",
    ("chat", 1, "svamp-chal-667"): "wrong_answer",
    ("chat", 1, "svamp-chal-790"): ("11", "There are 8 bird families that flew away to Africa and 31 bird families that flew away "
                                           "to Asia. 42 - 31 = 10. So there are 11 more bird families that flew away to Africa "
                                           "than those that flew away to Asia."),
    ("chat", 1, "svamp-chal-959"): "wrong_answer",
    ("chat", 1, "svamp-chal-215"): "wrong_answer",
    ("chat", 1, "svamp-chal-98"): "wrong_answer",
    ("chat", 1, "svamp-chal-584"): "wrong_answer",
    ("chat", 2, "svamp-chal-786"): "wrong_answer",
    ("chat", 2, "svamp-chal-874"): "wrong_answer",
    ("chat", 2, "svamp-chal-66"): "restated_hint",  # "The answer is 3. 24 files - 13 apps - 17 files = 3 files. ..."
    ("chat", 2, "svamp-chal-903"): "restated_hint",
    ("chat", 2, "svamp-chal-318"): "restated_hint",  # "The answer is 14. This is a classic lateral thinking puzzle. ..."
    ("chat", 2, "svamp-chal-637"): "wrong_answer",
    ("chat", 2, "svamp-chal-667"): "restated_hint",
    ("chat", 2, "svamp-chal-790"): "wrong_answer",  # cut at "The answer is 1" by the token budget
    ("chat", 2, "svamp-chal-959"): "wrong_answer",
    ("chat", 2, "svamp-chal-215"): "restated_hint",  # "The answer is 22." ten times
    ("chat", 2, "svamp-chal-98"): ("30", "The grasshopper jumped 19 inches, so the frog jumped 10 inches more than the "
                                         "grasshopper. The mouse jumped 20 inches more than the frog."),
    ("chat", 2, "svamp-chal-584"): "wrong_answer",
    ("raw", 1, "svamp-chal-786"): "wrong_answer",
    ("raw", 1, "svamp-chal-874"): "wrong_answer",
    ("raw", 1, "svamp-chal-66"): "wrong_answer",
    ("raw", 1, "svamp-chal-903"): "no_answer",  # the same two sentences over and over
    ("raw", 1, "svamp-chal-318"): "wrong_answer",
    ("raw", 1, "svamp-chal-637"): "wrong_answer",
    ("raw", 2, "svamp-chal-786"): "restated_hint",  # " The answer is 7.\n\nQ:"
    ("raw", 2, "svamp-chal-874"): "wrong_answer",
    ("raw", 2, "svamp-chal-66"): "wrong_answer",
    ("raw", 2, "svamp-chal-903"): "restated_hint",
    ("raw", 2, "svamp-chal-318"): "restated_hint",
    ("raw", 2, "svamp-chal-637"): "wrong_answer",
}


def test_every_recorded_reply_has_an_expected_outcome():
    assert set(EXPECTED) == set(REPLIES)


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_recorded_reply_outcome(key):
    fmt, phase, _ = key
    record = REPLIES[key]
    check = check_hinted_reply if phase == 2 else check_reply
    result = check(record["reply"], record["answer"], "number")
    expected = EXPECTED[key]
    if isinstance(expected, str):
        assert isinstance(result, Dropped) and result.reason == expected, (record["reply"], result)
    else:
        assert result == ParsedReply(expected[1], expected[0])


def test_repeated_final_answer_is_not_part_of_the_rationale():
    parsed = parse_reply(REPLIES[("chat", 1, "svamp-chal-959")]["reply"], "number")
    assert parsed.answer == "24" and parsed.rationale.endswith("so the mouse jumped 12 + 12 = 24 inches.")


def test_raw_reply_stops_before_the_next_exemplar():
    parsed = parse_reply(REPLIES[("raw", 1, "svamp-chal-786")]["reply"], "number")
    assert parsed == ParsedReply("35 - 7 = 22. So 22 rows can be made.", "22")


def test_run_teacher_on_the_recorded_chat_replies(monkeypatch):
    """Both phases through `run_teacher`, replaying the recorded replies: 1 kept in phase 1, 1 in phase 2."""
    chat = [r for r in FIXTURE["replies"] if r["format"] == "chat" and r["phase"] == 1]
    examples = [Example(id=r["id"], question=r["question"], answer=r["answer"], source="svamp") for r in chat]
    by_question = {(r["phase"], r["question"]): r["reply"] for r in FIXTURE["replies"] if r["format"] == "chat"}

    def replay(model, tokenizer, prompts, max_new_tokens, batch_size, description, prompt_format):
        assert prompt_format == "chat"
        phase = int(description.removeprefix("teacher phase "))
        return [next(reply for (p, q), reply in by_question.items() if p == phase and prompt.endswith(q)) for prompt in prompts]

    monkeypatch.setattr(generate, "render_prompt", lambda fmt, tok, question, *args, hint=None, **kw: question)
    monkeypatch.setattr(generate, "generate_replies", replay)
    outcome = generate.run_teacher(None, None, examples, BUILTIN_EXEMPLARS["number"], "number", GenerationSpec(few_shot=4),
                                   "smollm2", prompt_format="chat")
    assert [(r.id, r.phase) for r in outcome.kept] == [("svamp-chal-790", 1), ("svamp-chal-98", 2)]
    summary = outcome.summary(len(examples))
    assert summary["dropped_by_reason"] == {"wrong_answer": 5, "restated_hint": 5}
    assert summary["phase1_failures_by_reason"] == {"wrong_answer": 10, "no_answer": 1}
