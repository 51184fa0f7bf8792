"""Stage `evaluate_student`: score one distilled student on its task's test sets (lm-eval)."""

from __future__ import annotations

import os

from mold import paths
from mold.config import ExperimentConfig
from mold.console import log
from mold.provenance import provenance


def run(cfg: ExperimentConfig, pair: str, task: str, method: str, seed: int) -> dict:
    task_key = task
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    from mold.evaluation.harness import evaluate_model, save_eval

    task = cfg.tasks[task_key]
    model_dir = paths.final_model_dir(cfg, pair, task_key, method, seed)
    tests = {d: paths.dataset_file(cfg, d) for d in task.tests}
    cues = {"predict": cfg.cues.predict, "explain": cfg.cues.explain}
    results = {
        mode: evaluate_model(model_dir, tests, task.answer_kind, cues[mode], cfg.evaluation,
                             paths.run_dir(cfg, pair, task_key, method, seed) / "lm_eval" / mode, mode=mode)
        for mode in cfg.evaluation.modes
    }
    scores = {mode: {d: {"acc": s["accuracy"], "n": s["n"]} for d, s in result["datasets"].items()}
              for mode, result in results.items()}
    out = paths.eval_file(cfg, pair, task_key, method, seed)
    record = {"pair": pair, "pair_label": cfg.pairs[pair].label, "task": task_key, "method": method, "seed": seed,
              "scores": scores, "provenance": provenance(cfg, list(tests.values()), seed=seed)}
    save_eval(record, results, out, paths.eval_samples_file(cfg, pair, task_key, method, seed))
    for mode, by_dataset in scores.items():
        log(f"{method} {task_key} seed {seed} {mode}: " + ", ".join(f"{d} {s['acc']:.3f}" for d, s in by_dataset.items()))
    return record
