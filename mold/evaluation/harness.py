"""Score a saved student on its test sets through lm-evaluation-harness, and save the result.

`evaluate_model` scores one evaluation mode (predict or explain; mold.evaluation.tasks) and
returns one JSON-ready dict:

    model_dir, mode, answer_kind, cue, eval_spec, device, lm_eval_version, eval_seconds
    datasets: {dataset: {task, accuracy, accuracy_stderr, n, n_total, test_file, test_sha256}}
    records:  {dataset: [{id, doc_id, prompt, response, extracted, gold, correct,
                          doc_hash, prompt_hash}]}
    lm_eval:  lm-eval's own output minus "samples" (results, configs, versions, n-samples,
              config, git_hash, date, environment and tokenizer info)
    lm_eval_samples: {dataset: [lm-eval's per-sample logs]}

`save_eval` splits the results of every mode: the JSON keeps everything but the per-sample
data (under `modes.<mode>`); the JSONL holds one line per sample, with its mode, our record
merged with lm-eval's log of it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path

from mold.config import EvalMode, EvalSpec
from mold.data.answers import AnswerKind
from mold.evaluation.lm_eval_utils import score_response
from mold.evaluation.tasks import write_task_dir
from mold.io import sha256_file, write_json_atomic, write_jsonl_atomic

PER_SAMPLE_KEYS = ("records", "lm_eval_samples")


def evaluate_model(
    model_dir: Path,
    tests: dict[str, Path],
    answer_kind: AnswerKind,
    cue: str,
    spec: EvalSpec,
    work_dir: Path,
    device: str | None = None,
    mode: EvalMode = "predict",
) -> dict:
    """Greedy accuracy of the checkpoint in `model_dir` on every test set in evaluation `mode`,
    prompted with `cue` (that mode's task prefix).

    `tests` maps dataset key -> mold dataset file (JSONL of `Example`); the lm-eval task
    folder is written under `work_dir/tasks`.
    """
    import lm_eval
    from lm_eval.tasks import TaskManager

    from mold.models.factory import default_device

    task_dir = Path(work_dir) / "tasks"
    names = dict(zip(tests, write_task_dir(task_dir, tests, answer_kind, cue, spec, mode), strict=True))
    device = device or str(default_device())
    start = time.perf_counter()
    raw = lm_eval.simple_evaluate(
        model="hf",
        model_args={"pretrained": str(model_dir)},
        batch_size=spec.batch_size,
        device=device,
        tasks=list(names.values()),
        task_manager=TaskManager(include_path=str(task_dir), include_defaults=False),
        log_samples=True,
        limit=spec.limit,
    )
    raw = json.loads(json.dumps(raw, default=str))  # plain JSON data from here on
    return {
        "model_dir": str(model_dir),
        "mode": mode,
        "answer_kind": answer_kind,
        "cue": cue,
        "eval_spec": spec.model_dump(mode="json"),
        "device": device,
        "lm_eval_version": version("lm_eval"),
        "eval_seconds": round(time.perf_counter() - start, 3),
        "datasets": {ds: dataset_summary(raw, name, tests[ds]) for ds, name in names.items()},
        "records": {ds: [sample_record(s) for s in raw["samples"][name]] for ds, name in names.items()},
        "lm_eval": {k: v for k, v in raw.items() if k != "samples"},
        "lm_eval_samples": {ds: raw["samples"][name] for ds, name in names.items()},
    }


def dataset_summary(raw: dict, task: str, test_file: Path) -> dict:
    """Accuracy (0-1) of one task from lm-eval's output, with its sample counts."""
    metrics, counts = raw["results"][task], raw["n-samples"][task]
    return {
        "task": task,
        "accuracy": metrics["acc,none"],
        "accuracy_stderr": metrics.get("acc_stderr,none"),
        "n": counts["effective"],
        "n_total": counts["original"],
        "test_file": str(test_file),
        "test_sha256": sha256_file(test_file),
    }


def sample_record(sample: dict) -> dict:
    """Our view of one lm-eval sample log: the exact prompt, the answer read, the verdict."""
    doc = sample["doc"]
    response = sample["filtered_resps"][0]
    extracted, _ = score_response(doc, response)
    return {
        "id": doc["id"],
        "doc_id": sample["doc_id"],
        "prompt": sample["arguments"][0][0],
        "response": response,
        "extracted": extracted,
        "gold": doc["answer"],
        "correct": bool(sample["acc"]),
        "doc_hash": sample["doc_hash"],
        "prompt_hash": sample["prompt_hash"],
    }


def save_eval(summary: dict, results: Mapping[str, dict], out_path: Path, samples_path: Path) -> None:
    """Write `summary` plus each mode's result without per-sample data (under `modes`) as JSON, and every
    sample of every mode as one JSONL line, atomically."""
    lines = (
        {"mode": mode, "dataset": ds, **record, "lm_eval": raw_sample}
        for mode, result in results.items()
        for ds, records in result["records"].items()
        for record, raw_sample in zip(records, result["lm_eval_samples"][ds], strict=True)
    )
    write_jsonl_atomic(samples_path, lines)
    modes = {mode: {k: v for k, v in result.items() if k not in PER_SAMPLE_KEYS} for mode, result in results.items()}
    write_json_atomic(out_path, {**summary, "modes": modes})
