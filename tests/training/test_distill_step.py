"""The training step the GPU runs, on a real (tiny) student: gradient accumulation is exact, and every
method's terms reach the loss."""

from __future__ import annotations

import copy

import pytest
import torch

from mold.config import LossSpec, ModelSpec, TrainingSpec
from mold.methods import get_method
from mold.models.factory import build_tiny_model
from mold.molsaki.attention import register
from mold.training.attention_loss import build_router
from mold.training.batching import encode
from mold.training.distill import DistillLoss, TrainItem, collate_items
from mold.training.loop import build_optimizer, train_step

QUESTIONS = [("Tom has 3 pens. He buys 12 more. How many?", "3 + 12 = 15. So 15.", "15"),
             ("Sara had 10 sweets and ate 2. How many are left?", "10 - 2 = 8.", "8"),
             ("A box holds 4 rows of 5 eggs. How many eggs?", "4 * 5 = 20. The box holds 20 eggs.", "20"),
             ("Ben read 7 pages, then 9. How many pages?", "7 + 9 = 16.", "16")]


def _items(tokenizer) -> list[TrainItem]:
    items = []
    for q, r, a in QUESTIONS:
        item = TrainItem(encode(tokenizer, f"predict: {q}\n", a, 64), encode(tokenizer, f"explain: {q}\n", r, 64))
        # attention groups: the first two and the last tokens of the question as steps, two words
        n = len(item.explain.input_ids)
        item.steps, item.words = [[1, 2, 3], list(range(4, n - 1))], [[2], [5, 6]]
        item.target = torch.tensor([[0.7, 0.3], [0.2, 0.8]])
        items.append(item)
    items[3].steps = items[3].words = items[3].target = None  # one example without critical words
    return items


@pytest.mark.parametrize("method_name", ["vanilla", "dss", "mmi", "molsaki", "sl:last->1"])
def test_batch_4x1_equals_batch_1x4(method_name, bpe_tokenizer):
    """One step on 4 examples in one micro-batch, and on the same 4 in 4 micro-batches of 1: same loss, terms
    and gradients (fp32 tolerance). Padding differs between the two; every term is normalised over the whole step."""
    method = get_method(method_name)
    spec = ModelSpec.model_validate({"arch": "gpt2", "tokenizer": {"kind": "bpe"},
                                     "tiny": {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "max_positions": 128}})
    implementation = register("efficient") if method.needs_attention else "sdpa"
    base = build_tiny_model(spec, bpe_tokenizer, seed=0, attn_implementation=implementation)
    items, device = _items(bpe_tokenizer), torch.device("cpu")
    if not method.needs_rationales:
        items = [TrainItem(it.predict) for it in items]
    results = []
    for parts in ([items], [[it] for it in items]):
        model = copy.deepcopy(base)
        router = build_router(model, LossSpec()) if method.uses_router else None
        params = list(model.parameters()) + (list(router.parameters()) if router else [])
        optimizer, scheduler = build_optimizer(params, TrainingSpec(steps=10, batch_size=4, lr=1e-2))
        micro = [collate_items(part, bpe_tokenizer.pad_token_id, device) for part in parts]
        result = train_step(params, optimizer, scheduler, micro, DistillLoss(method, model, LossSpec(), router), "fp32", device)
        results.append((result, [p.grad.detach().clone() for p in params if p.grad is not None]))
    (one, one_grads), (four, four_grads) = results
    assert len(one_grads) == len(four_grads) > 0
    assert set(one.terms) == set(method.terms)
    torch.testing.assert_close(four.loss, one.loss, rtol=1e-5, atol=1e-6)
    for name in one.terms:
        torch.testing.assert_close(four.terms[name], one.terms[name], rtol=1e-5, atol=1e-6)
    for a, b in zip(one_grads, four_grads):  # the accumulated (clipped) gradients AdamW steps with
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)
