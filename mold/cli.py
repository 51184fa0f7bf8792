"""`mold <stage> ...`: one subcommand per Snakemake rule; the work lives in the package."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mold.config import ConfigError, ExperimentConfig, load_config, preset_path


def _config(args: argparse.Namespace) -> ExperimentConfig:
    cfg = load_config(args.config or preset_path(args.preset))
    return cfg.model_copy(update={"results_dir": Path(args.results_dir)}) if args.results_dir else cfg


def _setup_torch(cfg: ExperimentConfig) -> None:
    import torch

    torch.set_num_threads(int(os.environ.get("MOLD_THREADS", cfg.threads)))
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


def _cmd_validate(cfg, args) -> None:
    from mold import paths

    print(f"{cfg.name}: valid; {len(paths.all_eval_files(cfg))} distillation runs")


def _cmd_prepare_data(cfg, args) -> None:
    from mold.prepare import prepare_dataset

    print(f"{args.dataset}: {prepare_dataset(cfg, args.dataset)} examples")


def _cmd_train_tokenizer(cfg, args) -> None:
    from mold.prepare import train_model_tokenizer

    train_model_tokenizer(cfg, args.model)


def _cmd_pretrain_teacher(cfg, args) -> None:
    from mold.teacher.stage import pretrain_teacher

    pretrain_teacher(cfg, args.model)


def _cmd_generate_rationales(cfg, args) -> None:
    from mold.teacher.stage import generate_rationales

    generate_rationales(cfg, args.source, args.task)


def _cmd_extract_attention(cfg, args) -> None:
    from mold.attention_targets.stage import extract_attention_targets

    extract_attention_targets(cfg, args.teacher, args.source, args.task)


def _cmd_distill(cfg, args) -> None:
    from mold.distill.stage import run_distillation

    run_distillation(cfg, args.pair, args.task, args.method, args.seed)


def _cmd_evaluate(cfg, args) -> None:
    from mold.evaluation.stage import evaluate_run

    evaluate_run(cfg, args.pair, args.task, args.method, args.seed)


def _cmd_tables(cfg, args) -> None:
    from mold.report import write_all_tables

    write_all_tables(cfg)


COMMANDS = {
    "validate": (_cmd_validate, []),
    "prepare-data": (_cmd_prepare_data, ["dataset"]),
    "train-tokenizer": (_cmd_train_tokenizer, ["model"]),
    "pretrain-teacher": (_cmd_pretrain_teacher, ["model"]),
    "generate-rationales": (_cmd_generate_rationales, ["source", "task"]),
    "extract-attention": (_cmd_extract_attention, ["teacher", "source", "task"]),
    "distill": (_cmd_distill, ["pair", "task", "method", "seed"]),
    "evaluate": (_cmd_evaluate, ["pair", "task", "method", "seed"]),
    "tables": (_cmd_tables, []),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mold", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, options) in COMMANDS.items():
        cmd = sub.add_parser(name)
        where = cmd.add_mutually_exclusive_group()
        where.add_argument("--preset", default="mini", help="preset under workflow/presets (default: mini)")
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
    if args.command != "validate":
        _setup_torch(cfg)
    COMMANDS[args.command][0](cfg, args)
    return 0
