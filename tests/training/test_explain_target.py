"""Explain targets end with 'The answer is X.' for the explain-then-answer evaluation, outside x."""

from __future__ import annotations

import pytest

from mold.config import load_preset
from mold.data.schema import RationaleRecord
from mold.molsaki.targets import attention_text
from mold.training.distill import explain_target

RECORD = RationaleRecord(id="a", question="Ann has 5 pens. She buys 3. How many now?", answer="8",
                         rationale="5 + 3 = 8.", source="teacher")


def test_explain_target_keeps_the_answer_sentence():
    assert explain_target(RECORD, "number", with_answer=True) == "5 + 3 = 8. The answer is 8."
    assert explain_target(RECORD, "number", with_answer=False) == "5 + 3 = 8."
    choice = RECORD.model_copy(update={"answer": "B", "rationale": "Pens are for writing."})
    assert explain_target(choice, "choice", with_answer=True) == "Pens are for writing. The answer is (B)."
    # the answer sentence follows x, so the steps and critical words of x are unchanged
    assert attention_text(RECORD) == f"{RECORD.question}\n{RECORD.rationale}"


def test_explain_mode_needs_the_answer_sentence():
    cfg = load_preset("smoke")
    raw = cfg.model_dump()
    raw["cues"]["answer_in_explain"] = False
    with pytest.raises(ValueError, match="cues.answer_in_explain"):
        type(cfg).model_validate(raw)
    raw["evaluation"]["modes"] = ("predict",)
    assert type(cfg).model_validate(raw).cues.answer_in_explain is False
