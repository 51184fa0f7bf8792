"""Enough exemplars for every configured few_shot, or a validation error (never a silent k-shot < few_shot)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mold.config import GenerationSpec
from mold.teacher.prompts import BUILTIN_EXEMPLARS, exemplars_for
from mold.teacher.parse import bound_keywords, ParsedReply


def test_every_task_kind_ships_four_exemplars_for_the_paper_preset():
    assert {kind: len(ex) for kind, ex in BUILTIN_EXEMPLARS.items()} == {"number": 4, "choice": 4}
    assert len(exemplars_for([], "choice", 4)) == 4


def test_builtin_choice_exemplars_meet_the_keyword_bounds():
    for ex in BUILTIN_EXEMPLARS["choice"]:
        parsed = ParsedReply(ex.rationale, ex.answer, ex.keywords)
        kept, _ = bound_keywords(parsed, f"{ex.question}\n{ex.rationale}", (3, 8))
        assert kept == parsed


def test_few_shot_beyond_the_shipped_exemplars_fails_validation():
    assert GenerationSpec(few_shot=4).few_shot == 4
    with pytest.raises(ValidationError, match="few_shot 5 > the 4 exemplars"):
        GenerationSpec(few_shot=5)
    with pytest.raises(ValueError, match="few_shot 5 > the 4 built-in choice exemplars"):
        exemplars_for([], "choice", 5)
