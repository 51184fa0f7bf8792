"""The figure data file: teacher p_t / column gradient per layer, students' last logged p_s."""

from __future__ import annotations

import csv
import json

from mold import paths
from mold.config import load_preset
from mold.reporting.figures import figure_file, write_layer_weights


def test_layer_weights_csv(tmp_path):
    cfg = load_preset("smoke").model_copy(update={"results_dir": tmp_path})
    pair = cfg.pairs["tiny"]
    for task in pair.tasks:
        index = paths.attention_index(cfg, pair.attention_teacher, pair.rationale_source, task)
        index.parent.mkdir(parents=True, exist_ok=True)
        index.write_text(json.dumps({"mean_teacher_layer_weights": [0.25, 0.75], "mean_column_gradient": [0.1, 0.3]}))
        run = paths.run_dir(cfg, "tiny", task, "molsaki", 0)
        run.mkdir(parents=True)
        history = [{"step": 5, "p_s/0": 0.5, "p_s/1": 0.5}, {"step": 10, "p_s/1": 0.8, "p_s/0": 0.2}, {"step": 10, "loss": 1.0}]
        (run / "train_log.json").write_text(json.dumps({"history": history}))

    assert write_layer_weights(cfg) == figure_file(cfg)
    rows = list(csv.DictReader(figure_file(cfg).open()))
    math = [(r["who"], r["layer"], r["quantity"], float(r["value"])) for r in rows if r["task"] == "math"]
    assert math == [("teacher", "1", "p_t", 0.25), ("teacher", "2", "p_t", 0.75),
                    ("teacher", "1", "column_gradient", 0.1), ("teacher", "2", "column_gradient", 0.3),
                    ("student", "1", "p_s", 0.2), ("student", "2", "p_s", 0.8)]  # the last logged p_s, layers 1-based
    assert {r["model"] for r in rows if r["who"] == "student"} == {pair.student}
