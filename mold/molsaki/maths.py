"""MoLSAKI's mathematics as small pure functions (paper §3.2–3.3; docs/paper-to-code.md).

Paper: Chen et al., EMNLP 2025, arXiv 2604.15701. Shapes: `L` layers, `N` tokens,
`N1` steps (sentences), `N2` critical words, `d` value width, `B` batch.

Pipeline for one example, per model (teacher or student):

    steps, words = step_and_critical_groups(text, offsets)        # §3.2, App. C
    A_layers = stepwise_attention(attn, steps, words)             # (L, N1, N2)
    p = teacher_layer_weights(A_layers, tau1)  or  StudentMoL(...)  # §3.3, App. E
    A = mix_layers(A_layers, p)                                   # (N1, N2)
    loss = attention_loss(A_teacher, A_student)                   # L_att, §3.3

Nothing here knows about models, configs or files.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import torch

Span = tuple[int, int]

# [choice] paper §3.2: a number is digits with optional thousands groups and decimals.
NUMBER_RE = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")
# Paper §3.2 splits steps "based on periods"; a period with a digit on both sides (3.5) is part of
# a number, not a boundary. `split="periods"` is that reading; `split="sentences"` [choice] also ends a
# step at '?', '!' and newlines (docs/paper-to-code.md "Steps").
StepSplit = Literal["periods", "sentences"]
STEP_END_RES: dict[str, re.Pattern[str]] = {
    "periods": re.compile(r"(?:(?<!\d)\.|\.(?!\d))+"),
    "sentences": re.compile(r"(?:[?!\n]|(?<!\d)\.|\.(?!\d))+"),
}


# ---------------------------------------------------------------------------
# Steps and critical words (paper §3.2, App. C; paper §3.2)
# ---------------------------------------------------------------------------


def split_steps(text: str, split: StepSplit = "periods") -> list[Span]:
    """Character spans `[start, end)` of the steps of `text`.

    A step ends right after its delimiter run (periods; with `split="sentences"` also '?', '!',
    newlines); whitespace-only spans are dropped. Spans are contiguous otherwise, so every
    non-space character lies in exactly one step.
    """
    # §3.2: M1 = the steps of question + rationale, split on periods
    ends = [match.end() for match in STEP_END_RES[split].finditer(text)]
    if not ends or ends[-1] != len(text):
        ends.append(len(text))
    spans, start = [], 0
    for end in ends:
        if text[start:end].strip():
            spans.append((start, end))
        start = end
    return spans


def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    """Whole-word, case-insensitive pattern; inner whitespace of a phrase matches any run."""
    words = [re.escape(part) for part in keyword.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


def find_critical_spans(text: str, keywords: Sequence[str] | None = None) -> list[Span]:
    """Character spans of the critical words of `text`, in order of appearance.

    `keywords=None`: every number (math). Otherwise every whole-word, case-insensitive
    occurrence of every keyword (CSQA); each occurrence is one critical word.
    """
    # §3.2: M2 = numbers (math) or teacher keywords (CSQA), one entry per occurrence
    if keywords is None:
        return [match.span() for match in NUMBER_RE.finditer(text)]
    spans = {
        match.span()
        for keyword in keywords
        if keyword.strip()
        for match in _keyword_pattern(keyword).finditer(text)
    }
    return sorted(spans)


def _first_non_space(text: str, start: int, end: int) -> int | None:
    """Index of the first non-whitespace character of `text[start:end]`, or None."""
    for position in range(start, min(end, len(text))):
        if not text[position].isspace():
            return position
    return None


def step_and_critical_groups(
    text: str,
    offsets: Sequence[Sequence[int]],
    keywords: Sequence[str] | None = None,
    split: StepSplit = "periods",
) -> tuple[list[list[int]], list[list[int]]]:
    """Token indices of each step and of each critical word of `text` (paper §3.2; docs/paper-to-code.md).

    `offsets[i]` is token i's `(start, end)` character span in `text` (a fast tokenizer's
    offset mapping). Tokens with empty or whitespace-only spans are ignored; so give
    template or special tokens outside `text` the span `(0, 0)`. A token belongs to the
    step holding its first non-space character; a word's tokens are all tokens whose
    span overlaps it. Steps and words that get no token are dropped.
    """
    # §3.2, App. C: token-level membership from character spans
    step_spans = split_steps(text, split)
    word_spans = find_critical_spans(text, keywords)
    steps: list[list[int]] = [[] for _ in step_spans]
    words: list[list[int]] = [[] for _ in word_spans]
    for token, (start, end) in enumerate((int(s), int(e)) for s, e in offsets):
        first = _first_non_space(text, start, end)
        if first is None:
            continue
        for step, (step_start, step_end) in enumerate(step_spans):
            if step_start <= first < step_end:
                steps[step].append(token)
                break
        for word, (word_start, word_end) in enumerate(word_spans):
            if start < word_end and word_start < end:
                words[word].append(token)
    return [s for s in steps if s], [w for w in words if w]


# ---------------------------------------------------------------------------
# Stepwise attention (paper §3.2; paper §3.2)
# ---------------------------------------------------------------------------


def group_matrix(
    groups: Sequence[Sequence[int]],
    n: int,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """0/1 membership matrix `(len(groups), n)`: entry `[g, i] = 1` iff token i is in group g."""
    matrix = torch.zeros(len(groups), n, dtype=dtype, device=device)
    for row, tokens in enumerate(groups):
        matrix[row, torch.as_tensor(list(tokens), dtype=torch.long, device=device)] = 1
    return matrix


def stepwise_attention(
    attn: torch.Tensor, steps: Sequence[Sequence[int]], words: Sequence[Sequence[int]]
) -> torch.Tensor:
    """`A[..., a, b] = sum_{i in step a, j in word b} attn[..., i, j]`.

    `(..., N, N) -> (..., N1, N2)`. `attn` holds head-averaged attention probabilities (rows = queries). Differentiable;
    leading dimensions (layers, batch of one example's copies) share the grouping.
    """
    # §3.2: A_l[a, b] = sum_{i in M1_a} sum_{j in M2_b} I_l[i, j]
    n = attn.shape[-1]
    step_members = group_matrix(steps, n, attn.dtype, attn.device)  # (N1, N)
    word_members = group_matrix(words, n, attn.dtype, attn.device)  # (N2, N)
    return step_members @ attn @ word_members.T  # (N1, N) @ (..., N, N) @ (N, N2) -> (..., N1, N2)


# ---------------------------------------------------------------------------
# Mixture of Layers (paper §3.3, App. E; paper §3.3)
# ---------------------------------------------------------------------------


def column_gradient(A: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring critical words' columns.

    `(..., L, N1, N2) -> (..., L)`. A finite difference, not a backprop gradient. Zero where it is undefined (`N1 = 0` or `N2 < 2`).
    """
    # §3.3, App. E: G(A_l) = mean_{a, b<N2} |A_l[a, b+1] - A_l[a, b]|
    num_steps, num_words = A.shape[-2], A.shape[-1]
    count = num_steps * (num_words - 1)
    if count <= 0:
        return A.new_zeros(A.shape[:-2])
    differences = (A[..., 1:] - A[..., :-1]).abs()  # (..., L, N1, N2 - 1)
    return differences.sum(dim=(-2, -1)) / count


def teacher_layer_weights(A: torch.Tensor, tau: float) -> torch.Tensor:
    """Teacher layer weights `p_t = softmax(G(A_1..A_L) / tau)`; `(L, N1, N2) -> (L,)`, float32.

    [choice] paper §3.3: uniform weights when `N2 < 2` (G undefined).
    """
    # §3.3, App. E: p_t = softmax(G / tau1), tau1 = 0.1 in the paper
    if tau <= 0:
        raise ValueError(f"tau must be positive, got {tau}")
    num_layers = A.shape[-3]
    if A.shape[-1] < 2 or A.shape[-2] == 0:
        return torch.full(A.shape[:-2], 1.0 / num_layers, dtype=torch.float32, device=A.device)
    return torch.softmax(column_gradient(A.float()) / tau, dim=-1)


def mix_layers(A_layers: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """`A = sum_l weights[l] A_l`; `(..., L, N1, N2)` with `(..., L)` -> `(..., N1, N2)`."""
    # §3.3: A_t = sum_l p_t[l] A_t_l, A_s = sum_l p_s[l] A_s_l
    dtype = torch.promote_types(A_layers.dtype, weights.dtype)
    weighted = weights.to(dtype)[..., :, None, None] * A_layers.to(dtype)  # (..., L, N1, N2)
    return weighted.sum(dim=-3)


# ---------------------------------------------------------------------------
# Attention loss L_att (paper §3.3; paper §3.3)
# ---------------------------------------------------------------------------


def attention_loss(
    A_t: torch.Tensor,
    A_s: torch.Tensor,
    step_mask: torch.Tensor | None = None,
    word_mask: torch.Tensor | None = None,
    reduction: Literal["mean", "sum"] = "mean",
) -> torch.Tensor:
    """`L_att = mean over steps a of KL(softmax(A_t[a]) || softmax(A_s[a]))`, a scalar.

    `A_t`, `A_s`: `(N1, N2)` or `(B, N1, N2)`. The teacher side is a target: it is
    detached here, so no gradient ever reaches `A_t`. Row softmaxes in float32.
    Padded batches: `step_mask` `(B, N1)` drops padding steps from the mean, `word_mask`
    `(B, N2)` drops padding words from the softmaxes. The per-example mean over steps is
    averaged over the examples that have at least one step and one word; with none the
    loss is 0 (not NaN). `reduction="sum"` sums the per-example means instead (gradient
    accumulation divides by `attention_count` over the whole step).
    """
    # §3.3: L_att = 1/|M1| sum_a KL(softmax(A_t[a]) || softmax(A_s[a])), batch mean
    if A_t.shape != A_s.shape:
        raise ValueError(f"shape mismatch: teacher {tuple(A_t.shape)}, student {tuple(A_s.shape)}")
    unbatched = A_t.dim() == 2
    if unbatched:  # (N1, N2) -> (1, N1, N2); masks (N1,) / (N2,) -> (1, ...)
        A_t, A_s = A_t[None], A_s[None]
        step_mask = None if step_mask is None else step_mask[None]
        word_mask = None if word_mask is None else word_mask[None]
    batch, num_steps, num_words = A_s.shape
    ones = dict(dtype=torch.bool, device=A_s.device)
    steps_kept = torch.ones(batch, num_steps, **ones) if step_mask is None else step_mask.bool()
    words_kept = torch.ones(batch, num_words, **ones) if word_mask is None else word_mask.bool()

    has_word = words_kept.any(dim=-1, keepdim=True)  # (B, 1)
    rows_kept = steps_kept & has_word  # (B, N1)
    # Hide padding words with -inf, except in examples without any word (all rows dropped
    # below), so that no softmax sees a row of -inf only.
    hidden = (~words_kept & has_word)[:, None, :]  # (B, N2) -> (B, 1, N2)
    log_p_t = torch.log_softmax(A_t.detach().float().masked_fill(hidden, float("-inf")), dim=-1)
    log_p_s = torch.log_softmax(A_s.float().masked_fill(hidden, float("-inf")), dim=-1)
    # Hidden entries give 0 * (-inf - -inf) = NaN; `where` drops them and their gradient.
    terms = torch.where(hidden, 0.0, log_p_t.exp() * (log_p_t - log_p_s))  # (B, N1, N2)
    kl_rows = torch.where(rows_kept, terms.sum(dim=-1), 0.0)  # (B, N1)

    steps_per_example = rows_kept.sum(dim=-1)  # (B,)
    per_example = kl_rows.sum(dim=-1) / steps_per_example.clamp(min=1)  # (B,)
    if reduction == "sum":
        return per_example.sum()
    return per_example.sum() / (steps_per_example > 0).sum().clamp(min=1)


def attention_count(step_mask: torch.Tensor, word_mask: torch.Tensor) -> int:
    """How many examples `attention_loss` averages over: those with at least one step and one word.
    `step_mask` `(B, N1)`, `word_mask` `(B, N2)`."""
    return int((step_mask.bool().any(-1) & word_mask.bool().any(-1)).sum())
