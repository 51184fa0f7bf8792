"""Stage `generate_rationales`: the teacher writes a rationale per training question (§3.1), or the
shipped PaLM-540B rationales are taken (Table 3's hybrid setting)."""

from __future__ import annotations

import torch

from mold import paths
from mold.config import ExperimentConfig
from mold.console import log
from mold.data.prepared import read_prepared
from mold.data.schema import Example
from mold.io import write_json_atomic, write_jsonl_atomic
from mold.models.loading import load_teacher
from mold.provenance import provenance
from mold.teacher.generate import TeacherOutcome, run_teacher
from mold.teacher.prompts import PROMPT_VERSION, exemplars_for


def run(cfg: ExperimentConfig, source: str, task: str) -> dict:
    task_key, task = task, cfg.tasks[task]
    examples = read_prepared(cfg, task.train)
    if source == "palm":
        outcome = _palm_outcome(cfg, task.train, examples)
    else:
        torch.manual_seed(0)
        teacher, tokenizer = load_teacher(cfg, source)
        exemplars = exemplars_for(examples, task.answer_kind, cfg.generation.few_shot)
        outcome = run_teacher(teacher, tokenizer, examples, exemplars, task.answer_kind, cfg.generation, source,
                              cfg.evaluation.tolerance, cfg.models[source].prompt_format)
    total = len(examples)
    out = paths.rationale_file(cfg, source, task_key)
    write_jsonl_atomic(out.with_suffix(".dropped.jsonl"), outcome.dropped)
    write_jsonl_atomic(out, outcome.kept)
    summary = outcome.summary(total)
    inputs = [paths.dataset_file(cfg, task.train), out]
    write_json_atomic(paths.rationale_summary(cfg, source, task_key),
                      {**summary, "prompt_version": PROMPT_VERSION, "provenance": provenance(cfg, inputs, source=source, task=task_key)})
    log(f"rationales {source}/{task_key}: kept {summary['kept']}/{total}, dropped {summary['dropped_by_reason']}")
    return summary


def _palm_outcome(cfg: ExperimentConfig, train_dataset: str, examples: list[Example]) -> TeacherOutcome:
    """Hybrid setting (Table 3): PaLM-540B rationales shipped with the DSS data, for the prepared examples."""
    from mold.data.palm import load_palm_rationales

    spec = cfg.datasets[train_dataset]
    keep_wrong = cfg.generation.palm_rationales == "all"
    records, failures = load_palm_rationales(spec.name, spec.split, cfg.resolved_data_dir(), ids={e.id for e in examples},
                                             keep_wrong=keep_wrong)
    if keep_wrong:  # kept with the gold answer (DSS), so not dropped; the summary still counts them
        failures = {reason: count for reason, count in failures.items() if reason != "wrong_answer"}
    dropped = [{"id": None, "phase": 0, "reason": reason, "detail": "", "reply": "", "final": True}
               for reason, count in failures.items() for _ in range(count)]
    return TeacherOutcome(kept=records, dropped=dropped)
