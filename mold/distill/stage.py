"""The distillation stage: one (pair, task, method, seed) run, from data to a saved student."""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from safetensors.torch import save_file

from mold import paths
from mold.config import ExperimentConfig
from mold.console import log
from mold.data.schema import RationaleRecord
from mold.distill.attention_loss import build_router, explain_with_attention
from mold.distill.attention_targets import attach_targets
from mold.distill.batching import Batch, Encoded, collate, encode, forward_logits
from mold.distill.losses import dss_loss, mmi_loss, target_cross_entropy
from mold.distill.methods import Method, get_method
from mold.distill.student_attention import attention_implementation, group_matrices
from mold.io import atomic_dir, read_jsonl, write_json_atomic
from mold.models.factory import build_tiny_model, default_device, load_pretrained
from mold.models.tokenizers import load_tokenizer
from mold.prepare import read_prepared
from mold.provenance import provenance
from mold.train_loop import batch_indices, clear_checkpoints, train


@dataclass
class TrainItem:
    predict: Encoded
    explain: Encoded | None = None
    steps: list[list[int]] | None = None  # student token groups of x (SPEC §4)
    words: list[list[int]] | None = None
    target: torch.Tensor | None = None  # teacher A_t: (N1, N2), already mixed or single-layer


@dataclass
class DistillBatch:
    predict: Batch
    explain: Batch | None
    attention: dict | None  # steps/words membership, masks, targets; see attention_batch()


def _prompt(cue: str, question: str) -> str:
    return f"{cue}{question}\n"


def build_items(cfg: ExperimentConfig, pair_key: str, task_key: str, method: Method, tokenizer) -> tuple[list[TrainItem], dict]:
    """Encode every training example for `method`; attach attention targets where it needs them."""
    pair, task = cfg.pairs[pair_key], cfg.tasks[task_key]
    max_len = pair.training.max_length
    if not method.uses_rationales:  # Vanilla: gold answers of the whole train split
        examples = read_prepared(cfg, task.train)
        return [TrainItem(encode(tokenizer, _prompt(cfg.cues.predict, e.question), e.answer, max_len)) for e in examples], {"examples": len(examples)}
    records = read_jsonl(paths.rationale_file(cfg, pair.rationale_source, task_key), RationaleRecord)
    items = [TrainItem(encode(tokenizer, _prompt(cfg.cues.predict, r.question), r.answer, max_len),
                       encode(tokenizer, _prompt(cfg.cues.explain, r.question), r.rationale, max_len)) for r in records]
    stats = {"examples": len(items)}
    if method.uses_attention:
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


def make_batch_fn(items: list[TrainItem], batch_size: int, seed: int, pad_id: int, device: torch.device):
    def batch_for_step(step: int) -> DistillBatch:
        chosen = [items[i] for i in batch_indices(len(items), batch_size, step, seed)]
        predict = collate([it.predict for it in chosen], pad_id).to(device)
        if chosen[0].explain is None:
            return DistillBatch(predict, None, None)
        explain = collate([it.explain for it in chosen], pad_id).to(device)
        return DistillBatch(predict, explain, attention_batch(chosen, explain.input_ids.shape[1], device))

    return batch_for_step


def make_loss_fn(method: Method, student, cfg: ExperimentConfig, router=None):
    spec = cfg.loss

    def loss_fn(batch: DistillBatch):
        predict_logits = forward_logits(student, batch.predict)
        loss_pre = target_cross_entropy(predict_logits, batch.predict.labels)
        if method.kind == "vanilla":
            return loss_pre, {"L_pre": loss_pre.item()}
        if method.uses_attention:
            explain_logits, loss_att, extra = explain_with_attention(student, batch, method, router, spec.tau2)
        else:
            explain_logits = forward_logits(student, batch.explain)
            loss_att, extra = None, {}
        loss_exp = target_cross_entropy(explain_logits, batch.explain.labels)
        loss = dss_loss(loss_pre, loss_exp, spec.alpha)
        metrics = {"L_pre": loss_pre.item(), "L_exp": loss_exp.item(), **extra}
        if method.kind == "mmi":
            loss_mmi = mmi_loss(predict_logits, batch.predict.labels, explain_logits, batch.explain.labels)
            loss = loss + spec.mmi_beta * loss_mmi
            metrics["L_MMI"] = loss_mmi.item()
        if loss_att is not None:
            loss = loss + spec.molsaki_beta * loss_att
            metrics["L_att"] = loss_att.item()
        return loss, metrics

    return loss_fn


def load_student(cfg: ExperimentConfig, model_key: str, seed: int, attn_implementation: str):
    spec = cfg.models[model_key]
    tokenizer = load_tokenizer(spec, paths.tokenizer_dir(cfg, model_key) if spec.tiny else None)
    if spec.tiny is not None:
        student = build_tiny_model(spec, tokenizer, seed=seed, attn_implementation=attn_implementation)
    else:
        student = load_pretrained(spec, attn_implementation=attn_implementation)
    return student.to(default_device()), tokenizer


def run_distillation(cfg: ExperimentConfig, pair_key: str, task_key: str, method_name: str, seed: int) -> dict:
    pair, method = cfg.pairs[pair_key], get_method(method_name)
    torch.manual_seed(seed)
    random.seed(seed)
    implementation = attention_implementation(cfg.loss.attention_impl) if method.uses_attention else "sdpa"
    student, tokenizer = load_student(cfg, pair.student, seed, implementation)
    items, stats = build_items(cfg, pair_key, task_key, method, tokenizer)
    router = None
    if method.kind == "molsaki":
        router = build_router(student, cfg.loss).to(default_device())
    device = next(student.parameters()).device
    run_dir = paths.run_dir(cfg, pair_key, task_key, method_name, seed)
    history = train(student, pair.training, run_dir, seed,
                    make_batch_fn(items, pair.training.batch_size, seed, tokenizer.pad_token_id, device),
                    make_loss_fn(method, student, cfg, router), extra_modules={"router": router} if router else None,
                    description=f"{method.display} {task_key} seed {seed}")
    out = paths.final_model_dir(cfg, pair_key, task_key, method_name, seed)
    with atomic_dir(out) as tmp:
        student.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        if router is not None:
            save_file({k: v.contiguous() for k, v in router.state_dict().items()}, tmp / "router.safetensors")
    summary = {"pair": pair_key, "task": task_key, "method": method_name, "seed": seed, "data": stats, "history": history,
               "provenance": provenance(cfg, seed=seed, student=cfg.models[pair.student].model_dump(mode="json"))}
    write_json_atomic(run_dir / "train_log.json", summary)
    clear_checkpoints(run_dir)
    log(f"{method.display} {task_key} seed {seed}: final loss {history[-1]['loss']:.4f}")
    return summary
