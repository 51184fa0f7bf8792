"""One module per Snakemake rule: rule `x_y` -> `mold x-y` -> `mold.stages.x_y.run`. Stages import the library, never each other."""
