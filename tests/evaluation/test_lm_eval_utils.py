"""The lm-eval scoring hook on hand-written generations."""

from __future__ import annotations

import pytest

from mold.evaluation.lm_eval_utils import process_results, score_response


def number_doc(answer: str, tolerance: float = 1e-4) -> dict:
    return {"id": "x", "question": "q", "answer": answer, "answer_kind": "number", "tolerance": tolerance, "num_choices": None}


def choice_doc(answer: str, num_choices: int | None = 5) -> dict:
    return {"id": "x", "question": "q", "answer": answer, "answer_kind": "choice", "tolerance": 1e-4, "num_choices": num_choices}


@pytest.mark.parametrize(
    ("response", "gold", "acc"),
    [
        ("18", "18", 1),
        ("18.0", "18", 1),
        ("18", "18.0", 1),
        ("1,000", "1000", 1),
        ("$3.50", "3.5", 1),
        ("18.00005", "18", 1),  # within the 1e-4 tolerance
        ("18.001", "18", 0),
        ("17", "18", 0),
        ("-4", "4", 0),
        ("The answer is 7", "7", 1),
        ("3 + 4 = 7", "7", 1),  # last number when no 'answer is' marker
        ("", "7", 0),
        ("seven", "7", 0),
        ("!!##", "7", 0),
    ],
)
def test_number_answers(response: str, gold: str, acc: int) -> None:
    assert process_results(number_doc(gold), [response]) == {"acc": acc}


def test_number_tolerance_comes_from_the_doc() -> None:
    assert process_results(number_doc("18", tolerance=0.01), ["18.001"]) == {"acc": 1}
    assert process_results(number_doc("18", tolerance=0.0), ["18.001"]) == {"acc": 0}


@pytest.mark.parametrize(
    ("response", "gold", "acc"),
    [
        ("(B)", "B", 1),
        ("B", "B", 1),
        ("b", "B", 1),
        (" b ", "B", 1),
        ("The answer is (B).", "B", 1),
        ("(C)", "B", 0),
        ("(F)", "F", 0),  # out of range for 5 choices: no answer
        ("", "B", 0),
        ("banana bread", "B", 0),  # long garbage is no letter
        ("%%%", "B", 0),
    ],
)
def test_choice_answers(response: str, gold: str, acc: int) -> None:
    assert process_results(choice_doc(gold), [response]) == {"acc": acc}


def test_num_choices_comes_from_the_doc() -> None:
    assert process_results(choice_doc("F", num_choices=6), ["(F)"]) == {"acc": 1}
    assert process_results(choice_doc("A", num_choices=None), ["A"]) == {"acc": 1}


def test_score_response_returns_the_extracted_answer() -> None:
    assert score_response(number_doc("18"), "18.0") == ("18", True)
    assert score_response(choice_doc("B"), "(b)") == ("B", True)
    assert score_response(number_doc("18"), "none") == (None, False)


def test_only_the_first_result_is_scored() -> None:
    assert process_results(number_doc("7"), ["7", "8"]) == {"acc": 1}


@pytest.mark.parametrize(
    ("response", "doc", "extracted"),
    [
        # explain-then-answer: the answer is read from the rationale the student wrote
        ("Tom has 3 apples. 3 + 4 = 7. The answer is 7.", number_doc("7"), "7"),
        ("He had 10 and ate 2.5. 10 - 2.5 = 7.5. So the answer is 7.5.", number_doc("7.5"), "7.5"),
        ("The answer is 5. No wait, 3 + 4 = 7. The answer is 7.", number_doc("7"), "7"),  # the last marker counts
        ("3 + 4 = 7 apples in 2 bags", number_doc("7"), "2"),  # no marker: the last number, here wrong
        ("Fish need water. The sea is water. The answer is (A).", choice_doc("A"), "A"),
        ("Fish need water and a cup holds water.", choice_doc("A"), None),  # no marker, long text: no letter guessed
    ],
)
def test_explain_mode_extraction(response: str, doc: dict, extracted: str | None) -> None:
    got, correct = score_response(doc, response)
    assert got == extracted
    assert correct == (extracted == doc["answer"])
