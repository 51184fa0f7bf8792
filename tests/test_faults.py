"""Faults, each bounded: a stage killed with SIGKILL part-way (teacher pretraining, generation, extraction,
distillation, evaluation) and rerun ends byte-identical to an uninterrupted run; a damaged checkpoint is named
and the rerun redoes the job; a failed write (full disk) leaves no partial file; SIGTERM stops cleanly.

A tiny pipeline is run once in-process as the reference. Each fault runs one stage in a forked child (torch and
transformers already loaded: no start-up cost) on a copy of the reference's upstream outputs; the child pauses
at a chosen point (after a checkpoint, between generation phases, before an output is renamed into place) and
is killed there, so the kill always lands inside the stage.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
import yaml

from mold import paths
from mold.config import ExperimentConfig, preset_path
from mold.data.prepared import read_prepared
from mold.data.schema import RationaleRecord
from mold.io import DataError, write_jsonl_atomic
from mold.verify import build_manifest

PAIR, TASK, METHOD, SEED = "tiny", "math", "molsaki", 0


def tiny_config(results_dir: Path) -> ExperimentConfig:
    """The smoke preset cut to one task, one method and a few seconds per stage."""
    raw = yaml.safe_load(preset_path("smoke").read_text())
    raw["datasets"] = {"math_train": {**raw["datasets"]["math_train"], "num_examples": 16},
                       "math_test": {**raw["datasets"]["math_test"], "num_examples": 4}}
    raw["tasks"] = {"math": {"answer_kind": "number", "train": "math_train", "tests": ["math_test"]}}
    raw["models"]["teacher"]["pretrain"] |= {"steps": 100, "batch_size": 4}  # a checkpoint at step 50
    raw["models"]["teacher"]["tiny"] |= {"hidden_size": 16, "intermediate_size": 32, "max_positions": 192}
    raw["models"]["student"]["tiny"] |= {"hidden_size": 16, "max_positions": 128}
    raw["pairs"]["tiny"] |= {"tasks": ["math"], "methods": [METHOD]}
    raw["pairs"]["tiny"]["training"] |= {"steps": 10, "batch_size": 4, "max_length": 96, "checkpoint_every": 5}
    raw["generation"] |= {"max_new_tokens": 12, "batch_size": 16}
    raw["evaluation"] |= {"batch_size": 4, "max_gen_tokens": 4}
    raw |= {"results_dir": str(results_dir), "cpu_kernels": "native"}
    return ExperimentConfig.model_validate(raw)


def stage_calls(cfg: ExperimentConfig) -> dict:
    from mold.stages import (distill_student, evaluate_student, extract_attention_targets, generate_rationales,
                             pretrain_teacher)

    return {
        "pretrain_teacher": lambda: pretrain_teacher.run(cfg, "teacher"),
        "generate_rationales": lambda: generate_rationales.run(cfg, "teacher", TASK),
        "extract_attention_targets": lambda: extract_attention_targets.run(cfg, "teacher", "teacher", TASK, batch_size=8),
        "distill_student": lambda: distill_student.run(cfg, PAIR, TASK, METHOD, SEED),
        "evaluate_student": lambda: evaluate_student.run(cfg, PAIR, TASK, METHOD, SEED),
    }


def gold_rationales(cfg: ExperimentConfig) -> None:
    """The tiny teacher keeps few rationales; downstream faults use the gold ones (same file format)."""
    records = [RationaleRecord(id=e.id, question=e.question, answer=e.answer, rationale=e.rationale, phase=0, source="gold")
               for e in read_prepared(cfg, "math_train")]
    write_jsonl_atomic(paths.rationale_file(cfg, "teacher", TASK), records)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> ExperimentConfig:
    import torch

    from mold.stages import prepare_data, train_tokenizer

    torch.set_num_threads(1)  # as `mold <stage>` runs (threads: 1), and safe to fork
    cfg = tiny_config(tmp_path_factory.mktemp("reference"))
    for dataset in cfg.datasets:
        prepare_data.run(cfg, dataset)
    for model in cfg.models:
        train_tokenizer.run(cfg, model)
    calls = stage_calls(cfg)
    calls["pretrain_teacher"]()
    calls["generate_rationales"]()
    shutil.copytree(cfg.root / "rationales", cfg.root.parent / "teacher_rationales")
    gold_rationales(cfg)
    for stage in ("extract_attention_targets", "distill_student", "evaluate_student"):
        calls[stage]()
    return cfg


def copy_upstream(reference: ExperimentConfig, to: Path, stage: str) -> ExperimentConfig:
    """A fresh result folder holding the reference's outputs of the stages before `stage`."""
    order = ["prepare_data", "train_tokenizer", "pretrain_teacher", "generate_rationales", "extract_attention_targets",
             "distill_student", "evaluate_student"]
    folders = {"prepare_data": "data", "train_tokenizer": "tokenizers", "pretrain_teacher": "teachers",
               "generate_rationales": "rationales", "extract_attention_targets": "attention", "distill_student": "runs"}
    cfg = reference.model_copy(update={"results_dir": to})
    for upstream in order[: order.index(stage)]:
        shutil.copytree(reference.root / folders[upstream], cfg.root / folders[upstream], dirs_exist_ok=True)
    return cfg


def stage_artefacts(root: Path, stage: str) -> dict[str, str]:
    return {rel: entry["sha256"] for rel, entry in build_manifest(root)["artefacts"].items() if entry["stage"] == stage}


def run_until_paused(call, owner, name: str, *, pause_after: bool, when=None, on_pause=None, timeout: float = 300) -> int:
    """Run `call` in a forked child that pauses at the first call of `owner.name` (whose arguments satisfy
    `when`), after it returns or before it runs; then `on_pause(pid)` (default SIGKILL). Returns the exit code."""
    marker = Path(os.environ.get("TMPDIR", "/tmp")) / f"mold-pause-{os.getpid()}-{time.monotonic_ns()}"

    def child() -> None:
        original = getattr(owner, name)

        def pausing(*args, **kwargs):
            if when is not None and not when(*args):
                return original(*args, **kwargs)
            result = original(*args, **kwargs) if pause_after else None
            marker.touch()
            time.sleep(timeout)
            return result if pause_after else original(*args, **kwargs)

        setattr(owner, name, pausing)
        call()

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    deadline = time.monotonic() + timeout
    while not marker.exists() and process.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    reached = marker.exists()
    (on_pause or (lambda pid: os.kill(pid, signal.SIGKILL)))(process.pid)
    process.join(60)
    marker.unlink(missing_ok=True)
    assert reached, f"the stage never reached {name} (exit code {process.exitcode})"
    return process.exitcode


def writes_samples(source, destination) -> bool:
    return str(destination).endswith(".samples.jsonl")


def kill_then_rerun(reference, tmp_path, stage, owner, name, pause_after, check_killed, when=None):
    cfg = copy_upstream(reference, tmp_path, stage)
    if stage in ("extract_attention_targets", "distill_student", "evaluate_student"):
        gold_rationales(cfg)
    assert run_until_paused(stage_calls(cfg)[stage], owner, name, pause_after=pause_after, when=when) == -signal.SIGKILL
    check_killed(cfg)
    stage_calls(cfg)[stage]()
    expected = stage_artefacts(reference.root, stage)
    assert expected and stage_artefacts(cfg.root, stage) == expected


def test_kill_during_teacher_pretraining_resumes_to_the_same_bytes(reference, tmp_path):
    from mold.training import loop

    def resumable(cfg):  # killed after its step-50 checkpoint, before the final model
        work = paths.pretrained_teacher_dir(cfg, "teacher").with_name("teacher.work")
        assert (work / "latest").read_text() == "checkpoint-50"
        assert not paths.pretrained_teacher_dir(cfg, "teacher").exists()

    kill_then_rerun(reference, tmp_path, "pretrain_teacher", loop, "_save_checkpoint", True, resumable)


def test_kill_during_generation_reruns_to_the_same_bytes(reference, tmp_path):
    from mold.teacher import generate

    def nothing_written(cfg):  # killed after phase 1, before phase 2
        assert not paths.rationale_file(cfg, "teacher", TASK).parent.exists()

    # this stage's reference outputs are the teacher's own rationales, kept aside before the gold ones replaced them
    teacher_rationales = reference.root.parent / "teacher_rationales"
    cfg = copy_upstream(reference, tmp_path, "generate_rationales")
    assert run_until_paused(stage_calls(cfg)["generate_rationales"], generate, "generate_replies", pause_after=True) == -signal.SIGKILL
    nothing_written(cfg)
    stage_calls(cfg)["generate_rationales"]()
    for path in teacher_rationales.rglob("*.jsonl"):
        rel = path.relative_to(teacher_rationales)
        assert (cfg.root / "rationales" / rel).read_bytes() == path.read_bytes(), rel


def test_kill_during_extraction_reruns_to_the_same_bytes(reference, tmp_path):
    from mold.stages import extract_attention_targets as stage

    def no_index(cfg):
        assert not paths.attention_index(cfg, "teacher", "teacher", TASK).exists()

    kill_then_rerun(reference, tmp_path, "extract_attention_targets", stage, "teacher_targets", True, no_index)


def test_kill_during_distillation_resumes_to_the_same_bytes(reference, tmp_path):
    from mold.training import loop

    def resumable(cfg):
        run_dir = paths.run_dir(cfg, PAIR, TASK, METHOD, SEED)
        assert (run_dir / "latest").read_text() == "checkpoint-5" and not (run_dir / "final").exists()

    kill_then_rerun(reference, tmp_path, "distill_student", loop, "_save_checkpoint", True, resumable)


def test_kill_during_evaluation_write_leaves_no_partial_file_and_reruns_to_the_same_bytes(reference, tmp_path):
    import mold.io

    def no_partial_output(cfg):  # killed with the samples written to a temporary file, before the rename
        out = paths.eval_file(cfg, PAIR, TASK, METHOD, SEED)
        assert not out.exists() and not out.with_suffix(".samples.jsonl").exists()
        assert list(out.parent.glob(".seed0.samples.jsonl.*.tmp"))

    kill_then_rerun(reference, tmp_path, "evaluate_student", mold.io.os, "replace", False, no_partial_output, writes_samples)


def test_damaged_checkpoint_is_named_and_the_rerun_redoes_the_job(reference, tmp_path):
    from mold.training import loop

    cfg = copy_upstream(reference, tmp_path, "distill_student")
    gold_rationales(cfg)
    run_until_paused(stage_calls(cfg)["distill_student"], loop, "_save_checkpoint", pause_after=True)
    weights = paths.run_dir(cfg, PAIR, TASK, METHOD, SEED) / "checkpoint-5" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # truncated, as by a full disk
    with pytest.raises(DataError, match="checkpoint-5.*damaged checkpoint, removed"):
        stage_calls(cfg)["distill_student"]()
    stage_calls(cfg)["distill_student"]()
    assert stage_artefacts(cfg.root, "distill_student") == stage_artefacts(reference.root, "distill_student")


def test_sigterm_stops_cleanly_without_partial_files(reference, tmp_path):
    """SIGTERM (what a scheduler sends) runs the clean-up of the write in progress and exits with 128 + 15."""
    import mold.io
    from mold.cli import stop_on_sigterm

    cfg = copy_upstream(reference, tmp_path, "evaluate_student")
    gold_rationales(cfg)

    def evaluate():
        stop_on_sigterm()
        stage_calls(cfg)["evaluate_student"]()

    code = run_until_paused(evaluate, mold.io.os, "replace", pause_after=False, when=writes_samples,
                            on_pause=lambda pid: os.kill(pid, signal.SIGTERM))
    assert code == 128 + signal.SIGTERM
    out_dir = paths.eval_file(cfg, PAIR, TASK, METHOD, SEED).parent
    assert list(out_dir.iterdir()) == []  # the temporary samples file was removed on the way out


def test_full_disk_during_a_write_leaves_the_old_file_and_no_partial_one(tmp_path):
    target = tmp_path / "rationales.jsonl"
    target.write_text('{"id": "old"}\n')

    def records():
        yield {"id": "new-1"}
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_jsonl_atomic(target, records())
    assert target.read_text() == '{"id": "old"}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["rationales.jsonl"]


def test_full_disk_while_saving_a_model_leaves_no_partial_folder(tmp_path):
    import torch
    from safetensors.torch import save_file

    from mold.io import atomic_dir

    with pytest.raises(OSError, match="No space left"), atomic_dir(tmp_path / "final") as tmp:
        save_file({"w": torch.ones(3)}, tmp / "model.safetensors")
        raise OSError(errno.ENOSPC, "No space left on device")  # as the second file of the model would
    assert list(tmp_path.iterdir()) == []
