"""Tests of mold.training.batching with tokenizers trained by mold in-process."""

from __future__ import annotations

import pytest
import torch

from mold.training.batching import IGNORE, Encoded, collate, encode

# (prompt, target) as the distillation stage builds them: cue + question + "\n", then the target.
CASES = [
    ("predict: Tom has 7 apples and buys 3 more. How many apples does he have?\n", "10"),
    ("predict: Sara had 1,000 sweets. How many?\n", "1,000"),
    ("explain: Tom has 5 pens.\n", "5 + 3 = 8. Tom has 8 pens (quite a lot)!\nThe answer is 8."),
]
# Targets that start with a letter right after the prompt's "\n".
LETTER_CASES = [
    ("predict: Where do fish live? Answer choices: (A) sea, (B) sky, (C) desert.\n", "A"),
    ("explain: Tom has 5 pens.\n", "Tom starts with 5 pens. The answer is 5."),
]


@pytest.fixture(params=["bpe", "sentencepiece"])
def tokenizer(request, bpe_tokenizer, sp_tokenizer):
    return {"bpe": bpe_tokenizer, "sentencepiece": sp_tokenizer}[request.param]


def _check_labels(tokenizer, prompt: str, target: str) -> None:
    enc = encode(tokenizer, prompt, target, max_length=512)
    prompt_ids = tokenizer(prompt)["input_ids"]
    n = len(prompt_ids)
    # The prompt's own tokenisation is a prefix of the sequence, and exactly those tokens are unlabelled.
    assert enc.input_ids[:n] == prompt_ids
    assert enc.labels[:n] == [IGNORE] * n
    assert enc.labels[n:] == enc.input_ids[n:]
    assert enc.input_ids[-1] == tokenizer.eos_token_id
    labelled = [t for t in enc.labels if t != IGNORE]
    assert tokenizer.decode(labelled, skip_special_tokens=True) == target


@pytest.mark.parametrize(("prompt", "target"), CASES)
def test_labels_cover_exactly_target_and_eos(tokenizer, prompt, target):
    _check_labels(tokenizer, prompt, target)


@pytest.mark.parametrize(("prompt", "target"), LETTER_CASES)
def test_labels_cover_exactly_target_bpe_letter_targets(bpe_tokenizer, prompt, target):
    _check_labels(bpe_tokenizer, prompt, target)


@pytest.mark.parametrize(("prompt", "target"), LETTER_CASES)
def test_labels_cover_exactly_target_sentencepiece_letter_targets(sp_tokenizer, prompt, target):
    _check_labels(sp_tokenizer, prompt, target)


def test_encode_offsets_and_text(bpe_tokenizer):
    prompt, target = CASES[0]
    enc = encode(bpe_tokenizer, prompt, target, max_length=512)
    assert enc.text == prompt + target
    assert not enc.truncated
    assert len(enc.offsets) == len(enc.input_ids) == len(enc.labels)
    assert enc.offsets[-1] == (0, 0)  # EOS
    assert "".join(enc.text[a:b] for a, b in enc.offsets[-3:-1]) == "10"


def test_sentencepiece_bos_is_unlabelled(sp_tokenizer):
    enc = encode(sp_tokenizer, *CASES[0], max_length=512)
    assert enc.input_ids[0] == sp_tokenizer.bos_token_id
    assert enc.labels[0] == IGNORE


def test_truncation(bpe_tokenizer):
    prompt, target = CASES[2]
    full = encode(bpe_tokenizer, prompt, target, max_length=512)
    short = encode(bpe_tokenizer, prompt, target, max_length=16)
    assert short.truncated
    assert short.input_ids == full.input_ids[:16]
    assert short.labels == full.labels[:16]
    exact = encode(bpe_tokenizer, prompt, target, max_length=len(full.input_ids))
    assert not exact.truncated and exact.input_ids == full.input_ids


def test_collate_pads_right():
    a = Encoded([5, 6, 7, 8], [IGNORE, IGNORE, 7, 8], [(0, 1)] * 4, "a", False)
    b = Encoded([5, 9], [IGNORE, 9], [(0, 1)] * 2, "b", False)
    batch = collate([a, b], pad_id=0)
    torch.testing.assert_close(batch.input_ids, torch.tensor([[5, 6, 7, 8], [5, 9, 0, 0]]), rtol=0, atol=0)
    torch.testing.assert_close(batch.attention_mask, torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]]), rtol=0, atol=0)
    torch.testing.assert_close(batch.labels, torch.tensor([[IGNORE, IGNORE, 7, 8], [IGNORE, 9, IGNORE, IGNORE]]), rtol=0, atol=0)
    assert batch.input_ids.dtype == batch.labels.dtype == batch.attention_mask.dtype == torch.long


def test_collate_real_encodings_round_trip(bpe_tokenizer):
    items = [encode(bpe_tokenizer, p, t, 512) for p, t in CASES]
    batch = collate(items, bpe_tokenizer.pad_token_id)
    width = max(len(e.input_ids) for e in items)
    assert batch.input_ids.shape == (3, width)
    for row, e in enumerate(items):
        n = len(e.input_ids)
        assert batch.input_ids[row, :n].tolist() == e.input_ids
        assert batch.labels[row, :n].tolist() == e.labels
        assert batch.attention_mask[row].sum().item() == n
        assert (batch.labels[row, n:] == IGNORE).all()
        assert (batch.input_ids[row, n:] == bpe_tokenizer.pad_token_id).all()
    moved = batch.to(torch.device("cpu"))
    assert torch.equal(moved.labels, batch.labels)
