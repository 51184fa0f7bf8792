# mold: MoLSAKI reproduced end to end. `snakemake --cores all` runs the `mini` preset;
# `--config preset=NAME` picks another (workflow/presets/NAME.yaml).
# Rules stay thin: each calls one `mold` command; paths come from mold.plan / mold.paths.
from snakemake.utils import min_version

min_version("9.0")

from mold import paths, plan
from mold.config import ConfigError, load_config, preset_path

PRESET = config.get("preset", "mini")
try:
    CFG = load_config(config["config_file"]) if "config_file" in config else load_config(preset_path(PRESET))
except ConfigError as err:
    raise WorkflowError(str(err))
ROOT = str(CFG.root)
MOLD = f"python -m mold {{cmd}} --preset {PRESET}" if "config_file" not in config else f"python -m mold {{cmd}} --config {config['config_file']}"
THREADS = CFG.threads


def mold(cmd, *options):
    return MOLD.format(cmd=cmd) + " " + " ".join(options)


include: "workflow/rules/data.smk"
include: "workflow/rules/teacher.smk"
include: "workflow/rules/attention.smk"
include: "workflow/rules/distill.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/tables.smk"


rule all:
    input:
        plan.final_targets(CFG),
