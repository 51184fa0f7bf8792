"""Tests of mold.teacher.prompts: the exact prompt layout the teacher sees."""

from __future__ import annotations

import copy

import pytest

from mold.data.schema import Example
from mold.teacher.prompts import (BUILTIN_EXEMPLARS, INSTRUCTIONS, Exemplar, build_chat, build_prompt, exemplars_for,
                                  format_reply, render_prompt)

NUMBER_EX = Exemplar("Ann has 5 pens. She buys 3 more. How many?", "5 + 3 = 8.", "8")
CHOICE_EX = Exemplar("Where is milk kept? Answer choices: (A) fridge, (B) oven.", "Milk stays cold in a fridge.", "A",
                     ("milk", "cold"))


def test_format_reply_number_and_choice():
    assert format_reply("5 + 3 = 8.", "8", "number") == "5 + 3 = 8. The answer is 8."
    assert format_reply("Cold.", "A", "choice", ("milk", "cold")) == "Keywords: milk, cold. Cold. The answer is (A)."
    assert format_reply("Cold.", "A", "choice") == "Cold. The answer is (A)."


def test_phase1_number_prompt_exact_layout():
    prompt = build_prompt("Tom has 2 cats and 4 dogs. How many pets?", [NUMBER_EX], "number")
    assert prompt == (
        f"{INSTRUCTIONS['number']}\n\n"
        "Q: Ann has 5 pens. She buys 3 more. How many?\n"
        "A: 5 + 3 = 8. The answer is 8.\n\n"
        "Q: Tom has 2 cats and 4 dogs. How many pets?\n"
        "A:"
    )
    assert "Hint" not in prompt


def test_phase2_number_prompt_has_hint_line_before_answer():
    prompt = build_prompt("Tom has 2 cats and 4 dogs. How many pets?", [NUMBER_EX], "number", hint="6")
    assert prompt.endswith("\n\nQ: Tom has 2 cats and 4 dogs. How many pets?\nHint: the answer is 6.\nA:")
    assert prompt.count("Hint:") == 1


def test_choice_prompt_shows_keywords_and_parenthesised_letters():
    question = "What barks? Answer choices: (A) cat, (B) dog."
    prompt = build_prompt(question, [CHOICE_EX], "choice", hint="B", num_keywords=(2, 5))
    assert prompt == (
        "List 2 to 5 keywords that matter for the reasoning, explain step by step, and end with 'The answer is (X).'\n\n"
        "Q: Where is milk kept? Answer choices: (A) fridge, (B) oven.\n"
        "A: Keywords: milk, cold. Milk stays cold in a fridge. The answer is (A).\n\n"
        f"Q: {question}\n"
        "Hint: the answer is (B).\n"
        "A:"
    )


def test_zero_shot_prompt_is_instruction_then_question():
    assert build_prompt("Q?", [], "number") == f"{INSTRUCTIONS['number']}\n\nQ: Q?\nA:"


def test_exemplars_in_order():
    second = Exemplar("B has 1. How many?", "1.", "1")
    prompt = build_prompt("Z?", [NUMBER_EX, second], "number")
    assert prompt.index(NUMBER_EX.question) < prompt.index(second.question) < prompt.index("Z?")
    assert prompt.count("\nA: ") == 2


def _example(i: int, rationale: str | None) -> Example:
    return Example(id=f"e{i}", question=f"q{i}?", answer=str(i), rationale=rationale, source="t")


def test_exemplars_for_prefers_gold_rationales():
    train = [_example(0, None), _example(1, "r1."), _example(2, "r2."), _example(3, "r3.")]
    assert exemplars_for(train, "number", 2) == [Exemplar("q1?", "r1.", "1"), Exemplar("q2?", "r2.", "2")]


def test_exemplars_for_falls_back_to_builtin_when_too_few_gold():
    train = [_example(0, "r0."), _example(1, None)]
    assert exemplars_for(train, "number", 2) == BUILTIN_EXEMPLARS["number"][:2]
    assert exemplars_for([], "choice", 1) == BUILTIN_EXEMPLARS["choice"][:1]


CHAT_TEMPLATE = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}</{{ m['role'] }}>\n{% endfor %}"
                 "{% if add_generation_prompt %}<assistant>{% endif %}")


def test_chat_turns_hold_the_raw_prompt_content():
    turns = build_chat("Tom has 2 cats and 4 dogs. How many pets?", [NUMBER_EX], "number", hint="6")
    assert turns == [
        {"role": "system", "content": INSTRUCTIONS["number"]},
        {"role": "user", "content": f"Q: {NUMBER_EX.question}"},
        {"role": "assistant", "content": format_reply(NUMBER_EX.rationale, NUMBER_EX.answer, "number")},
        {"role": "user", "content": "Q: Tom has 2 cats and 4 dogs. How many pets?\nHint: the answer is 6."},
    ]
    choice = build_chat("Z?", [CHOICE_EX], "choice", hint="B", num_keywords=(2, 5))
    assert choice[0]["content"] == INSTRUCTIONS["choice"].format(lo=2, hi=5)
    assert choice[2]["content"].startswith("Keywords: ") and choice[-1]["content"] == "Q: Z?\nHint: the answer is (B)."


def test_render_prompt_applies_the_chat_template_with_the_reply_turn_open(bpe_tokenizer):
    tokenizer = copy.deepcopy(bpe_tokenizer)
    tokenizer.chat_template = CHAT_TEMPLATE
    text = render_prompt("chat", tokenizer, "Z?", [NUMBER_EX], "number")
    assert text == (f"<system>{INSTRUCTIONS['number']}</system>\n<user>Q: {NUMBER_EX.question}</user>\n"
                    f"<assistant>{format_reply(NUMBER_EX.rationale, NUMBER_EX.answer, 'number')}</assistant>\n"
                    "<user>Q: Z?</user>\n<assistant>")
    assert render_prompt("raw", None, "Z?", [NUMBER_EX], "number") == build_prompt("Z?", [NUMBER_EX], "number")


def test_chat_format_needs_a_chat_template(bpe_tokenizer):
    with pytest.raises(ValueError, match="needs a tokenizer with a chat template"):
        render_prompt("chat", bpe_tokenizer, "Z?", [], "number")
