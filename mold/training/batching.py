"""Encode prompt/target pairs for a decoder-only student; pad them into batches.

Sequences follow docs/baselines.md: `cue + question + "\n" + target + EOS` with labels = -100
on the prompt and padding, so every cross-entropy covers target tokens only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

IGNORE = -100


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]
    offsets: list[tuple[int, int]]  # character span of each token within `text` ((0, 0) for specials)
    text: str
    truncated: bool


def encode(tokenizer: PreTrainedTokenizerBase, prompt: str, target: str, max_length: int) -> Encoded:
    """Tokenize `prompt + target`, append EOS, label the target tokens (EOS included)."""
    text = prompt + target
    enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=True)
    ids = list(enc["input_ids"]) + [tokenizer.eos_token_id]
    offsets = [tuple(o) for o in enc["offset_mapping"]] + [(0, 0)]
    special = set(tokenizer.all_special_ids)
    labels = [
        tok if (i == len(ids) - 1 or (tok not in special and offsets[i][1] > len(prompt))) else IGNORE
        for i, tok in enumerate(ids)
    ]
    truncated = len(ids) > max_length
    return Encoded(ids[:max_length], labels[:max_length], offsets[:max_length], text, truncated)


@dataclass
class Batch:
    input_ids: torch.Tensor  # (B, T)
    attention_mask: torch.Tensor  # (B, T)
    labels: torch.Tensor  # (B, T), IGNORE off-target

    @property
    def tokens(self) -> int:
        """Real (non-padding) tokens."""
        return int(self.attention_mask.sum())

    def to(self, device: torch.device) -> Batch:
        return Batch(self.input_ids.to(device), self.attention_mask.to(device), self.labels.to(device))


def forward_logits(model, batch: Batch) -> torch.Tensor:
    """The model's logits (B, T, V) for `batch`, without a KV cache (transformers builds one in every
    forward unless told not to, copying each layer's keys and values for nothing outside generation)."""
    return model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False).logits


def collate(items: list[Encoded], pad_id: int) -> Batch:
    """Right-pad to the longest sequence of the batch."""
    width = max(len(e.input_ids) for e in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
    for row, e in enumerate(items):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        mask[row, :n] = 1
        labels[row, :n] = torch.tensor(e.labels)
    return Batch(ids, mask, labels)
