"""Offline presets only: train a tiny teacher from scratch on the gold rationales.

It is trained on exactly the prompts `generate.py` later sends it (instruction, few-shot
exemplars drawn at random from the train split, sometimes the phase-2 hint), with the loss
on the reply only, so the same generation, parsing and filtering code runs on it as on a hub LLM.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from mold.config import ExperimentConfig, GenerationSpec, TeacherPretrainSpec, TrainingSpec
from mold.data.prepared import read_prepared
from mold.data.schema import Example
from mold.training.batching import Batch, collate, encode, forward_logits
from mold.training.losses import target_count, target_cross_entropy
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
                  gen: GenerationSpec, max_length: int, device: torch.device):
    """Batches as a pure function of the step: each step draws examples from every task in turn."""
    flat = [(c, e) for c in corpora for e in c.examples if e.rationale]
    if not flat:
        raise ValueError("teacher pretraining needs training examples with gold rationales")

    def batch_for_step(step: int) -> list[Batch]:
        rng = random.Random(spec.seed * 1_000_003 + step)
        items = []
        for corpus, example in rng.sample(flat, min(spec.batch_size, len(flat))):
            prompt, reply = training_text(example, corpus, rng, gen, spec.hint_fraction)
            items.append(encode(tokenizer, prompt, reply, max_length))
        return [collate(items, tokenizer.pad_token_id).to(device)]

    return batch_for_step


class PretrainLoss:
    """Cross-entropy on the teacher's reply tokens, as the training step needs it (`StepLoss`)."""

    def __init__(self, model: PreTrainedModel) -> None:
        self.model = model

    def counts(self, batch: Batch) -> dict[str, int]:
        return {"pre": target_count(batch.labels)}

    def sums(self, batch: Batch) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        return {"pre": target_cross_entropy(forward_logits(self.model, batch), batch.labels, "sum")}, {}

    def compose(self, terms) -> torch.Tensor:
        return terms["pre"]


def pretrain_spec_as_training(spec: TeacherPretrainSpec) -> TrainingSpec:
    """About five checkpoints per run, on log boundaries (TrainingSpec's rule), never under 50 steps apart."""
    log_every = 25
    checkpoint_every = max(50, spec.steps // 5 // log_every * log_every)
    return TrainingSpec(steps=spec.steps, batch_size=spec.batch_size, lr=spec.lr, warmup_steps=min(100, spec.steps // 10),
                        max_length=512, checkpoint_every=checkpoint_every, log_every=log_every)


def tasks_taught_by(cfg: ExperimentConfig, model: str) -> list[str]:
    return sorted({t for p in cfg.pairs.values() if p.rationale_source == model for t in p.tasks})


def pretraining_examples(cfg: ExperimentConfig, task_key: str, rationales: str) -> list[Example]:
    """The task's prepared train examples, with gold rationales or with PaLM's (kept ones only)."""
    task = cfg.tasks[task_key]
    examples = read_prepared(cfg, task.train)
    if rationales == "gold":
        return examples
    from mold.data.palm import derive_keywords, load_palm_rationales

    spec = cfg.datasets[task.train]
    if getattr(spec, "name", None) not in ("svamp", "csqa"):
        raise ValueError(f"tasks.{task_key}: PaLM rationales exist for real svamp / csqa train sets, not {task.train!r}")
    records, _ = load_palm_rationales(spec.name, spec.split, cfg.resolved_data_dir(), ids={e.id for e in examples})
    rationale_of = {r.id: r.rationale for r in records}
    joined = []
    for example in examples:
        rationale = rationale_of.get(example.id)
        if rationale is None:  # PaLM got it wrong: no rationale to learn from
            continue
        keywords = derive_keywords(example.question, rationale, cfg.generation.num_keywords) if task.answer_kind == "choice" else None
        joined.append(example.model_copy(update={"rationale": rationale, "keywords": keywords}))
    return joined
