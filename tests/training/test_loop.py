"""Tests of mold.training.loop: deterministic batches, resume equivalence, a loss that falls."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from mold.config import TrainingSpec
from mold.training.loop import batch_indices, clear_checkpoints, micro_slices, train

# ---------------------------------------------------------------------------
# batch_indices
# ---------------------------------------------------------------------------


def test_batch_indices_are_a_pure_function_of_the_arguments():
    first = [batch_indices(10, 4, step, seed=3) for step in range(6)]
    again = [batch_indices(10, 4, step, seed=3) for step in reversed(range(6))][::-1]
    assert first == again
    assert all(len(b) == 4 for b in first)


def test_batch_indices_cover_each_index_once_per_epoch():
    n, bs = 10, 4
    flat = [i for step in range(5) for i in batch_indices(n, bs, step, seed=0)]  # 20 = two epochs
    assert sorted(flat[:n]) == list(range(n))
    assert sorted(flat[n:]) == list(range(n))
    # A batch straddling the epoch boundary (step 2: positions 8..11) is the tail of
    # epoch 0's permutation followed by the head of epoch 1's.
    assert batch_indices(n, bs, 2, seed=0) == flat[8:12]


def test_batch_indices_divisible_and_batch_larger_than_data():
    assert sorted(batch_indices(4, 4, 0, seed=1)) == [0, 1, 2, 3]
    big = batch_indices(3, 7, 0, seed=1)  # 7 = epochs 0, 1 and one index of epoch 2
    assert len(big) == 7
    assert sorted(big[:3]) == sorted(big[3:6]) == [0, 1, 2]


def test_batch_indices_seed_changes_the_order_not_the_cover():
    a = [i for s in range(5) for i in batch_indices(10, 2, s, seed=0)]
    b = [i for s in range(5) for i in batch_indices(10, 2, s, seed=1)]
    assert sorted(a) == sorted(b) == list(range(10))
    assert a != b


# ---------------------------------------------------------------------------
# train: a tiny linear regression
# ---------------------------------------------------------------------------

N, D = 16, 3


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1234)
    x = torch.randn(N, D, generator=gen)
    y = x @ torch.tensor([[1.5], [-2.0], [0.5]]) + 0.3
    return x, y


def _model(seed: int) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(D, 1)


class Interrupt(Exception):
    pass


@dataclass
class Rows:
    x: torch.Tensor
    y: torch.Tensor

    @property
    def tokens(self) -> int:
        return len(self.x)


def _batch_fn(stop_at: int | None = None, seed: int = 0, accumulation: int = 1):
    x, y = _data()

    def batch_for_step(step: int):
        if stop_at is not None and step == stop_at:
            raise Interrupt(step)
        idx = batch_indices(N, 4, step, seed)
        return [Rows(x[part], y[part]) for part in micro_slices(idx, accumulation)]

    return batch_for_step


class SquaredError:
    """Mean squared error as a `StepLoss`: one term, averaged over rows; `extra` adds a second model."""

    def __init__(self, model: nn.Module, extra: nn.Module | None = None, scale: float = 1.0) -> None:
        self.model, self.extra, self.scale = model, extra, scale

    def counts(self, batch: Rows) -> dict[str, int]:
        return {"pre": len(batch.x)}

    def sums(self, batch: Rows):
        out = self.model(batch.x) + (self.extra(batch.x) if self.extra is not None else 0)
        sq = ((out - batch.y) ** 2).sum() * self.scale
        return {"pre": sq}, {"sq": (sq.item() / len(batch.x)) ** 2}

    def compose(self, terms):
        return terms["pre"]


def _loss_fn(model: nn.Module):
    return SquaredError(model)


def _spec(**kw) -> TrainingSpec:
    return TrainingSpec(**{"steps": 6, "checkpoint_every": 3, "log_every": 1, "lr": 1e-2, "batch_size": 4, **kw})


def test_training_moves_every_parameter_and_lowers_the_loss(tmp_path):
    model = _model(0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    spec = _spec(steps=40, checkpoint_every=100, lr=5e-2)
    history = train(model, spec, tmp_path, seed=0, batch_for_step=_batch_fn(), loss=_loss_fn(model))
    assert [h["step"] for h in history] == list(range(1, 41))
    for name, param in model.named_parameters():
        assert not torch.allclose(param, before[name]), f"{name} did not move"
    first, last = sum(h["loss"] for h in history[:5]) / 5, sum(h["loss"] for h in history[-5:]) / 5
    assert last < 0.5 * first
    # Linear decay, no warmup: lr after step k is lr * (steps - k) / steps.
    assert history[0]["lr"] == pytest.approx(5e-2 * 39 / 40)
    assert history[-1]["lr"] == pytest.approx(0.0)
    assert list(tmp_path.glob("checkpoint-*")) == []  # no checkpoint at the final step


def test_history_averages_over_log_window(tmp_path):
    model = _model(0)
    straight = train(model, _spec(log_every=1), tmp_path / "a", 0, _batch_fn(), _loss_fn(model))
    model = _model(0)
    windowed = train(model, _spec(log_every=4, checkpoint_every=8), tmp_path / "b", 0, _batch_fn(), _loss_fn(model))
    assert [h["step"] for h in windowed] == [4, 6]
    losses = [h["loss"] for h in straight]
    assert windowed[0]["loss"] == pytest.approx(sum(losses[:4]) / 4, rel=1e-6)
    assert windowed[1]["loss"] == pytest.approx(sum(losses[4:]) / 2, rel=1e-6)  # partial last window
    assert windowed[1]["sq"] == pytest.approx(sum(h["sq"] for h in straight[4:]) / 2, rel=1e-6)


def _straight_and_resumed(tmp_path, spec: TrainingSpec, stop_at: int):
    straight_model = _model(0)
    straight_hist = train(straight_model, spec, tmp_path / "straight", 0, _batch_fn(), _loss_fn(straight_model))

    run_dir = tmp_path / "resumed"
    first = _model(0)
    with pytest.raises(Interrupt):
        train(first, spec, run_dir, 0, _batch_fn(stop_at=stop_at), _loss_fn(first))
    resumed = _model(99)  # a fresh model with other weights: everything must come from the checkpoint
    resumed_hist = train(resumed, spec, run_dir, 0, _batch_fn(), _loss_fn(resumed))
    return straight_model, straight_hist, resumed, resumed_hist, run_dir


def test_resume_is_equivalent_to_a_straight_run(tmp_path):
    spec = _spec()
    straight, straight_hist, resumed, resumed_hist, run_dir = _straight_and_resumed(tmp_path, spec, stop_at=3)
    for (name, a), (_, b) in zip(straight.named_parameters(), resumed.named_parameters()):
        assert_close(b, a, rtol=0, atol=0, msg=f"{name} differs after resume")
    assert [h["step"] for h in resumed_hist] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(straight_hist, resumed_hist):
        assert b == pytest.approx(a, rel=1e-12)
    # The interrupted run left its step-3 checkpoint behind, pointed to by `latest`.
    assert (run_dir / "latest").read_text() == "checkpoint-3"
    assert json.loads((run_dir / "checkpoint-3" / "state.json").read_text())["step"] == 3
    clear_checkpoints(run_dir)
    assert not (run_dir / "latest").exists() and list(run_dir.glob("checkpoint-*")) == []


def test_only_the_latest_checkpoint_is_kept(tmp_path):
    model = _model(0)
    with pytest.raises(Interrupt):
        train(model, _spec(steps=10, checkpoint_every=2), tmp_path, 0, _batch_fn(stop_at=7), _loss_fn(model))
    assert [p.name for p in tmp_path.glob("checkpoint-*")] == ["checkpoint-6"]
    assert (tmp_path / "latest").read_text() == "checkpoint-6"


def test_resume_restores_extra_modules(tmp_path):
    def run(extra_seed: int, stop_at: int | None, run_dir):
        model, extra = _model(0), _model(extra_seed)

        loss_fn = SquaredError(model, extra)
        try:
            train(model, _spec(), run_dir, 0, _batch_fn(stop_at), loss_fn, extra_modules={"router": extra})
        except Interrupt:
            return None
        return model, extra

    straight = run(5, None, tmp_path / "s")
    assert run(5, 3, tmp_path / "r") is None
    resumed = run(77, None, tmp_path / "r")
    for a, b in zip([*straight[0].parameters(), *straight[1].parameters()], [*resumed[0].parameters(), *resumed[1].parameters()]):
        assert_close(b, a, rtol=0, atol=0)


def test_checkpoints_must_fall_on_log_boundaries():
    """A checkpoint inside a log window would lose that window's running sums on resume."""
    with pytest.raises(ValueError, match="multiple of log_every"):
        TrainingSpec(steps=6, batch_size=4, lr=1e-2, checkpoint_every=3, log_every=2)


def test_non_finite_loss_stops_training(tmp_path):
    model = _model(0)

    loss_fn = SquaredError(model, scale=float("nan"))
    with pytest.raises(FloatingPointError, match="loss is nan at step 0"):
        train(model, _spec(), tmp_path, 0, _batch_fn(), loss_fn)


def test_accumulation_equals_one_big_batch(tmp_path):
    """4 rows in one micro-batch and the same 4 rows in 4 micro-batches of 1 give the same weights."""
    runs = []
    for accumulation in (1, 4):
        model = _model(0)
        train(model, _spec(), tmp_path / str(accumulation), 0, _batch_fn(accumulation=accumulation), _loss_fn(model))
        runs.append(model)
    for a, b in zip(runs[0].parameters(), runs[1].parameters()):
        assert_close(b, a, rtol=1e-6, atol=1e-7)


def test_micro_slices_split_in_order():
    assert micro_slices([5, 6, 7, 8, 9], 2) == [[5, 6, 7], [8, 9]]
    assert micro_slices([1, 2, 3, 4], 4) == [[1], [2], [3], [4]]
