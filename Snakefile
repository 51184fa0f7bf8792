# mold: MoLSAKI reproduced end to end. `snakemake --cores all` runs the `mini` preset;
# `--config preset=NAME` picks another (mold/presets/NAME.yaml), `--config config_file=PATH`
# any config file, `--config results_dir=DIR` another output root.
# Rules stay thin: each calls one `mold` command; paths come from mold.plan / mold.paths.
import shlex
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")

from mold import paths, plan
from mold.config import ConfigError, load_config, preset_path

PRESET = config.get("preset", "mini")
try:
    CONFIG_FILE = config.get("config_file") or str(preset_path(PRESET))
    CFG = load_config(CONFIG_FILE)
except ConfigError as err:
    raise WorkflowError(str(err))
if "results_dir" in config:  # e.g. --config results_dir=/scratch/mold
    CFG = CFG.model_copy(update={"results_dir": Path(config["results_dir"])})
if "gpu_memory_gb" in config:  # e.g. --config gpu_memory_gb=40: the card size that sizes teachers' GPU claims
    CFG = CFG.model_copy(update={"gpu_memory_gb": float(config["gpu_memory_gb"])})
ROOT = str(CFG.root)
# Jobs run the interpreter that runs Snakemake (not whatever `python` comes first on PATH).
MOLD = (f"MOLD_THREADS={{{{threads}}}} {shlex.quote(sys.executable)} -m mold {{cmd}} --config {shlex.quote(CONFIG_FILE)} "
        f"--results-dir {shlex.quote(str(CFG.results_dir))}")
THREADS = CFG.threads


def mold(cmd, *options):
    return MOLD.format(cmd=cmd) + " " + " ".join(options)


def mold_gpu(cmd, *options):
    """A job that takes its rule's `gpu` resource count of devices of its own (mold.gpus)."""
    return "MOLD_GPUS={resources.gpu} " + mold(cmd, *options)


include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/teacher.smk"
include: "workflow/rules/attention.smk"
include: "workflow/rules/distill.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/tables.smk"


rule all:
    input:
        plan.final_targets(CFG),
