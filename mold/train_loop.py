"""The one training loop (teacher pretraining and every distillation method use it).

Resumable: every `checkpoint_every` steps the model, extra modules (e.g. the MoL router),
optimizer, scheduler and RNG state are written to `checkpoint-<step>/` (safetensors for
weights) and a `latest` pointer is swapped atomically; a restarted run continues from there
and, because batches are a pure function of (seed, step), sees exactly the batches it would have.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn
from transformers import get_linear_schedule_with_warmup

from mold.config import TrainingSpec
from mold.console import log, progress
from mold.io import write_json_atomic, write_text_atomic

LossFn = Callable[[object], tuple[torch.Tensor, dict[str, float]]]


def batch_indices(num_examples: int, batch_size: int, step: int, seed: int) -> list[int]:
    """Indices of the batch at `step`: consecutive slices of per-epoch seeded permutations."""
    start = step * batch_size
    out: list[int] = []
    while len(out) < batch_size:
        epoch, offset = divmod(start + len(out), num_examples)
        perm = torch.randperm(num_examples, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        out.extend(perm[offset : offset + batch_size - len(out)].tolist())
    return out


@dataclass
class TrainState:
    step: int = 0
    history: list[dict] = field(default_factory=list)


def _trainable(model: nn.Module, extra: dict[str, nn.Module]) -> list[nn.Parameter]:
    params = list(model.parameters())
    for module in extra.values():
        params += list(module.parameters())
    return [p for p in params if p.requires_grad]


def _save_checkpoint(run_dir: Path, model: nn.Module, extra: dict[str, nn.Module], optimizer, scheduler, state: TrainState) -> None:
    ckpt = run_dir / f"checkpoint-{state.step}"
    shutil.rmtree(ckpt, ignore_errors=True)
    ckpt.mkdir(parents=True)
    save_model(model, str(ckpt / "model.safetensors"))  # handles tied embeddings
    for name, module in extra.items():
        save_file({k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}, ckpt / f"{name}.safetensors")
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": torch.get_rng_state()}, ckpt / "trainer_state.pt")
    write_json_atomic(ckpt / "state.json", {"step": state.step, "history": state.history})
    write_text_atomic(run_dir / "latest", ckpt.name)
    for old in run_dir.glob("checkpoint-*"):
        if old != ckpt:
            shutil.rmtree(old, ignore_errors=True)


def _load_checkpoint(run_dir: Path, model: nn.Module, extra: dict[str, nn.Module], optimizer, scheduler) -> TrainState:
    pointer = run_dir / "latest"
    if not pointer.exists():
        return TrainState()
    ckpt = run_dir / pointer.read_text().strip()
    device = next(model.parameters()).device
    load_model(model, str(ckpt / "model.safetensors"), device=str(device))
    for name, module in extra.items():
        module.load_state_dict(load_file(ckpt / f"{name}.safetensors", device=str(device)))
    trainer = torch.load(ckpt / "trainer_state.pt", weights_only=True, map_location=device)
    optimizer.load_state_dict(trainer["optimizer"])
    scheduler.load_state_dict(trainer["scheduler"])
    torch.set_rng_state(trainer["rng"].cpu())
    saved = json.loads((ckpt / "state.json").read_text())
    log(f"resuming {run_dir} from step {saved['step']}")
    return TrainState(step=saved["step"], history=saved["history"])


def train(
    model: nn.Module,
    spec: TrainingSpec,
    run_dir: Path,
    seed: int,
    batch_for_step: Callable[[int], object],
    loss_fn: LossFn,
    extra_modules: dict[str, nn.Module] | None = None,
    description: str = "training",
) -> list[dict]:
    """Run `spec.steps` AdamW steps (linear warmup + decay); return the logged history."""
    extra = extra_modules or {}
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(_trainable(model, extra), lr=spec.lr, weight_decay=spec.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, spec.warmup_steps, spec.steps)
    state = _load_checkpoint(run_dir, model, extra, optimizer, scheduler)
    model.train()
    running: dict[str, float] = {}
    with progress(description, total=spec.steps) as advance:
        advance(state.step)
        while state.step < spec.steps:
            loss, metrics = loss_fn(batch_for_step(state.step))
            if not math.isfinite(loss.item()):
                raise FloatingPointError(f"{description}: loss is {loss.item()} at step {state.step}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(_trainable(model, extra), 1.0)
            optimizer.step()
            scheduler.step()
            state.step += 1
            for key, value in {"loss": loss.item(), **metrics}.items():
                running[key] = running.get(key, 0.0) + value
            if state.step % spec.log_every == 0 or state.step == spec.steps:
                count = spec.log_every if state.step % spec.log_every == 0 else state.step % spec.log_every
                state.history.append({"step": state.step, "lr": scheduler.get_last_lr()[0], **{k: v / count for k, v in running.items()}})
                running = {}
            if state.step % spec.checkpoint_every == 0 and state.step < spec.steps:
                _save_checkpoint(run_dir, model, extra, optimizer, scheduler, state)
            advance(1, info=f"loss {loss.item():.3f}")
    return state.history


def clear_checkpoints(run_dir: Path) -> None:
    """After the final model is saved, intermediate checkpoints are no longer needed."""
    for old in run_dir.glob("checkpoint-*"):
        shutil.rmtree(old, ignore_errors=True)
    (run_dir / "latest").unlink(missing_ok=True)
