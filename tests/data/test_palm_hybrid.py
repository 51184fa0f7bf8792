"""Hybrid data (Table 3): every parsable PaLM rationale with the gold answer (DSS), or only the correct ones."""

from __future__ import annotations

import pytest

from mold.data.palm import load_palm_rationales


@pytest.mark.parametrize("dataset", ["svamp", "csqa"])
def test_keep_wrong_adds_exactly_the_wrong_answers_with_gold_labels(shared_data_dir, dataset):
    correct, failures = load_palm_rationales(dataset, "train", shared_data_dir)
    everything, same_failures = load_palm_rationales(dataset, "train", shared_data_dir, keep_wrong=True)
    assert same_failures == failures and failures["wrong_answer"] > 0
    assert len(everything) == len(correct) + failures["wrong_answer"]
    by_id = {r.id: r for r in everything}
    assert all(by_id[r.id] == r for r in correct)  # the correct ones are unchanged
    assert [r.id for r in everything if r.id in {c.id for c in correct}] == [r.id for r in correct]  # file order kept
