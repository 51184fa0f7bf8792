"""bench/train_step.py times the pipeline's own training step, not a copy of it."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import torch

from mold.training import loop
from mold.training.distill import DistillLoss

BENCH = Path(__file__).resolve().parents[2] / "bench" / "train_step.py"


def test_bench_step_is_the_pipeline_train_step(monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_train_step", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    calls = []
    real = loop.train_step

    def spy(params, optimizer, scheduler, micro_batches, loss, precision, device):
        calls.append((loss, len(micro_batches), precision))
        return real(params, optimizer, scheduler, micro_batches, loss, precision, device)

    monkeypatch.setattr(loop, "train_step", spy)
    args = argparse.Namespace(shape="mini", layers=1, batch=4, seq=32, n_steps=3, n_words=4, attn="efficient",
                              precision="auto", grad_accum=2)
    step = bench.make_step(args, "molsaki", torch.device("cpu"))
    step()
    (loss, micro, precision), = calls
    assert isinstance(loss, DistillLoss) and loss.method.name == "molsaki" and loss.router is not None
    assert (micro, precision) == (2, "fp32")
