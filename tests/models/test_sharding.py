"""The 32B teacher's sharding plan, computed on meta tensors: no weight is downloaded or allocated."""

from __future__ import annotations

import resource

import pytest
import torch
from transformers import Qwen2Config

from mold.models.factory import shard_plan

GiB = 2**30
# Qwen2.5-32B-Instruct's config.json values (hidden size, layers, heads, MLP width, vocabulary)
QWEN25_32B = dict(vocab_size=152064, hidden_size=5120, intermediate_size=27648, num_hidden_layers=64,
                  num_attention_heads=40, num_key_value_heads=8, max_position_embeddings=32768, tie_word_embeddings=False)


def _layers_on(plan: dict, device: int) -> list[int]:
    return sorted(int(name.split(".")[2]) for name, d in plan.items() if name.startswith("model.layers.") and d == device)


def test_32b_teacher_splits_over_two_gpus_by_whole_layers():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    plan = shard_plan(Qwen2Config(**QWEN25_32B), torch.bfloat16, {0: 40 * GiB, 1: 40 * GiB})
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 1024  # 65 GB of bf16 weights were never allocated
    assert set(plan.values()) == {0, 1}
    first, second = _layers_on(plan, 0), _layers_on(plan, 1)
    assert first and second and first + second == list(range(64))  # contiguous, whole layers, none lost
    assert first[-1] < second[0]
    assert plan["model.embed_tokens"] == 0 and plan["lm_head"] == 1


def test_32b_teacher_on_one_h200_stays_whole():
    plan = shard_plan(Qwen2Config(**QWEN25_32B), torch.bfloat16, {0: 120 * GiB})
    assert set(plan.values()) == {0}


def test_32b_teacher_too_large_for_the_gpus_says_so():
    with pytest.raises(RuntimeError, match="does not fit in 1 GPU"):
        shard_plan(Qwen2Config(**QWEN25_32B), torch.bfloat16, {0: 24 * GiB})
