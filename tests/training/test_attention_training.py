"""L_att inside a real training step: gradients, targets, and the explain pass it reads."""

from __future__ import annotations

import pytest
import torch

from mold.molsaki.targets import attention_text, example_groups, teacher_targets
from mold.config import LossSpec, ModelSpec
from mold.data.schema import RationaleRecord
from mold.training.attention_loss import build_router, explain_with_attention
from mold.training.batching import collate, encode
from mold.methods import get_method
from mold.training.distill import DistillBatch, TrainItem, attention_batch
from mold.models.factory import build_tiny_model
from mold.molsaki import attention_loss, stepwise_attention, teacher_layer_weights
from mold.molsaki.attention import register

RECORDS = [
    RationaleRecord(id="a", question="Tom has 3 pens. He buys 12 more. How many?", answer="15",
                    rationale="3 + 12 = 15. So Tom has 15 pens.", source="t"),
    RationaleRecord(id="b", question="Sara had 1,000 sweets and ate 2.5 of them. How many are left?", answer="997.5",
                    rationale="1,000 - 2.5 = 997.5. So 997.5 are left.", source="t"),
    RationaleRecord(id="c", question="Where do fish live? Answer choices: (A) sea, (B) sky.", answer="A",
                    rationale="Fish swim in the sea.", keywords=["fish", "sea"], source="t"),
    RationaleRecord(id="d", question="What is red?", answer="A", rationale="Apples are red.", keywords=["blue"], source="t"),
]


def _model(arch: str, tokenizer, layers: int = 2):
    spec = ModelSpec.model_validate({"arch": arch, "tokenizer": {"kind": "bpe"},
                                     "tiny": {"hidden_size": 32, "num_layers": layers, "num_heads": 2, "max_positions": 256}})
    return build_tiny_model(spec, tokenizer, seed=0, attn_implementation=register("eager"))


def _targets(teacher, tokenizer, method):
    encoded = [example_groups(tokenizer, r) for r in RECORDS]
    with_words = [i for i, (_, _, words) in enumerate(encoded) if words]
    maps = teacher_targets(teacher, [encoded[i][0] for i in with_words], [encoded[i][1:] for i in with_words], tokenizer.pad_token_id)
    out = {}
    for i, A in zip(with_words, maps):
        out[RECORDS[i].id] = A[-1] if method.single_layer else (teacher_layer_weights(A, 0.1)[:, None, None] * A).sum(0)
    return out, encoded


@pytest.fixture()
def setup(bpe_tokenizer, sp_tokenizer):
    teacher = _model("llama", sp_tokenizer, layers=3)
    student = _model("gpt2", bpe_tokenizer)
    return teacher, student, sp_tokenizer, bpe_tokenizer


def _batch(student_tok, targets, cue="explain: "):
    items = []
    for r in RECORDS:
        explain = encode(student_tok, f"{cue}{r.question}\n", r.rationale, 256)
        item = TrainItem(encode(student_tok, f"predict: {r.question}\n", r.answer, 256), explain)
        if r.id in targets:
            x = attention_text(r)
            from mold.molsaki.targets import text_offsets
            from mold.molsaki import step_and_critical_groups

            item.steps, item.words = step_and_critical_groups(x, text_offsets(explain.offsets, len(cue), len(x)), r.keywords)
            item.target = targets[r.id]
        items.append(item)
    explain = collate([it.explain for it in items], student_tok.pad_token_id)
    predict = collate([it.predict for it in items], student_tok.pad_token_id)
    return DistillBatch(predict, explain, attention_batch(items, explain.input_ids.shape[1], torch.device("cpu")))


def test_teacher_and_student_agree_on_group_counts(setup):
    teacher, student, t_tok, s_tok = setup
    targets, encoded = _targets(teacher, t_tok, get_method("molsaki"))
    batch = _batch(s_tok, targets)
    assert set(targets) == {"a", "b", "c"}  # 'd' has no critical word: CE only
    for b, r in enumerate(RECORDS[:3]):
        n1, n2 = targets[r.id].shape
        assert int(batch.attention["step_mask"][b].sum()) == n1
        assert int(batch.attention["word_mask"][b].sum()) == n2
    assert not batch.attention["has"][3]


def test_att_loss_reaches_query_key_and_router_not_targets(setup):
    teacher, student, t_tok, s_tok = setup
    targets, _ = _targets(teacher, t_tok, get_method("molsaki"))
    batch = _batch(s_tok, targets)
    router = build_router(student, LossSpec())
    logits, loss, metrics = explain_with_attention(student, batch, get_method("molsaki"), router)
    assert loss.item() > 0
    loss.backward()
    hidden = student.config.hidden_size
    for block in student.transformer.h:
        qk_grad = block.attn.c_attn.weight.grad[:, : 2 * hidden]  # GPT-2 Conv1D: (in, 3*hidden) = [q | k | v]
        assert qk_grad.abs().sum() > 0
    assert router.proj.weight.grad.abs().sum() > 0  # the router's map (zero at init) learns from L_att
    assert all(not t.requires_grad for t in targets.values())
    assert batch.attention["targets"].grad is None
    assert sum(v for k, v in metrics.items() if k.startswith("p_s/")) == pytest.approx(1.0, abs=1e-5)


def test_single_layer_map_reads_the_last_student_layer(setup):
    teacher, student, t_tok, s_tok = setup
    targets, _ = _targets(teacher, t_tok, get_method("sl:last->last"))
    batch = _batch(s_tok, targets)
    _, loss, metrics = explain_with_attention(student, batch, get_method("sl:last->last"), None)
    student.set_attn_implementation("eager")  # transformers' own, which returns the probabilities
    with torch.no_grad():
        attn = student(input_ids=batch.explain.input_ids, attention_mask=batch.explain.attention_mask,
                       output_attentions=True).attentions
    att = batch.attention
    last = att["steps"] @ attn[-1].mean(1) @ att["words"].transpose(1, 2)  # (B, N1, N2) from the last layer only
    expected = attention_loss(att["targets"], last, att["step_mask"], att["word_mask"])
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-5, atol=1e-7)
    assert metrics == {}


def test_hook_reduction_equals_output_attentions(setup):
    """The layer-by-layer reduction inside the attention call = stepwise_attention on transformers' full eager maps."""
    teacher, _, t_tok, _ = setup
    ids, steps, words = example_groups(t_tok, RECORDS[1])
    input_ids = torch.tensor([ids])
    teacher.set_attn_implementation("eager")
    with torch.no_grad():
        full = teacher(input_ids=input_ids, output_attentions=True).attentions
    teacher.set_attn_implementation(register("eager"))
    reference = torch.stack([stepwise_attention(a[0].mean(0), steps, words) for a in full])
    got = teacher_targets(teacher, [ids], [(steps, words)], t_tok.pad_token_id)[0]
    torch.testing.assert_close(got, reference, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("teacher_arch, student_arch", [("mistral", "gemma"), ("gpt_neox", "phi3")])
def test_molsaki_distils_other_architectures(teacher_arch, student_arch, bpe_tokenizer, sp_tokenizer, tmp_path):
    """Teacher and student of architectures the paper does not use, built from `arch` alone (docs/adding-a-model.md):
    a few MoLSAKI steps through mold.training lower the loss and move every student parameter and the router."""
    from mold.config import TrainingSpec
    from mold.training.distill import DistillLoss
    from mold.training.loop import train

    teacher, student = _model(teacher_arch, sp_tokenizer, layers=3), _model(student_arch, bpe_tokenizer)
    method = get_method("molsaki")
    targets, _ = _targets(teacher, sp_tokenizer, method)
    batch = _batch(bpe_tokenizer, targets)
    router = build_router(student, LossSpec())
    student_before = {n: p.detach().clone() for n, p in student.named_parameters()}
    router_before = router.proj.weight.detach().clone()
    spec = TrainingSpec(steps=3, batch_size=4, lr=1e-2, log_every=1, checkpoint_every=1)
    history = train(student, spec, tmp_path, 0, lambda step: [batch], DistillLoss(method, student, LossSpec(), router),
                    extra_modules={"router": router})
    assert [h["step"] for h in history] == [1, 2, 3]
    assert all(h["L_att"] > 0 and h["L_exp"] > 0 and h["L_pre"] > 0 for h in history)
    assert history[-1]["loss"] < history[0]["loss"]  # one batch, repeated: the loss falls
    assert sum(v for k, v in history[-1].items() if k.startswith("p_s/")) == pytest.approx(1.0, abs=1e-5)
    assert not torch.equal(router.proj.weight, router_before)
    unmoved = [n for n, p in student.named_parameters() if torch.equal(p, student_before[n])]
    assert unmoved == []
