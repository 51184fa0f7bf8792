"""Offline presets only: train a tiny teacher from scratch on the gold rationales (issue 2 §4).

It is trained on exactly the prompts `generate.py` later sends it (instruction, few-shot
exemplars drawn at random from the train split, sometimes the phase-2 hint), with the loss
on the reply only, so the same generation, parsing and filtering code runs on it as on a hub LLM.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from mold.config import GenerationSpec, TeacherPretrainSpec, TrainingSpec
from mold.data.schema import Example
from mold.distill.batching import Batch, collate, encode, forward_logits
from mold.distill.losses import target_cross_entropy
from mold.teacher.prompts import Exemplar, build_prompt, format_reply


@dataclass(frozen=True)
class TeacherCorpus:
    """Gold-rationale training examples of one task."""

    answer_kind: str
    examples: list[Example]


def training_text(example: Example, corpus: TeacherCorpus, rng: random.Random, gen: GenerationSpec, hint_fraction: float) -> tuple[str, str]:
    """(prompt, reply) for one example, with random exemplars and maybe the hint line."""
    pool = [e for e in rng.sample(corpus.examples, min(len(corpus.examples), gen.few_shot + 1)) if e.id != example.id]
    exemplars = [Exemplar(e.question, e.rationale or "", e.answer, tuple(e.keywords or ())) for e in pool[: gen.few_shot]]
    hint = example.answer if rng.random() < hint_fraction else None
    prompt = build_prompt(example.question, exemplars, corpus.answer_kind, hint=hint, num_keywords=gen.num_keywords)
    reply = " " + format_reply(example.rationale or "", example.answer, corpus.answer_kind, tuple(example.keywords or ()))
    return prompt, reply


def make_batch_fn(corpora: list[TeacherCorpus], tokenizer: PreTrainedTokenizerBase, spec: TeacherPretrainSpec,
                  gen: GenerationSpec, max_length: int):
    """Batches as a pure function of the step: each step draws examples from every task in turn."""
    flat = [(c, e) for c in corpora for e in c.examples if e.rationale]
    if not flat:
        raise ValueError("teacher pretraining needs training examples with gold rationales")

    def batch_for_step(step: int) -> Batch:
        rng = random.Random(spec.seed * 1_000_003 + step)
        items = []
        for corpus, example in rng.sample(flat, min(spec.batch_size, len(flat))):
            prompt, reply = training_text(example, corpus, rng, gen, spec.hint_fraction)
            items.append(encode(tokenizer, prompt, reply, max_length))
        return collate(items, tokenizer.pad_token_id)

    return batch_for_step


def make_loss_fn(model: PreTrainedModel):
    def loss_fn(batch: Batch):
        device = next(model.parameters()).device
        batch = batch.to(device)
        logits = forward_logits(model, batch)
        return target_cross_entropy(logits, batch.labels), {}

    return loss_fn


def pretrain_spec_as_training(spec: TeacherPretrainSpec) -> TrainingSpec:
    """About five checkpoints per run, on log boundaries (TrainingSpec's rule), never under 50 steps apart."""
    log_every = 25
    checkpoint_every = max(50, spec.steps // 5 // log_every * log_every)
    return TrainingSpec(steps=spec.steps, batch_size=spec.batch_size, lr=spec.lr, warmup_steps=min(100, spec.steps // 10),
                        max_length=512, checkpoint_every=checkpoint_every, log_every=log_every)
