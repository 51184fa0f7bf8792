"""`mold <stage> ...`: one subcommand per Snakemake rule (rule `distill_student` -> `mold distill-student`
-> `mold.stages.distill_student.run`), plus `validate` and `verify` (sha256 manifest of a result folder; compare two)."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from pathlib import Path

from mold.config import ConfigError, ExperimentConfig, load_config, preset_path
from mold.reproducibility import pin_cpu_kernels, requested_kernels

# verb -> the stage's required options; the module is mold.stages.<verb with underscores>
STAGES: dict[str, list[str]] = {
    "prepare-data": ["dataset"],
    "train-tokenizer": ["model"],
    "pretrain-teacher": ["model"],
    "generate-rationales": ["source", "task"],
    "extract-attention-targets": ["teacher", "source", "task"],
    "distill-student": ["pair", "task", "method", "seed"],
    "evaluate-student": ["pair", "task", "method", "seed"],
    "make-tables": [],
}


def _config(args: argparse.Namespace) -> ExperimentConfig:
    path = args.config or preset_path(args.preset)
    pin_cpu_kernels(requested_kernels(path))  # before validation, which may import torch (model classes are checked)
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
    for name, options in {"validate": [], **STAGES}.items():
        cmd = sub.add_parser(name)
        where = cmd.add_mutually_exclusive_group()
        where.add_argument("--preset", default="mini", help="a preset shipped in mold/presets (default: mini)")
        where.add_argument("--config", help="path to a config YAML instead of a preset")
        cmd.add_argument("--results-dir", help="override results_dir")
        for option in options:
            cmd.add_argument(f"--{option}", required=True, type=int if option == "seed" else str)
    return parser


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
    stop_on_sigterm()
    _setup_torch(cfg)
    stage = importlib.import_module(f"mold.stages.{args.command.replace('-', '_')}")
    stage.run(cfg, **{option: getattr(args, option) for option in STAGES[args.command]})
    return 0
