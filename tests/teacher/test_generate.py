"""Tests of mold.teacher.generate.run_teacher with a fake model: phases, filtering, bookkeeping."""

from __future__ import annotations

import pytest

from mold.config import GenerationSpec
from mold.data.schema import Example, RationaleRecord
from mold.teacher import generate
from mold.teacher.prompts import BUILTIN_EXEMPLARS

QUESTIONS = {
    "m0": ("Tom has 3 apples and buys 4 more. How many?", "7"),
    "m1": ("Ann has 10 pens and loses 2. How many?", "8"),
    "m2": ("A box holds 6 eggs. How many in 2 boxes?", "12"),
    "m3": ("Sam reads 5 pages a day for 3 days. How many?", "15"),
    "m4": ("Bo has 2 cats. He gets 1 more. How many?", "3"),
}
# question -> (phase-1 reply, phase-2 reply); None: the example must not be re-prompted.
REPLIES = {
    "m0": ("3 + 4 = 7. The answer is 7.", None),  # kept in phase 1
    "m1": ("10 - 2 = 9. The answer is 9.", "10 - 2 = 8. The answer is 8."),  # wrong, then kept in phase 2
    "m2": ("A box holds 6 eggs and there are 2", "6 * 2 is a lot of eggs"),  # no answer twice
    "m3": ("5 * 3 = 16. The answer is 16.", "5 * 3 = 14. The answer is 14."),  # wrong twice
    "m4": ("2 + 1 = 3. So the answer is 3.\n\nQ: another question? A: The answer is 5.", None),  # kept, continuation cut
}


def _examples() -> list[Example]:
    return [Example(id=k, question=q, answer=a, source="math_train") for k, (q, a) in QUESTIONS.items()]


class FakeTeacher:
    """Stands in for `generate_replies`: answers by question and by whether the prompt has a hint."""

    def __init__(self, replies: dict[str, tuple[str | None, str | None]]):
        self.replies = replies
        self.calls: list[list[str]] = []

    def __call__(self, model, tokenizer, prompts, max_new_tokens, batch_size, description, prompt_format="raw"):
        self.calls.append(prompts)
        out = []
        for prompt in prompts:
            last = prompt.rsplit("\n\nQ: ", 1)[1]
            key = next(k for k, (q, _) in QUESTIONS.items() if last.startswith(q))
            phase = 2 if "\nHint: the answer is " in last else 1
            reply = self.replies[key][phase - 1]
            assert reply is not None, f"{key} re-prompted in phase {phase}"
            out.append(reply)
        return out


@pytest.fixture
def fake(monkeypatch) -> FakeTeacher:
    teacher = FakeTeacher(REPLIES)
    monkeypatch.setattr(generate, "generate_replies", teacher)
    return teacher


def _run(spec: GenerationSpec):
    return generate.run_teacher(None, None, _examples(), BUILTIN_EXEMPLARS["number"][:1], "number", spec, source="teacher")


def test_two_phase_summary_counts(fake):
    outcome = _run(GenerationSpec(second_phase=True))
    assert outcome.summary(total=5) == {
        "total": 5,
        "kept": 3,
        "kept_phase1": 2,
        "kept_phase2": 1,
        "dropped": 2,
        "dropped_by_reason": {"no_answer": 1, "wrong_answer": 1},
        "phase1_failures_by_reason": {"wrong_answer": 2, "no_answer": 1},
        "keywords_removed": {},
    }


def test_phase2_reprompts_only_failures_with_the_gold_hint(fake):
    _run(GenerationSpec(second_phase=True))
    assert len(fake.calls) == 2
    assert len(fake.calls[0]) == 5 and not any("Hint:" in p for p in fake.calls[0])
    assert [p.rsplit("\n", 2)[1] for p in fake.calls[1]] == [
        "Hint: the answer is 8.", "Hint: the answer is 12.", "Hint: the answer is 15."
    ]


def test_kept_records_in_input_order_with_phase_and_rationale(fake):
    outcome = _run(GenerationSpec(second_phase=True))
    assert outcome.kept == [
        RationaleRecord(id="m0", question=QUESTIONS["m0"][0], answer="7", rationale="3 + 4 = 7.", phase=1, source="teacher"),
        RationaleRecord(id="m1", question=QUESTIONS["m1"][0], answer="8", rationale="10 - 2 = 8.", phase=2, source="teacher"),
        RationaleRecord(id="m4", question=QUESTIONS["m4"][0], answer="3", rationale="2 + 1 = 3.", phase=1, source="teacher"),
    ]


def test_every_dropped_reply_is_kept_with_its_text(fake):
    outcome = _run(GenerationSpec(second_phase=True))
    got = [(d["id"], d["phase"], d["reason"], d["reply"], d["final"]) for d in outcome.dropped]
    assert got == [
        ("m1", 1, "wrong_answer", REPLIES["m1"][0], False),
        ("m2", 1, "no_answer", REPLIES["m2"][0], False),
        ("m3", 1, "wrong_answer", REPLIES["m3"][0], False),
        ("m2", 2, "no_answer", REPLIES["m2"][1], True),
        ("m3", 2, "wrong_answer", REPLIES["m3"][1], True),
    ]
    assert outcome.dropped[2]["detail"] == "16 != 15"


def test_single_phase_failures_are_final(fake):
    outcome = _run(GenerationSpec(second_phase=False))
    assert len(fake.calls) == 1
    summary = outcome.summary(total=5)
    assert (summary["kept"], summary["kept_phase1"], summary["kept_phase2"]) == (2, 2, 0)
    assert summary["dropped_by_reason"] == {"wrong_answer": 2, "no_answer": 1}
    assert all(d["final"] for d in outcome.dropped)
    # kept + finally dropped accounts for every example
    assert summary["kept"] + summary["dropped"] == summary["total"]


def test_choice_task_keeps_keywords(monkeypatch):
    question = "What barks? Answer choices: (A) cat, (B) dog."
    examples = [Example(id="c0", question=question, answer="B", choices=["cat", "dog"], source="choice_train"),
                Example(id="c1", question=question + " ", answer="B", choices=["cat", "dog"], source="choice_train")]

    def fake_replies(model, tokenizer, prompts, max_new_tokens, batch_size, description, prompt_format="raw"):
        if "Hint:" in prompts[0]:
            return ["Keywords: bark. Dogs bark. The answer is (B)."] * len(prompts)
        return ["Keywords: dog, bark, Dog. A dog barks. The answer is (B).", "Dogs bark. The answer is (B)."]

    monkeypatch.setattr(generate, "generate_replies", fake_replies)
    outcome = generate.run_teacher(None, None, examples, BUILTIN_EXEMPLARS["choice"][:1], "choice",
                                   GenerationSpec(num_keywords=(1, 8)), source="teacher")
    # c0's "bark" is no whole word of its question or rationale ("barks"): removed and counted
    assert [(r.id, r.phase, r.keywords, r.rationale) for r in outcome.kept] == [
        ("c0", 1, ["dog"], "A dog barks."),
        ("c1", 2, ["bark"], "Dogs bark."),
    ]
    assert [(d["id"], d["reason"]) for d in outcome.dropped] == [("c1", "no_keywords")]
    assert outcome.summary(2)["keywords_removed"] == {"absent_from_text": 1, "beyond_max": 0}
    # with App. B.2's minimum of 3, neither reply has enough
    outcome = generate.run_teacher(None, None, examples, BUILTIN_EXEMPLARS["choice"][:1], "choice",
                                   GenerationSpec(), source="teacher")
    assert outcome.kept == [] and outcome.summary(2)["dropped_by_reason"] == {"too_few_keywords": 2}


@pytest.mark.parametrize("steps", [1, 49, 120, 160, 400, 1000, 4321])
def test_pretraining_schedule_is_valid_for_any_step_count(steps):
    from mold.config import TeacherPretrainSpec
    from mold.teacher.pretrain import pretrain_spec_as_training

    training = pretrain_spec_as_training(TeacherPretrainSpec(steps=steps))
    assert training.steps == steps and training.checkpoint_every % training.log_every == 0
