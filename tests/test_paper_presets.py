"""The paper preset (real models, pinned) and paper-tiny (its offline stand-in) describe one DAG."""

from __future__ import annotations

import re

from mold import paths, plan
from mold.config import load_preset
from mold.models.factory import causal_lm_class

PAPER, TINY = load_preset("paper"), load_preset("paper-tiny")


def test_every_hub_model_is_pinned_to_a_commit():
    for key, model in PAPER.models.items():
        assert model.hub_id and re.fullmatch(r"[0-9a-f]{40}", model.revision or ""), key


def test_paper_tiny_has_the_paper_pairs_methods_and_tasks():
    assert TINY.pairs.keys() == PAPER.pairs.keys()
    for key, pair in PAPER.pairs.items():
        mine = TINY.pairs[key]
        fields = ("rationale_source", "attention_teacher", "student", "tasks", "methods", "paper_pair", "setting")
        assert {f: getattr(mine, f) for f in fields} == {f: getattr(pair, f) for f in fields}, key
    assert TINY.tasks == PAPER.tasks
    assert [p.relative_to(TINY.root) for p in plan.final_targets(TINY)] == [p.relative_to(PAPER.root) for p in plan.final_targets(PAPER)]
    assert len(paths.all_eval_files(PAPER)) == len(PAPER.seeds) * len(paths.all_eval_files(TINY))


def test_paper_tiny_reads_the_same_real_splits_limited():
    assert TINY.datasets.keys() == PAPER.datasets.keys()
    for key, spec in PAPER.datasets.items():
        mine = TINY.datasets[key]
        assert (mine.kind, mine.name, mine.split) == ("real", spec.name, spec.split)
        assert mine.limit is not None and 12 <= mine.limit <= 64


def test_paper_tiny_models_are_tiny_models_of_the_same_class():
    assert TINY.models.keys() == PAPER.models.keys()
    for key, model in PAPER.models.items():
        mine = TINY.models[key]
        assert mine.arch == model.arch and causal_lm_class(mine.arch)
        assert mine.tiny is not None and mine.hub_id is None and mine.tokenizer.kind in ("bpe", "sentencepiece")
    # Table 2's single-layer maps exist in the stand-ins (teacher layers 13-15, student layers 8 / 17 / 24)
    analysis = TINY.pairs["llama3-8b_gpt2-medium"]
    assert TINY.models[analysis.attention_teacher].tiny.num_layers >= 15
    assert TINY.models[analysis.student].tiny.num_layers >= 24
