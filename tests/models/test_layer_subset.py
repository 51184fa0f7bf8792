"""Tests of mold.models.layer_subset: a student made of every k-th decoder layer of a source model."""

from __future__ import annotations

import copy

import pytest
import torch

from mold.config import ModelSpec, TinyShape, TokenizerSpec
from mold.models.factory import build_tiny_model
from mold.models.layer_subset import keep_layers, kept_layers


@pytest.mark.parametrize(("num_layers", "every", "offset", "expected"), [
    (30, 2, 0, list(range(0, 30, 2))),
    (30, 2, 1, list(range(1, 30, 2))),
    (6, 3, 0, [0, 3]),
    (5, 2, 0, [0, 2, 4]),
    (4, 5, 0, [0]),
])
def test_kept_layers(num_layers, every, offset, expected):
    assert kept_layers(num_layers, every, offset) == expected


@pytest.mark.parametrize(("every", "offset"), [(0, 0), (2, 6), (2, -1)])
def test_kept_layers_rejects_impossible_subsets(every, offset):
    with pytest.raises(ValueError, match="cannot keep"):
        kept_layers(6, every, offset)


def _source(arch: str, tokenizer) -> torch.nn.Module:
    shape = TinyShape(hidden_size=32, num_layers=6, num_heads=4, num_kv_heads=2 if arch != "gpt2" else None,
                      intermediate_size=64, max_positions=64)
    spec = ModelSpec(arch=arch, tiny=shape, tokenizer=TokenizerSpec(kind="bpe"))
    return build_tiny_model(spec, tokenizer, seed=3).eval()


def _layers(model) -> torch.nn.ModuleList:
    return model.transformer.h if hasattr(model, "transformer") else model.model.layers


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gpt2"])
def test_kept_layers_equal_the_source_bit_for_bit(arch, bpe_tokenizer):
    source = _source(arch, bpe_tokenizer)
    student = keep_layers(source, [1, 3, 5])
    assert type(student) is type(source)
    assert student.config.num_hidden_layers == 3 and len(_layers(student)) == 3
    assert source.config.num_hidden_layers == 6  # the source is untouched
    for new, old in enumerate([1, 3, 5]):
        kept, original = _layers(student)[new].state_dict(), _layers(source)[old].state_dict()
        assert kept.keys() == original.keys()
        assert all(torch.equal(kept[k], original[k]) for k in kept)
    outside = {k: v for k, v in source.state_dict().items() if ".layers." not in k and ".h." not in k}
    assert outside and all(torch.equal(student.state_dict()[k], v) for k, v in outside.items())
    assert sum(p.numel() for p in student.parameters()) < sum(p.numel() for p in source.parameters())


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_layer_subset_student_generates_and_computes_its_own_stack(arch, bpe_tokenizer):
    source = _source(arch, bpe_tokenizer)
    student = keep_layers(source, [0, 2, 4])
    ids = torch.tensor([bpe_tokenizer("Tom has 3 apples.")["input_ids"]])
    out = student.generate(ids, max_new_tokens=5, do_sample=False, pad_token_id=bpe_tokenizer.pad_token_id)
    assert out.shape == (1, ids.shape[1] + 5)
    # The same network by hand: the source with its module list cut to the kept layers.
    by_hand = copy.deepcopy(source)
    stack = by_hand.transformer if arch == "gpt2" else by_hand.model
    setattr(stack, "h" if arch == "gpt2" else "layers", torch.nn.ModuleList([_layers(by_hand)[i] for i in (0, 2, 4)]))
    by_hand.config.num_hidden_layers = 3
    with torch.no_grad():
        assert torch.equal(student(ids, use_cache=False).logits, by_hand(ids, use_cache=False).logits)
        assert not torch.allclose(student(ids).logits, source(ids).logits)
