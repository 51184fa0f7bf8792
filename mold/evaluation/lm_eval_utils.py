"""The lm-eval hook that scores one generated answer (`process_results: !function utils.process_results`).

Every doc in a test file mold writes for lm-eval (`tasks.write_eval_jsonl`) carries its own
scoring rule: `answer_kind`, `tolerance` and `num_choices`, so one hook serves all tasks.
Kept free of lm-eval imports: lm-eval imports this, not the other way round.
"""

from __future__ import annotations

from mold.data.answers import answers_match, extract_answer

DEFAULT_NUM_CHOICES = 5


def score_response(doc: dict, response: str) -> tuple[str | None, bool]:
    """(answer extracted from `response`, whether it matches the doc's gold answer)."""
    kind = doc["answer_kind"]
    num_choices = doc.get("num_choices") or DEFAULT_NUM_CHOICES
    extracted = extract_answer(response, kind, num_choices)
    return extracted, answers_match(extracted, str(doc["answer"]), kind, float(doc["tolerance"]))


def process_results(doc: dict, results: list[str]) -> dict[str, int]:
    """lm-eval's per-doc hook: `results` holds the one filtered generation of this doc."""
    _, correct = score_response(doc, results[0])
    return {"acc": int(correct)}
