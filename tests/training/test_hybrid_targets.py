"""Hybrid setting (paper Table 3): PaLM rationales read by a Llama-architecture attention teacher."""

from __future__ import annotations

from mold.molsaki.targets import example_groups, teacher_targets
from mold.config import ModelSpec
from mold.data.palm import load_palm_rationales
from mold.models.factory import build_tiny_model
from mold.molsaki import teacher_layer_weights
from mold.molsaki.attention import register


def test_palm_rationales_give_attention_targets(shared_data_dir, sp_tokenizer):
    records, failures = load_palm_rationales("svamp", "train", shared_data_dir)
    assert len(records) + sum(failures.values()) == 800
    spec = ModelSpec.model_validate({"arch": "llama", "tokenizer": {"kind": "sentencepiece"},
                                     "tiny": {"hidden_size": 32, "num_layers": 3, "num_heads": 2, "max_positions": 512}})
    teacher = build_tiny_model(spec, sp_tokenizer, seed=0, attn_implementation=register("eager")).eval()
    sample = records[:6]
    encoded = [example_groups(sp_tokenizer, r) for r in sample]
    assert all(words for _, _, words in encoded)  # SVAMP rationales always mention numbers
    maps = teacher_targets(teacher, [e[0] for e in encoded], [e[1:] for e in encoded], sp_tokenizer.pad_token_id)
    for (ids, steps, words), A in zip(encoded, maps):
        assert A.shape == (3, len(steps), len(words))
        assert (A >= 0).all() and (A.sum(-1) <= len(ids) + 1e-4).all()
        weights = teacher_layer_weights(A, 0.1)
        assert abs(weights.sum().item() - 1.0) < 1e-5
