"""The one training loop and the one training step (teacher pretraining, every method, bench/).

`train_step` is what runs on the GPU: micro-batches under the precision policy, each term of the
loss normalised by its count over the whole step (so batch 4 × accumulation 1 ≡ batch 1 ×
accumulation 4), gradient clipping at 1.0, one AdamW step.

`train` is resumable: every `checkpoint_every` steps the model, extra modules (e.g. the MoL router),
optimizer, scheduler and RNG state are written to `checkpoint-<step>/` (safetensors for weights) and a
`latest` pointer is swapped atomically; a restarted run continues from there and, because batches are
a pure function of (seed, step), sees exactly the batches it would have.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn
from transformers import get_linear_schedule_with_warmup

from mold.config import TrainingSpec
from mold.console import log, progress
from mold.io import DataError, read_safetensors, write_json_atomic, write_text_atomic

GRAD_CLIP = 1.0  # max grad norm (HF / DSS default; docs/paper-to-code.md)


class StepLoss(Protocol):
    """A loss the step can split over micro-batches: per-term sums, their counts, and a linear composition."""

    def counts(self, batch) -> Mapping[str, int]:
        """How many items each term averages over in `batch` (target tokens, rows, examples)."""

    def sums(self, batch) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        """Each term summed over `batch`'s items, and extra metrics (means over the micro-batch)."""

    def compose(self, terms: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The loss from the per-term means; must be linear in them (micro-batch losses then add up exactly)."""


def resolve_precision(precision: str, device: torch.device) -> str:
    """`auto`: bf16-mixed on CUDA, fp32 elsewhere."""
    if precision == "auto":
        return "bf16-mixed" if device.type == "cuda" else "fp32"
    return precision


def autocast(precision: str, device: torch.device):
    """bf16-mixed: autocast to bf16 for the forward; weights, gradients and optimizer state stay fp32."""
    if precision == "bf16-mixed":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def enable_tf32() -> None:
    """TF32 matmuls on GPUs that have them (fp32 steps and autocast's fp32 regions)."""
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


@dataclass
class StepResult:
    loss: torch.Tensor  # detached total loss of the step
    terms: dict[str, torch.Tensor]  # detached per-term means over the step
    metrics: dict[str, float]
    tokens: int  # input tokens processed (real, not padding)


def train_step(params: Sequence[nn.Parameter], optimizer, scheduler, micro_batches: Sequence, loss: StepLoss,
               precision: str, device: torch.device) -> StepResult:
    """One optimizer step over `micro_batches` (gradient accumulation), under `precision`."""
    totals: Counter[str] = Counter()
    for batch in micro_batches:
        totals.update(loss.counts(batch))
    optimizer.zero_grad(set_to_none=True)
    step_loss, terms, metrics = torch.zeros((), device=device), {}, Counter()
    for batch in micro_batches:
        with autocast(precision, device):
            sums, extra = loss.sums(batch)
        means = {k: s / max(totals[k], 1) for k, s in sums.items()}  # this micro-batch's share of each term's mean
        micro_loss = loss.compose(means)
        micro_loss.backward()
        step_loss += micro_loss.detach()
        for key, value in means.items():
            terms[key] = terms.get(key, 0.0) + value.detach()
        metrics.update({k: v / len(micro_batches) for k, v in extra.items()})
    torch.nn.utils.clip_grad_norm_(params, GRAD_CLIP)
    optimizer.step()
    scheduler.step()
    tokens = sum(int(batch.tokens) for batch in micro_batches)
    return StepResult(step_loss, terms, dict(metrics), tokens)


def batch_indices(num_examples: int, batch_size: int, step: int, seed: int) -> list[int]:
    """Indices of the batch at `step`: consecutive slices of per-epoch seeded permutations."""
    start = step * batch_size
    out: list[int] = []
    while len(out) < batch_size:
        epoch, offset = divmod(start + len(out), num_examples)
        perm = torch.randperm(num_examples, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        out.extend(perm[offset : offset + batch_size - len(out)].tolist())
    return out


def micro_slices(indices: list[int], grad_accum_steps: int) -> list[list[int]]:
    """Split one step's example indices into `grad_accum_steps` consecutive micro-batches."""
    size = math.ceil(len(indices) / grad_accum_steps)
    return [indices[i : i + size] for i in range(0, len(indices), size)]


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
    try:
        for path in [ckpt / "model.safetensors", *(ckpt / f"{name}.safetensors" for name in extra)]:
            read_safetensors(path, require_finite=False)  # integrity only: a diverged run is not damaged
        trainer = torch.load(ckpt / "trainer_state.pt", weights_only=True, map_location=device)
    except (DataError, OSError, RuntimeError, EOFError) as err:
        # Discard the damaged checkpoint so that the rerun redoes the job from step 0 (same bytes: batches are
        # a function of the step and the seed).
        pointer.unlink()
        shutil.rmtree(ckpt, ignore_errors=True)
        raise DataError(ckpt, None, None, f"damaged checkpoint, removed; a rerun starts this job from step 0 ({err})") from err
    load_model(model, str(ckpt / "model.safetensors"), device=str(device))
    for name, module in extra.items():
        module.load_state_dict(load_file(ckpt / f"{name}.safetensors", device=str(device)))
    optimizer.load_state_dict(trainer["optimizer"])
    scheduler.load_state_dict(trainer["scheduler"])
    torch.set_rng_state(trainer["rng"].cpu())
    saved = json.loads((ckpt / "state.json").read_text())
    log(f"resuming {run_dir} from step {saved['step']}")
    return TrainState(step=saved["step"], history=saved["history"])


def build_optimizer(params: Sequence[nn.Parameter], spec: TrainingSpec):
    """AdamW with linear warmup then linear decay (DSS: no warmup)."""
    optimizer = torch.optim.AdamW(params, lr=spec.lr, weight_decay=spec.weight_decay)
    return optimizer, get_linear_schedule_with_warmup(optimizer, spec.warmup_steps, spec.steps)


def train(
    model: nn.Module,
    spec: TrainingSpec,
    run_dir: Path,
    seed: int,
    batch_for_step: Callable[[int], Sequence],
    loss: StepLoss,
    extra_modules: dict[str, nn.Module] | None = None,
    description: str = "training",
) -> list[dict]:
    """Run `spec.steps` steps of `train_step` on `batch_for_step(step)`'s micro-batches; return the logged history."""
    extra = extra_modules or {}
    torch.manual_seed(seed)
    device = next(model.parameters()).device
    precision = resolve_precision(spec.precision, device)
    enable_tf32()
    params = _trainable(model, extra)
    optimizer, scheduler = build_optimizer(params, spec)
    state = _load_checkpoint(run_dir, model, extra, optimizer, scheduler)
    model.train()
    running: dict[str, torch.Tensor | float] = {}
    tokens, started = 0, time.perf_counter()
    with progress(f"{description} ({precision})", total=spec.steps) as advance:
        advance(state.step)
        while state.step < spec.steps:
            result = train_step(params, optimizer, scheduler, batch_for_step(state.step), loss, precision, device)
            value = result.loss.item()  # one sync per step
            if not math.isfinite(value):
                raise FloatingPointError(f"{description}: loss is {value} at step {state.step}")
            state.step += 1
            tokens += result.tokens
            for key, term in {"loss": result.loss, **{f"L_{k}": v for k, v in result.terms.items()}, **result.metrics}.items():
                running[key] = running.get(key, 0.0) + term
            if state.step % spec.log_every == 0 or state.step == spec.steps:
                count = spec.log_every if state.step % spec.log_every == 0 else state.step % spec.log_every
                state.history.append({"step": state.step, "lr": scheduler.get_last_lr()[0],
                                      **{k: float(v) / count for k, v in running.items()}})
                elapsed = time.perf_counter() - started
                log(f"{description}: step {state.step}, loss {state.history[-1]['loss']:.4f}, {tokens / elapsed:.0f} tokens/s")
                running, tokens, started = {}, 0, time.perf_counter()
            if state.step % spec.checkpoint_every == 0 and state.step < spec.steps:
                _save_checkpoint(run_dir, model, extra, optimizer, scheduler, state)
            advance(1, info=f"loss {value:.3f}")
    return state.history


def clear_checkpoints(run_dir: Path) -> None:
    """After the final model is saved, intermediate checkpoints are no longer needed."""
    for old in run_dir.glob("checkpoint-*"):
        shutil.rmtree(old, ignore_errors=True)
    (run_dir / "latest").unlink(missing_ok=True)
