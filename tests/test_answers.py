"""Tests of mold.data.answers: normalisation, extraction from generated text, comparison."""

from __future__ import annotations

import pytest

from mold.data.answers import (
    answers_match,
    extract_answer,
    format_number,
    normalize_answer,
    normalize_choice,
    normalize_number,
    parse_number,
)

# ---------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,000", "1000"),
        ("18.0", "18"),
        ("$3.50", "3.5"),
        ("-2", "-2"),
        (".5", "0.5"),
        ("-.25", "-0.25"),
        ("12,345,678.75", "12345678.75"),
        ("0.125", "0.125"),
        ("about 42 apples and 7 pears", "42"),  # the first number
        ("-0.0", "0"),
    ],
)
def test_normalize_number(text, expected):
    assert normalize_number(text) == expected


@pytest.mark.parametrize("text", ["", "no digits here", "$", "-", "."])
def test_normalize_number_without_a_number_is_none(text):
    assert normalize_number(text) is None


def test_parse_number_values():
    assert parse_number("1,000") == 1000.0
    assert parse_number("$3.50") == 3.5
    assert parse_number(".5") == 0.5
    assert parse_number("x") is None


def test_format_number_trims_to_six_decimals():
    assert format_number(18.0) == "18"
    assert format_number(2.5) == "2.5"
    assert format_number(1 / 3) == "0.333333"
    assert format_number(-7.0) == "-7"


# ---------------------------------------------------------------------------
# Choice letters
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["(b)", "B", "b)", " b ", "(B)", "b"])
def test_normalize_choice_forms(text):
    assert normalize_choice(text) == "B"


def test_normalize_choice_range_depends_on_num_choices():
    assert normalize_choice("F", num_choices=5) is None
    assert normalize_choice("(F)", num_choices=5) is None
    assert normalize_choice("F", num_choices=6) == "F"
    assert normalize_choice("E", num_choices=5) == "E"
    assert normalize_choice("(C)", num_choices=2) is None


def test_normalize_choice_without_a_letter_is_none():
    assert normalize_choice("fridge") is None
    assert normalize_choice("") is None


def test_normalize_answer_dispatches_on_kind():
    assert normalize_answer("(c)", "choice") == "C"
    assert normalize_answer("1,000", "number") == "1000"


# ---------------------------------------------------------------------------
# Extraction from generated text
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tom has 3. 3 + 4 = 7. The answer is 7.", "7"),
        ("The answer is 1,000.", "1000"),
        ("the answer is: $3.50", "3.5"),
        ("So the answer is 18.0", "18"),
        # The first candidate after the marker, not the last number of the text.
        ("The answer is 5. Then 9 more people came.", "5"),
        # The last marker counts.
        ("First the answer is 5. No: 3 + 4 = 7. The answer is 7.", "7"),
        # Marker without a number after it: last-number fallback.
        ("He has 4 and then 6. The answer is unknown", "6"),
        # No marker: the last number in the text (Fine-tune-CoT's rule).
        ("3 + 4 = 7 apples", "7"),
        ("-2", "-2"),
        (".5", "0.5"),
    ],
)
def test_extract_number(text, expected):
    assert extract_answer(text, "number") == expected


def test_extract_number_without_any_number_is_none():
    assert extract_answer("I do not know. The answer is unclear.", "number") is None
    assert extract_answer("", "number") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Fish live in water. The answer is (A).", "A"),
        ("The answer is b", "B"),
        ("(C)", "C"),  # a bare short answer, no marker
        ("d", "D"),
        ("The answer is (F).", None),  # out of range for 5 choices
        ("I think it is the sea.", None),  # no marker and not a bare letter
    ],
)
def test_extract_choice(text, expected):
    assert extract_answer(text, "choice") == expected


def test_extract_choice_article_is_not_a_letter():
    assert extract_answer("A bed is for sleeping. The answer is a bed (C).", "choice") == "C"


# ---------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("predicted", "gold", "expected"),
    [
        ("18", "18.0", True),
        ("1000", "1,000", True),
        ("1.00009", "1", True),  # |diff| = 9e-5 <= 1e-4
        ("0.99991", "1", True),
        ("1.00011", "1", False),  # |diff| = 1.1e-4 > 1e-4
        ("0.99989", "1", False),
        ("-2", "2", False),
        (None, "1", False),
        ("abc", "1", False),
    ],
)
def test_answers_match_numbers_default_tolerance(predicted, gold, expected):
    assert answers_match(predicted, gold, "number") is expected


def test_answers_match_tolerance_is_a_parameter():
    assert answers_match("1.5", "1", "number", tolerance=0.6) is True
    assert answers_match("1.5", "1", "number", tolerance=0.4) is False
    assert answers_match("1.00001", "1", "number", tolerance=0.0) is False
    assert answers_match("1", "1.0", "number", tolerance=0.0) is True


def test_answers_match_choices_by_letter():
    assert answers_match("b", "B", "choice") is True
    assert answers_match(" B ", "B", "choice") is True
    assert answers_match("A", "B", "choice") is False
    assert answers_match(None, "B", "choice") is False
