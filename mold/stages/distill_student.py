"""Stage `distill_student`: one (pair, task, method, seed) run, from data to a saved student."""

from __future__ import annotations

import random

import torch
from safetensors.torch import save_file

from mold import paths
from mold.config import ExperimentConfig
from mold.console import log
from mold.io import atomic_dir, write_json_atomic
from mold.methods import get_method
from mold.models.factory import default_device
from mold.models.loading import load_student
from mold.molsaki.attention import register
from mold.provenance import provenance
from mold.training.attention_loss import build_router
from mold.training.distill import DistillLoss, build_items, make_batch_fn
from mold.training.loop import clear_checkpoints, resolve_precision, train


def run(cfg: ExperimentConfig, pair: str, task: str, method: str, seed: int) -> dict:
    pair_key, task_key, method_name = pair, task, method
    pair, method = cfg.pairs[pair_key], get_method(method_name)
    torch.manual_seed(seed)
    random.seed(seed)
    implementation = register(cfg.loss.attention_impl) if method.needs_attention else "sdpa"
    student, tokenizer = load_student(cfg, pair.student, seed, implementation)
    items, stats = build_items(cfg, pair_key, task_key, method, tokenizer)
    router = build_router(student, cfg.loss).to(default_device()) if method.uses_router else None
    device = next(student.parameters()).device
    run_dir = paths.run_dir(cfg, pair_key, task_key, method_name, seed)
    training = pair.training
    history = train(student, training, run_dir, seed,
                    make_batch_fn(items, training.batch_size, training.grad_accum_steps, seed, tokenizer.pad_token_id, device),
                    DistillLoss(method, student, cfg.loss, router), extra_modules={"router": router} if router else None,
                    description=f"{method.label} {task_key} seed {seed}")
    out = paths.final_model_dir(cfg, pair_key, task_key, method_name, seed)
    with atomic_dir(out) as tmp:
        student.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        if router is not None:
            save_file({k: v.contiguous() for k, v in router.state_dict().items()}, tmp / "router.safetensors")
    summary = {"pair": pair_key, "task": task_key, "method": method_name, "seed": seed, "data": stats, "history": history,
               "loss": cfg.loss.model_dump(mode="json"),  # router variant, step split, taus of this run
               "precision": resolve_precision(training.precision, device),
               "provenance": provenance(cfg, seed=seed, student=cfg.models[pair.student].model_dump(mode="json"))}
    write_json_atomic(paths.train_log(cfg, pair_key, task_key, method_name, seed), summary)
    clear_checkpoints(run_dir)
    log(f"{method.label} {task_key} seed {seed}: final loss {history[-1]['loss']:.4f}")
    return summary
