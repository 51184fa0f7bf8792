"""`mold <stage> ...`: one subcommand per Snakemake rule (rule `distill_student` -> `mold distill-student`
-> `mold.stages.distill_student.run`), plus `validate`."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from mold.config import ConfigError, ExperimentConfig, load_config, preset_path

# verb -> the stage's required options; the module is mold.stages.<verb with underscores>
STAGES: dict[str, list[str]] = {
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


def _config(args: argparse.Namespace) -> ExperimentConfig:
    cfg = load_config(args.config or preset_path(args.preset))
    return cfg.model_copy(update={"results_dir": Path(args.results_dir)}) if args.results_dir else cfg


def _setup_torch(cfg: ExperimentConfig) -> None:
    import torch

    torch.set_num_threads(int(os.environ.get("MOLD_THREADS", cfg.threads)))
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


def _validate(cfg: ExperimentConfig) -> None:
    from mold import paths

    print(f"{cfg.name}: valid; {len(paths.all_eval_files(cfg))} distillation runs")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mold", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
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
    try:
        cfg = _config(args)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    if args.command == "validate":
        _validate(cfg)
        return 0
    _setup_torch(cfg)
    stage = importlib.import_module(f"mold.stages.{args.command.replace('-', '_')}")
    from mold.models.sources import ModelSourceError

    try:
        stage.run(cfg, **{option: getattr(args, option) for option in STAGES[args.command]})
    except ModelSourceError as err:  # missing / corrupt / unfetchable weights: the message says what to do
        print(f"mold {args.command}: {err}", file=sys.stderr)
        return 2
    return 0
