"""Tests of mold.models.tokenizers and mold.models.factory: tokenizers round-trip, tiny models build and run."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from transformers import (
    GemmaForCausalLM,
    GPT2LMHeadModel,
    GPTNeoXForCausalLM,
    LlamaForCausalLM,
    MistralForCausalLM,
    Phi3ForCausalLM,
    Qwen2ForCausalLM,
)

from mold.config import ModelSpec, TinyShape, TokenizerSpec
from mold.models.factory import build_tiny_model, tiny_config
from mold.models.tokenizers import train_tokenizer

TEXTS = [
    "Tom has 1,234 apples!\nHe sells 3.5 of them (each for $2)? The answer is 1230.5.",
    "Where do fish live? Answer choices: (A) sea, (B) sky, (C) desert.\nKeywords: fish, water. The answer is (A).",
    "predict: 7 - 10 = -3; 0.25 * 4 = 1.\n\nQ: next?",
]


@pytest.fixture(params=["bpe", "sentencepiece"])
def tokenizer(request, bpe_tokenizer, sp_tokenizer):
    return {"bpe": bpe_tokenizer, "sentencepiece": sp_tokenizer}[request.param]


@pytest.mark.parametrize("text", TEXTS)
def test_tokenizer_round_trip(tokenizer, text):
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_tokenizers_split_digits_one_by_one(tokenizer):
    pieces = [tokenizer.decode([i]) for i in tokenizer("x 1234", add_special_tokens=False)["input_ids"]]
    assert [p for p in pieces if p.strip().isdigit()] == ["1", "2", "3", "4"]


def test_tokenizer_specials(bpe_tokenizer, sp_tokenizer):
    assert bpe_tokenizer.eos_token == bpe_tokenizer.pad_token == "<|endoftext|>"
    assert (sp_tokenizer.bos_token, sp_tokenizer.eos_token, sp_tokenizer.pad_token) == ("<s>", "</s>", "<pad>")
    assert sp_tokenizer("a")["input_ids"][0] == sp_tokenizer.bos_token_id  # Llama-style BOS
    assert bpe_tokenizer("a")["input_ids"][0] != bpe_tokenizer.bos_token_id  # GPT-2 style: none
    assert len(bpe_tokenizer) <= 300 and len(sp_tokenizer) <= 300


def test_hub_kind_is_not_trained():
    with pytest.raises(ValueError, match="loaded from the hub"):
        train_tokenizer(TokenizerSpec(kind="hub"), ["x"])


def test_teacher_and_student_tokenizers_split_differently(bpe_tokenizer, sp_tokenizer):
    sentence = "Tom starts with 5 pens. The answer is 8."
    pieces = {}
    for name, tok in (("bpe", bpe_tokenizer), ("sp", sp_tokenizer)):
        enc = tok(sentence, return_offsets_mapping=True, add_special_tokens=False)
        assert tok.decode(enc["input_ids"]) == sentence
        pieces[name] = [sentence[a:b] for a, b in enc["offset_mapping"]]
    # Metaspace attaches a word's leading space to the word's first token ("▁pens." spans " pens.");
    # byte-level BPE with trimmed offsets never starts a span with a space.
    assert any(p.startswith(" ") for p in pieces["sp"])
    assert not any(p.startswith(" ") for p in pieces["bpe"])
    assert pieces["bpe"] != pieces["sp"]


# ---------------------------------------------------------------------------
# Tiny models
# ---------------------------------------------------------------------------

SHAPE = TinyShape(hidden_size=16, num_layers=2, num_heads=2, intermediate_size=32, num_kv_heads=1, max_positions=64)


@pytest.mark.parametrize(
    ("arch", "cls"), [("llama", LlamaForCausalLM), ("qwen2", Qwen2ForCausalLM), ("gpt2", GPT2LMHeadModel),
                      ("mistral", MistralForCausalLM), ("gemma", GemmaForCausalLM), ("phi3", Phi3ForCausalLM)]
)
def test_build_tiny_model(tokenizer, arch, cls):
    spec = ModelSpec(arch=arch, tiny=SHAPE, tokenizer=TokenizerSpec(kind="bpe"))
    model = build_tiny_model(spec, tokenizer, seed=0, attn_implementation="eager")
    assert type(model) is cls
    assert model.config.vocab_size == len(tokenizer)
    assert model.get_input_embeddings().weight.shape == (len(tokenizer), 16)
    assert model.config.eos_token_id == tokenizer.eos_token_id
    assert model.config.pad_token_id == tokenizer.pad_token_id
    batch = tokenizer(["Tom has 3 pens.", "A dog barks."], return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model(**batch, output_attentions=True)
    assert out.logits.shape == (2, batch["input_ids"].shape[1], len(tokenizer))
    assert torch.isfinite(out.logits).all()
    assert len(out.attentions) == 2 and out.attentions[0].shape[:2] == (2, 2)


def test_build_tiny_model_is_seeded(bpe_tokenizer):
    spec = ModelSpec(arch="gpt2", tiny=SHAPE, tokenizer=TokenizerSpec(kind="bpe"))
    a, b = build_tiny_model(spec, bpe_tokenizer, seed=3), build_tiny_model(spec, bpe_tokenizer, seed=3)
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)


def test_tiny_config_shapes(bpe_tokenizer):
    llama = tiny_config("llama", SHAPE, bpe_tokenizer)
    assert (llama.hidden_size, llama.num_hidden_layers, llama.num_attention_heads, llama.num_key_value_heads) == (16, 2, 2, 1)
    assert llama.intermediate_size == 32 and llama.max_position_embeddings == 64
    gpt2 = tiny_config("gpt2", SHAPE, bpe_tokenizer)
    assert (gpt2.n_embd, gpt2.n_layer, gpt2.n_head, gpt2.n_positions) == (16, 2, 2, 64)
    assert gpt2.resid_pdrop == gpt2.embd_pdrop == gpt2.attn_pdrop == 0.0
    default_mlp = tiny_config("qwen2", SHAPE.model_copy(update={"intermediate_size": None, "num_kv_heads": None}), bpe_tokenizer)
    assert default_mlp.intermediate_size == 64 and default_mlp.num_key_value_heads == 2


def test_build_tiny_model_needs_tiny_spec(bpe_tokenizer):
    spec = ModelSpec(arch="gpt2", hub_id="openai-community/gpt2", tokenizer=TokenizerSpec(kind="hub"))
    with pytest.raises(ValueError, match="needs a model spec with `tiny`"):
        build_tiny_model(spec, bpe_tokenizer, seed=0)


def test_any_model_type_takes_the_shared_config_names(bpe_tokenizer):
    """A model type beyond the paper's gets the shape by the names most configs share; one without
    grouped-query heads refuses `num_kv_heads` rather than silently ignoring it."""
    neox = tiny_config("gpt_neox", SHAPE.model_copy(update={"num_kv_heads": None}), bpe_tokenizer)
    assert (neox.hidden_size, neox.num_hidden_layers, neox.num_attention_heads, neox.intermediate_size) == (16, 2, 2, 32)
    assert neox.max_position_embeddings == 64 and neox.vocab_size == len(bpe_tokenizer)
    spec = ModelSpec(arch="gpt_neox", tiny=SHAPE.model_copy(update={"num_kv_heads": None}), tokenizer=TokenizerSpec(kind="bpe"))
    assert type(build_tiny_model(spec, bpe_tokenizer, seed=0)) is GPTNeoXForCausalLM
    with pytest.raises(ValueError, match="GPTNeoXConfig has no num_key_value_heads"):
        tiny_config("gpt_neox", SHAPE, bpe_tokenizer)


@pytest.mark.parametrize(("arch", "why"), [
    ("bloom", r"BloomForCausalLM computes attention in its own code, not through transformers' attention interface"),
    ("gemma2", r"Gemma2ForCausalLM soft-caps its attention logits"),
    ("bert-base", r"'bert-base' is not a causal-LM model_type"),
])
def test_models_mold_cannot_read_are_refused_at_validation(arch, why):
    with pytest.raises(ValidationError, match=why):
        ModelSpec.model_validate({"arch": arch, "tiny": SHAPE.model_dump(), "tokenizer": {"kind": "bpe"}})
