"""`mold <stage> ...`: one subcommand per Snakemake rule (rule `distill_student` -> `mold distill-student`
-> `mold.stages.distill_student.run`), plus `validate`, `verify` (sha256 manifest of a result folder; compare two),
`bundle` and `unbundle` (docs/bundles.md)."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from pathlib import Path

from mold.config import ConfigError, ExperimentConfig, load_config, preset_path
from mold.data.fetch import ChecksumError, MissingDataError
from mold.gpus import GpuClaim, claim_for_job
from mold.reproducibility import pin_cpu_kernels, requested_kernels

# verb -> the stage's required options; the module is mold.stages.<verb with underscores>
STAGES: dict[str, list[str]] = {
    "fetch-data": [],
    "prepare-data": ["dataset"],
    "fetch-model": ["model"],
    "train-tokenizer": ["model"],
    "pretrain-teacher": ["model"],
    "generate-rationales": ["source", "task"],
    "extract-attention-targets": ["teacher", "source", "task"],
    "distill-student": ["pair", "task", "method", "seed"],
    "evaluate-student": ["pair", "task", "method", "seed"],
    "make-tables": [],
}
OPTIONAL: dict[str, list[str]] = {"fetch-data": ["benchmark"]}  # fetch-data alone: every benchmark of the preset
NO_TORCH = {"fetch-data"}  # stages that compute nothing with torch: no kernel pins or threads to set
GPU_CLAIM: GpuClaim | None = None  # this job's devices (mold.gpus), held for the process's life


def _config(args: argparse.Namespace) -> ExperimentConfig:
    path = args.config or preset_path(args.preset)
    if "torch" not in sys.modules:  # pin before validation, which imports torch (model classes are checked)
        pin_cpu_kernels(requested_kernels(path))
    cfg = load_config(path)
    return cfg.model_copy(update={"results_dir": Path(args.results_dir)}) if args.results_dir else cfg


def _setup_torch(cfg: ExperimentConfig) -> None:
    """Pin the CPU kernels (before torch loads) and the thread count: both are part of the numbers, so
    both come from the config, never from the scheduler (MOLD_THREADS is what Snakemake granted)."""
    pin_cpu_kernels(cfg.cpu_kernels)
    import torch

    granted = os.environ.get("MOLD_THREADS")
    if granted and int(granted) != cfg.threads:
        print(f"note: the scheduler granted {granted} cores; running the config's threads={cfg.threads} "
              "so that the numbers do not depend on scheduling", file=sys.stderr)
    torch.set_num_threads(cfg.threads)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


def stop_on_sigterm() -> None:
    """SIGTERM (what schedulers send) unwinds like Ctrl-C: writes in progress remove their temporary files,
    and the process exits with 128 + 15."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def _validate(cfg: ExperimentConfig) -> None:
    from mold import paths

    print(f"{cfg.name}: valid; {len(paths.all_eval_files(cfg))} distillation runs")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mold", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    verify = sub.add_parser("verify", help="write ROOT/manifest.json; with OTHER, compare and name the first stage that differs")
    verify.add_argument("root", type=Path, help="a preset's result folder, e.g. results/smoke")
    verify.add_argument("other", type=Path, nargs="?", help="another result folder or its manifest.json")
    for name, options in {"validate": [], "bundle": [], "unbundle": [], **STAGES}.items():
        cmd = sub.add_parser(name)
        where = cmd.add_mutually_exclusive_group()
        where.add_argument("--preset", default="mini", help="a preset shipped in mold/presets (default: mini)")
        where.add_argument("--config", help="path to a config YAML instead of a preset")
        cmd.add_argument("--results-dir", help="override results_dir")
        for option in options:
            cmd.add_argument(f"--{option}", required=True, type=int if option == "seed" else str)
        for option in OPTIONAL.get(name, []):
            cmd.add_argument(f"--{option}")
        if name == "bundle":
            cmd.add_argument("--out", help="bundle file (default: <results_dir>/<preset>.bundle.tar)")
            cmd.add_argument("--students", action="store_true", help="also the students' final weights and logs")
        if name == "unbundle":
            cmd.add_argument("bundle", help="a file made by `mold bundle`")
    return parser


def _fail(command: str, err: Exception, code: int) -> int:
    """An error whose message tells the user what to do: printed without a traceback; the exit code."""
    print(f"mold {command}: {err}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "verify":
        from mold.verify import verify_command

        return verify_command(args.root, args.other)
    try:
        cfg = _config(args)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    if args.command == "validate":
        _validate(cfg)
        return 0
    if args.command in ("bundle", "unbundle"):
        from mold.bundle import make_bundle, restore_bundle

        try:
            if args.command == "bundle":
                make_bundle(cfg, Path(args.out or cfg.results_dir / f"{cfg.name}.bundle.tar"), students=args.students)
            else:
                restore_bundle(cfg, Path(args.bundle))
        except (ValueError, OSError) as err:
            return _fail(args.command, err, 1)
        return 0
    stop_on_sigterm()
    global GPU_CLAIM
    GPU_CLAIM = claim_for_job()  # before torch starts CUDA; held until this process ends
    if args.command not in NO_TORCH:
        _setup_torch(cfg)
    stage = importlib.import_module(f"mold.stages.{args.command.replace('-', '_')}")
    from mold.models.sources import ModelSourceError

    options = [*STAGES[args.command], *OPTIONAL.get(args.command, [])]
    try:
        stage.run(cfg, **{option: getattr(args, option) for option in options})
    except (ChecksumError, MissingDataError) as err:  # a user's next step, not a bug: no traceback
        return _fail(args.command, err, 1)
    except ModelSourceError as err:  # missing / corrupt / unfetchable weights: the message says what to do
        return _fail(args.command, err, 2)
    return 0
