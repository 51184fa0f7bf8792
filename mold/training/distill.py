"""Distillation's building blocks: training items, micro-batches and the method's loss (paper Eq. 1, 7).

Which loss terms run is the method registry's answer (`mold.methods`); this module computes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mold import paths
from mold.config import ExperimentConfig, LossSpec
from mold.data.prepared import read_prepared
from mold.data.schema import RationaleRecord
from mold.io import DataError, read_jsonl
from mold.methods import Method
from mold.molsaki import attention_count
from mold.molsaki.attention import group_matrices
from mold.training.attention_loss import explain_with_attention
from mold.training.batching import Batch, Encoded, collate, encode, forward_logits
from mold.training.losses import mmi_count, mmi_loss, target_count, target_cross_entropy
from mold.training.loop import batch_indices, micro_slices
from mold.teacher.prompts import format_reply
from mold.training.teacher_targets import attach_targets


@dataclass
class TrainItem:
    predict: Encoded
    explain: Encoded | None = None
    steps: list[list[int]] | None = None  # student token groups of x (§3.2)
    words: list[list[int]] | None = None
    target: torch.Tensor | None = None  # teacher A_t: (N1, N2), already mixed or single-layer


@dataclass
class DistillBatch:
    predict: Batch
    explain: Batch | None
    attention: dict | None  # steps/words membership, masks, targets; see attention_batch()

    @property
    def tokens(self) -> int:
        return self.predict.tokens + (self.explain.tokens if self.explain is not None else 0)


def prompt(cue: str, question: str) -> str:
    return f"{cue}{question}\n"


def explain_target(record: RationaleRecord, answer_kind: str, with_answer: bool) -> str:
    """The explain task's target: the rationale, ending with 'The answer is X.' when `with_answer` (so the
    explain-then-answer evaluation can read the answer from what the student writes)."""
    return format_reply(record.rationale, record.answer, answer_kind) if with_answer else record.rationale


def build_items(cfg: ExperimentConfig, pair_key: str, task_key: str, method: Method, tokenizer) -> tuple[list[TrainItem], dict]:
    """Encode every training example for `method`; attach attention targets where it needs them."""
    pair, task = cfg.pairs[pair_key], cfg.tasks[task_key]
    max_len = pair.training.max_length
    if not method.needs_rationales:  # Vanilla: gold answers of the whole train split
        examples = read_prepared(cfg, task.train)
        return [TrainItem(encode(tokenizer, prompt(cfg.cues.predict, e.question), e.answer, max_len)) for e in examples], {"examples": len(examples)}
    rationales = paths.rationale_file(cfg, pair.rationale_source, task_key)
    records = read_jsonl(rationales, RationaleRecord, unique="id")
    if not records:
        raise DataError(rationales, None, None, f"no rationales kept for task {task_key} (the counts are in its "
                        f".summary.json); {method.label} needs at least one")
    items = [TrainItem(encode(tokenizer, prompt(cfg.cues.predict, r.question), r.answer, max_len),
                       encode(tokenizer, prompt(cfg.cues.explain, r.question),
                              explain_target(r, task.answer_kind, cfg.cues.answer_in_explain), max_len)) for r in records]
    stats = {"examples": len(items)}
    if method.needs_attention:
        stats |= attach_targets(cfg, pair_key, task_key, method, records, items, cfg.cues.explain)
    return items, stats


def attention_batch(items: list[TrainItem], length: int, device: torch.device) -> dict | None:
    if not any(it.target is not None for it in items):
        return None
    has = torch.tensor([it.target is not None for it in items], device=device)
    steps, step_mask = group_matrices([it.steps or [] for it in items], length, device)
    words, word_mask = group_matrices([it.words or [] for it in items], length, device)
    targets = torch.zeros(steps.shape[0], steps.shape[1], words.shape[1], device=device)
    for b, it in enumerate(items):
        if it.target is not None:
            targets[b, : it.target.shape[0], : it.target.shape[1]] = it.target
    return {"has": has, "steps": steps, "words": words, "step_mask": step_mask & has[:, None],
            "word_mask": word_mask, "targets": targets}


def collate_items(chosen: list[TrainItem], pad_id: int, device: torch.device) -> DistillBatch:
    predict = collate([it.predict for it in chosen], pad_id).to(device)
    if chosen[0].explain is None:
        return DistillBatch(predict, None, None)
    explain = collate([it.explain for it in chosen], pad_id).to(device)
    return DistillBatch(predict, explain, attention_batch(chosen, explain.input_ids.shape[1], device))


def make_batch_fn(items: list[TrainItem], batch_size: int, grad_accum_steps: int, seed: int, pad_id: int, device: torch.device):
    """Step -> its micro-batches: a pure function of (seed, step), whatever the accumulation."""
    def batch_for_step(step: int) -> list[DistillBatch]:
        indices = batch_indices(len(items), batch_size, step, seed)
        return [collate_items([items[i] for i in part], pad_id, device) for part in micro_slices(indices, grad_accum_steps)]

    return batch_for_step


class DistillLoss:
    """The method's loss as the training step needs it (`mold.training.loop.StepLoss`)."""

    def __init__(self, method: Method, student, spec: LossSpec, router=None) -> None:
        self.method, self.student, self.spec, self.router = method, student, spec, router

    def counts(self, batch: DistillBatch) -> dict[str, int]:
        counts = {"pre": target_count(batch.predict.labels)}
        if self.method.needs_rationales:
            counts["exp"] = target_count(batch.explain.labels)
        if "mmi" in self.method.terms:
            counts["mmi"] = mmi_count(batch.predict.labels, batch.explain.labels)
        if self.method.needs_attention:
            att = batch.attention
            counts["att"] = attention_count(att["step_mask"], att["word_mask"]) if att is not None else 0
        return counts

    def sums(self, batch: DistillBatch) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        method, metrics = self.method, {}
        predict_logits = forward_logits(self.student, batch.predict)
        sums = {"pre": target_cross_entropy(predict_logits, batch.predict.labels, "sum")}
        if not method.needs_rationales:
            return sums, metrics
        if method.needs_attention:
            explain_logits, sums["att"], metrics = explain_with_attention(self.student, batch, method, self.router, "sum")
        else:
            explain_logits = forward_logits(self.student, batch.explain)
        sums["exp"] = target_cross_entropy(explain_logits, batch.explain.labels, "sum")
        if "mmi" in method.terms:
            sums["mmi"] = mmi_loss(predict_logits, batch.predict.labels, explain_logits, batch.explain.labels, "sum")
        return sums, metrics

    def compose(self, terms) -> torch.Tensor:
        return self.method.compose(terms, self.spec)
