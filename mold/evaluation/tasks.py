"""lm-eval task folders for mold's test sets: one YAML per test set, filled from one template.

A folder holds, per test set `<dataset>`: `<dataset>.jsonl` (the docs lm-eval reads, each
with its own scoring rule), the task YAML, and one shared `utils.py` (the `process_results`
hook). It loads with `TaskManager(include_path=folder)`.

Two evaluation modes (docs/paper-to-code.md "Explain targets and scoring"): `predict`, the answer task answered
directly (task `mold_<dataset>`, stop at the first newline); `explain`, the rationale task,
whose generated rationale ends with "The answer is X" (task `mold-explain_<dataset>`, its own
token budget, stop at a blank line); one hook reads the answer either way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from mold.config import EvalMode, EvalSpec
from mold.data.answers import AnswerKind
from mold.data.schema import Example
from mold.io import read_jsonl, write_jsonl_atomic, write_text_atomic

TEMPLATE_PATH = Path(__file__).with_name("task_template.yaml")
TASK_PREFIXES = {"predict": "mold_", "explain": "mold-explain_"}  # '-' is no dataset-key start: names never collide
STOP_STRINGS = {"predict": ("\n",), "explain": ("\n\n",)}
UTILS_SOURCE = "from mold.evaluation.lm_eval_utils import process_results  # noqa: F401\n"
DATASET_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
JINJA_DELIMITERS = ("{{", "{%", "{#", "}}", "%}", "#}")


def task_name(dataset: str, mode: EvalMode = "predict") -> str:
    """lm-eval task name of a test set in a mode: file name = task name (`mold_<dataset>`, `mold-explain_<dataset>`)."""
    if not DATASET_KEY_RE.match(dataset):
        raise ValueError(f"dataset key {dataset!r} is not file-safe")
    return TASK_PREFIXES[mode] + dataset


def max_gen_tokens(spec: EvalSpec, mode: EvalMode) -> int:
    return spec.max_gen_tokens if mode == "predict" else spec.explain_max_gen_tokens


def eval_doc(example: Example, answer_kind: AnswerKind, tolerance: float) -> dict:
    """One lm-eval doc: the example plus the rule that scores it."""
    return {
        "id": example.id,
        "question": example.question,
        "answer": example.answer,
        "answer_kind": answer_kind,
        "tolerance": tolerance,
        "num_choices": len(example.choices) if example.choices else None,
    }


def write_eval_jsonl(path: Path, examples: Iterable[Example], answer_kind: AnswerKind, tolerance: float) -> int:
    """Write the docs lm-eval reads for one test set; returns how many."""
    return write_jsonl_atomic(path, (eval_doc(ex, answer_kind, tolerance) for ex in examples))


def render_task_yaml(template: str, *, task: str, data_file: Path, cache_dir: Path, cue: str, max_gen_tokens: int,
                     until: tuple[str, ...] = STOP_STRINGS["predict"]) -> str:
    """Fill the template's @@KEY@@ placeholders with JSON-encoded values (valid YAML scalars)."""
    if any(d in cue for d in JINJA_DELIMITERS):
        raise ValueError(f"cue {cue!r} contains a Jinja delimiter")
    values = {
        "TASK": task,
        "DATA_FILE": str(data_file.resolve()),
        "CACHE_DIR": str(cache_dir.resolve()),
        "DOC_TO_TEXT": cue + "{{question}}\n",
        "MAX_GEN_TOKENS": max_gen_tokens,
        "UNTIL": list(until),
    }
    text = template
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", json.dumps(value))
    if leftover := re.findall(r"@@[A-Z_]+@@", text):
        raise ValueError(f"unfilled placeholders in task template: {sorted(set(leftover))}")
    return text


def write_task_dir(
    out_dir: Path, tests: dict[str, Path], answer_kind: AnswerKind, cue: str, spec: EvalSpec, mode: EvalMode = "predict"
) -> list[str]:
    """Write one lm-eval task per test set into `out_dir` for evaluation `mode` (`cue` is that mode's
    task prefix); returns the task names.

    `tests` maps dataset key -> mold dataset file (JSONL of `Example`). YAMLs left in
    `out_dir` by an earlier call for other test sets are removed, so the folder's tasks
    are exactly the returned ones.
    """
    out_dir = Path(out_dir)
    template = TEMPLATE_PATH.read_text(encoding="utf-8")
    names = []
    for dataset, source in tests.items():
        name = task_name(dataset, mode)
        data_file = out_dir / f"{dataset}.jsonl"
        write_eval_jsonl(data_file, read_jsonl(source, Example, unique="id", allow_empty=False), answer_kind, spec.tolerance)
        yaml_text = render_task_yaml(
            template, task=name, data_file=data_file, cache_dir=out_dir / "hf_datasets_cache",
            cue=cue, max_gen_tokens=max_gen_tokens(spec, mode), until=STOP_STRINGS[mode],
        )
        write_text_atomic(out_dir / f"{name}.yaml", yaml_text)
        names.append(name)
    write_text_atomic(out_dir / "utils.py", UTILS_SOURCE)
    for stale in out_dir.glob("*.yaml"):
        if stale.stem not in names:
            stale.unlink()
    return names
