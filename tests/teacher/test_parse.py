"""Tests of mold.teacher.parse: rationale/answer/keyword parsing and the reasons for dropping."""

from __future__ import annotations

import pytest

from mold.teacher.parse import (Dropped, ParsedReply, check_hinted_reply, check_reply, cut_continuation, parse_keywords,
                                parse_reply, restates_hint)


def test_number_reply_split_into_rationale_and_answer():
    assert parse_reply(" Tom has 3. 3 + 4 = 7. The answer is 7.", "number") == ParsedReply("Tom has 3. 3 + 4 = 7.", "7")


def test_so_the_answer_is_stays_out_of_the_rationale():
    assert parse_reply("3 + 4 = 7. So the answer is 7", "number") == ParsedReply("3 + 4 = 7.", "7")


@pytest.mark.parametrize(
    ("reply", "answer"),
    [
        ("He pays 3.50. The answer is $3.50.", "3.5"),
        ("Add them. The answer is 1,000.", "1000"),
        ("Add them. The answer is: 18.0", "18"),
        ("Add them. the answer is -2.", "-2"),
    ],
)
def test_number_answers_are_normalised(reply, answer):
    parsed = parse_reply(reply, "number")
    assert isinstance(parsed, ParsedReply)
    assert parsed.answer == answer


def test_last_marker_wins():
    parsed = parse_reply("A guess: the answer is 5. Check: 3 + 4 = 7. The answer is 7.", "number")
    assert parsed == ParsedReply("A guess: the answer is 5. Check: 3 + 4 = 7.", "7")


def test_continuation_after_next_question_is_cut():
    reply = "3 + 4 = 7. The answer is 7.\n\nQ: Sam has 9 pens. How many?\nA: The answer is 9."
    assert cut_continuation(reply) == "3 + 4 = 7. The answer is 7."
    assert parse_reply(reply, "number") == ParsedReply("3 + 4 = 7.", "7")
    assert parse_reply("3 + 4 = 7. The answer is 7.\nQ: next? The answer is 9.", "number").answer == "7"


def test_reply_without_answer_is_dropped_no_answer():
    result = parse_reply("Tom has 3 apples and buys 4 more apples", "number")
    assert isinstance(result, Dropped)
    assert result.reason == "no_answer"
    # An answer marker only in the cut-off continuation does not count.
    assert parse_reply("Tom has 3.\n\nQ: x? The answer is 3.", "number").reason == "no_answer"
    assert parse_reply("", "number").reason == "no_answer"


def test_unparsable_and_empty_rationale():
    assert parse_reply("He thinks. The answer is many.", "number").reason == "unparsable_answer"
    assert parse_reply("The answer is 7.", "number").reason == "empty_rationale"
    assert parse_reply("Fish swim. The answer is (F).", "choice").reason == "unparsable_answer"


def test_keywords_parsed_deduplicated_in_order():
    reply = "Keywords: fish, water, Fish, sea, water. Fish live in water. The answer is (A)."
    assert parse_reply(reply, "choice", want_keywords=True) == ParsedReply("Fish live in water.", "A", ("fish", "water", "sea"))


def test_parse_keywords_on_its_own_line():
    assert parse_keywords("Keywords: milk, cold\nMilk is cold.") == (("milk", "cold"), "Milk is cold.")
    assert parse_keywords("No keywords here.") == ((), "No keywords here.")


def test_choice_without_keywords_is_dropped_no_keywords():
    result = parse_reply("Fish live in water. The answer is (A).", "choice", want_keywords=True)
    assert isinstance(result, Dropped) and result.reason == "no_keywords"
    assert parse_reply("Keywords: . Fish swim. The answer is (A).", "choice", want_keywords=True).reason == "no_keywords"


def test_keywords_not_required_when_not_wanted():
    assert parse_reply("Fish live in water. The answer is (a).", "choice") == ParsedReply("Fish live in water.", "A")


def test_check_reply_keeps_correct_and_drops_wrong():
    assert check_reply("3 + 4 = 7. The answer is 7.0.", "7", "number") == ParsedReply("3 + 4 = 7.", "7")
    wrong = check_reply("3 + 4 = 8. The answer is 8.", "7", "number")
    assert wrong == Dropped("wrong_answer", "8 != 7")
    assert check_reply("Keywords: dog. Dogs bark. The answer is (B).", "B", "choice", want_keywords=True) == ParsedReply(
        "Dogs bark.", "B", ("dog",)
    )
    assert check_reply("Keywords: dog. Dogs bark. The answer is (A).", "B", "choice", want_keywords=True).reason == "wrong_answer"


def test_check_reply_tolerance():
    assert isinstance(check_reply("Half. The answer is 0.50005.", "0.5", "number"), ParsedReply)
    assert check_reply("Half. The answer is 0.5002.", "0.5", "number").reason == "wrong_answer"
    assert check_reply("Half. The answer is 0.6.", "0.5", "number", tolerance=0.2) == ParsedReply("Half.", "0.6")


def test_check_reply_passes_on_parse_failures():
    assert check_reply("no marker at all", "7", "number") == Dropped("no_answer", "no marker at all")


def test_blank_lines_between_steps_stay_in_one_rationale():
    reply = "Step 1: 5 + 3 = 8 pens.\n\nStep 2: 8 * 2 = 16.\n\n  The answer is 16."
    assert parse_reply(reply, "number") == ParsedReply("Step 1: 5 + 3 = 8 pens. Step 2: 8 * 2 = 16.", "16")


def test_text_after_a_blank_line_after_the_answer_is_not_the_reply():
    reply = "3 + 4 = 7.\n\nThe answer is 7.\n\nNext, a harder one: 2 + 7 = 9. The answer is 9."
    assert cut_continuation(reply) == "3 + 4 = 7.\n\nThe answer is 7."
    assert parse_reply(reply, "number") == ParsedReply("3 + 4 = 7.", "7")


@pytest.mark.parametrize("ending", [
    "So, the final answer is: **16**.", "Therefore, the answer is 16 apples.", "Thus the answer is $16.",
    "The final answer is 16", "Hence answer is 16.", "the answer is: 16.0",
])
def test_answer_sentence_variants(ending):
    assert parse_reply(f"**Step 1:** 8 * 2 = 16. {ending}", "number") == ParsedReply("Step 1: 8 * 2 = 16.", "16")


@pytest.mark.parametrize(("rationale", "gold", "restates"), [
    ("Ann has 8 pencils.", "8", True),
    ("So she has 8.0 pencils, that is 8.", "8", True),
    ("Ann had 5 and bought 3.", "8", False),
    ("1,000 - 1 = 999.", "999", False),
    ("There are many pencils.", "8", True),
])
def test_restates_hint(rationale, gold, restates):
    assert restates_hint(rationale, gold) is restates


@pytest.mark.parametrize(("reply", "reason"), [
    ("The answer is 8.", "restated_hint"),
    ("Ann has 8 pencils now. The answer is 8.", "restated_hint"),
    ("The hint says the answer is 8, and 5 + 3 = 8. The answer is 8.", "mentions_hint"),
    ("We are given that the answer is 8. Check: 5 + 3 = 8. The answer is 8.", "mentions_hint"),
    ("5 + 3 = 8. The answer is 8, as provided.", "mentions_hint"),
    ("5 + 3 = 9. The answer is 9.", "wrong_answer"),
    ("Ann buys some pens", "no_answer"),
])
def test_hinted_replies_that_lean_on_the_hint_are_dropped(reply, reason):
    result = check_hinted_reply(reply, "8", "number")
    assert isinstance(result, Dropped) and result.reason == reason


def test_hinted_reply_that_reasons_is_kept():
    assert check_hinted_reply("Ann had 5 pens.\n\nShe buys 3: 5 + 3 = 8. The answer is 8.", "8", "number") == ParsedReply(
        "Ann had 5 pens. She buys 3: 5 + 3 = 8.", "8")
    assert check_hinted_reply("Keywords: dog, bark. Dogs bark. The answer is (B).", "B", "choice", want_keywords=True) == ParsedReply(
        "Dogs bark.", "B", ("dog", "bark"))
    result = check_hinted_reply("Keywords: dog. As the hint says, dogs bark. The answer is (B).", "B", "choice", want_keywords=True)
    assert isinstance(result, Dropped) and result.reason == "mentions_hint"


def test_repeated_answer_sentences_stay_out_of_the_rationale():
    reply = "12 + 12 = 24 inches. The answer is 24. The answer is 24."
    assert parse_reply(reply, "number") == ParsedReply("12 + 12 = 24 inches.", "24")
    assert parse_reply("He guessed wrong. The answer is 5. 3 + 4 = 7. The answer is 7.", "number").rationale == (
        "He guessed wrong. The answer is 5. 3 + 4 = 7.")


def test_hinted_reply_that_opens_with_the_answer_is_restating():
    for reply in ("The answer is 3. 24 files - 21 files = 3 files. The answer is 3.",
                  "The answer is 3. The answer is 3. The answer is 3. The answer",  # cut by the token budget
                  "The answer is 3. 24 - 13 = 11 files. The answer is 11."):  # then reasons to another answer
        result = check_hinted_reply(reply, "3", "number")
        assert isinstance(result, Dropped) and result.reason == "restated_hint", reply
    assert check_reply("The answer is 3. 24 files - 21 files = 3 files. The answer is 3.", "3", "number") == ParsedReply(
        "The answer is 3. 24 files - 21 files = 3 files.", "3")  # phase 1 has no hint to restate
