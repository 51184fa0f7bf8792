"""The teacher's side of stepwise attention: the text x, its token groups, and A_t_l (L1 × N1 × N2) per example (§3.2)."""

from __future__ import annotations

import torch

from mold.data.schema import Example, RationaleRecord
from mold.molsaki.attention import group_matrices, stepwise_maps
from mold.molsaki.maths import StepSplit, step_and_critical_groups


def attention_text(record: RationaleRecord | Example) -> str:
    """x = question followed by rationale: the same characters for teacher and student (§3.2), and the text
    a CSQA keyword must occur in (App. B.2)."""
    return f"{record.question}\n{record.rationale}"


def text_offsets(offsets: list[tuple[int, int]], start: int, length: int, text: str | None = None) -> list[tuple[int, int]]:
    """Token spans relative to x = text[start:start+length]; tokens outside x get (0, 0).

    Byte-level BPE without offset trimming gives a token its leading space: after a cue ending in a
    space ("explain: "), x's first token then starts one character before x. With the full `text`,
    such a token, whose part before x is only whitespace, is clipped to x and keeps its step and word
    (docs/paper-to-code.md "Token groups at the cue").
    """
    def inside(s: int, e: int) -> tuple[int, int]:
        if text is not None and s < start < e and not text[s:start].strip():
            s = start
        return (s - start, e - start) if s >= start and e <= start + length and e > s else (0, 0)

    return [inside(s, e) for s, e in offsets]


def example_groups(tokenizer, record: RationaleRecord, prefix: str = "", split: StepSplit = "periods",
                   ) -> tuple[list[int], list[list[int]], list[list[int]]]:
    """Token ids of prefix + x and the (steps, words) token groups of x (steps split as `split`, §3.2)."""
    x = attention_text(record)
    enc = tokenizer(prefix + x, return_offsets_mapping=True)
    offsets = text_offsets([tuple(o) for o in enc["offset_mapping"]], len(prefix), len(x), prefix + x)
    steps, words = step_and_critical_groups(x, offsets, record.keywords, split)
    return list(enc["input_ids"]), steps, words


@torch.no_grad()
def teacher_targets(model, batch_ids: list[list[int]], groups: list[tuple], pad_id: int) -> list[torch.Tensor]:
    """A_t_l for a batch of examples: list of (L1, N1, N2) tensors."""
    device = next(model.parameters()).device
    width = max(len(ids) for ids in batch_ids)
    input_ids = torch.full((len(batch_ids), width), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros_like(input_ids)
    for row, ids in enumerate(batch_ids):
        input_ids[row, : len(ids)] = torch.tensor(ids, device=device)
        mask[row, : len(ids)] = 1
    steps, _ = group_matrices([g[0] for g in groups], width, device)
    words, _ = group_matrices([g[1] for g in groups], width, device)
    with stepwise_maps(model, steps, words) as maps:
        model(input_ids=input_ids, attention_mask=mask, use_cache=False)
    stacked = torch.stack(maps, dim=1).float().cpu()  # (B, L1, N1max, N2max)
    return [stacked[b, :, : len(g[0]), : len(g[1])].clone() for b, g in enumerate(groups)]
