"""Tests of mold.plan and mold.paths: the DAG's inputs and outputs as plain functions of the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from mold import paths, plan
from mold.methods import get_method
from mold.config import load_preset


@pytest.fixture(scope="module")
def mini():
    cfg = load_preset("mini")
    return cfg.model_copy(update={"results_dir": Path("/r")})


def test_method_slug():
    assert get_method("sl:13->8").slug == "sl_13-8"
    assert get_method("sl:last->last").slug == "sl_last-last"
    assert get_method("molsaki").slug == "molsaki"


def test_method_from_slug_round_trips_every_mini_method(mini):
    methods = mini.pairs["tiny"].methods
    assert "sl:last->last" in methods
    for method in methods:
        assert plan.method_from_slug(mini, "tiny", get_method(method).slug) == method
    assert len({get_method(m).slug for m in methods}) == len(methods)


def test_method_from_unknown_slug_raises(mini):
    with pytest.raises(KeyError, match="no method with slug 'sl_1-1'"):
        plan.method_from_slug(mini, "tiny", "sl_1-1")


def test_paths_layout(mini):
    root = Path("/r/mini")
    assert paths.dataset_file(mini, "math_train") == root / "data" / "math_train.jsonl"
    assert paths.rationale_file(mini, "teacher", "math") == root / "rationales" / "teacher" / "math.jsonl"
    assert paths.attention_index(mini, "teacher", "teacher", "math") == root / "attention" / "teacher" / "teacher" / "math.index.json"
    assert paths.pair_attention_index(mini, "tiny", "math") == paths.attention_index(mini, "teacher", "teacher", "math")
    assert paths.run_dir(mini, "tiny", "math", "sl:last->last", 1) == root / "runs" / "tiny" / "math" / "sl_last-last" / "seed1"
    assert paths.eval_file(mini, "tiny", "choice", "dss", 0) == root / "eval" / "tiny" / "choice" / "dss" / "seed0.json"
    assert paths.log_file(mini, "distill", "tiny", "math") == root / "logs" / "distill" / "tiny" / "math.log"


@pytest.mark.parametrize(
    ("method", "rationales", "attention"),
    [("vanilla", False, False), ("dss", True, False), ("mmi", True, False), ("molsaki", True, True), ("sl:3->1", True, True)],
)
def test_method_needs(method, rationales, attention):
    assert get_method(method).needs_rationales is rationales
    assert get_method(method).needs_attention is attention


def test_distill_inputs_vanilla_has_no_rationales(mini):
    needs = plan.distill_inputs(mini, "tiny", "math", "vanilla")
    assert needs == [paths.dataset_file(mini, "math_train"), plan.tokenizer_file(mini, "student")]


def test_distill_inputs_dss_has_rationales_but_no_attention(mini):
    needs = plan.distill_inputs(mini, "tiny", "math", "dss")
    assert paths.rationale_file(mini, "teacher", "math") in needs
    assert paths.pair_attention_index(mini, "tiny", "math") not in needs


@pytest.mark.parametrize("slug", ["molsaki", "sl_last-last"])
def test_distill_inputs_molsaki_has_rationales_and_attention(mini, slug):
    needs = plan.distill_inputs(mini, "tiny", "choice", slug)
    assert needs == [
        paths.dataset_file(mini, "choice_train"),
        plan.tokenizer_file(mini, "student"),
        paths.rationale_file(mini, "teacher", "choice"),
        paths.pair_attention_index(mini, "tiny", "choice"),
    ]


def test_model_inputs_tiny_teacher_needs_tokenizer_and_pretraining(mini):
    assert plan.model_inputs(mini, "teacher") == [plan.tokenizer_file(mini, "teacher"), plan.teacher_marker(mini, "teacher")]
    assert plan.model_inputs(mini, "student") == [plan.tokenizer_file(mini, "student")]


def test_rationale_and_attention_inputs(mini):
    assert plan.rationale_inputs(mini, "palm", "math") == [paths.dataset_file(mini, "math_train")]
    assert plan.rationale_inputs(mini, "teacher", "math")[0] == paths.dataset_file(mini, "math_train")
    assert plan.attention_inputs(mini, "teacher", "teacher", "math") == [
        paths.rationale_file(mini, "teacher", "math"), plan.tokenizer_file(mini, "teacher"), plan.teacher_marker(mini, "teacher")]


def test_evaluate_inputs(mini):
    needs = plan.evaluate_inputs(mini, "tiny", "math", "sl_last-last", 1)
    assert needs == [
        paths.run_dir(mini, "tiny", "math", "sl:last->last", 1) / "train_log.json",
        paths.dataset_file(mini, "math_test"),
        paths.dataset_file(mini, "math_steps"),
        paths.dataset_file(mini, "math_templates"),
    ]


def test_train_datasets_sorted_unique(mini):
    assert plan.train_datasets(mini) == sorted([paths.dataset_file(mini, "choice_train"), paths.dataset_file(mini, "math_train")])


def test_final_targets_of_mini(mini):
    targets = plan.final_targets(mini)
    names = [p.relative_to("/r/mini").as_posix() for p in targets]
    stems = ("table1", "table2", "table1_explain", "table2_explain")  # both evaluation modes by default
    assert names == [f"{t}.{ext}" for t in stems for ext in ("md", "csv", "tex")] + [
        "figures/layer_weights.csv", "report.md", "comparisons.csv", "figures/training_curves.csv"]


def test_final_targets_without_sl_or_hybrid_is_table1_only(mini):
    pair = mini.pairs["tiny"].model_copy(update={"methods": ["vanilla", "dss"]})
    predict_only = mini.evaluation.model_copy(update={"modes": ("predict",)})
    cfg = mini.model_copy(update={"pairs": {"tiny": pair}, "evaluation": predict_only})
    report = ["report.md", "comparisons.csv", "training_curves.csv"]
    assert [p.name for p in plan.final_targets(cfg)] == ["table1.md", "table1.csv", "table1.tex", "layer_weights.csv", *report]
    hybrid = cfg.model_copy(update={"pairs": {"tiny": pair.model_copy(update={"setting": "hybrid"})}})
    assert [p.stem for p in plan.final_targets(hybrid)] == ["table1"] * 3 + ["table3"] * 3 + [
        "layer_weights", "report", "comparisons", "training_curves"]


def test_final_targets_of_the_paper_preset_include_paper_subset_tables():
    from mold.config import load_preset

    stems = sorted({p.stem for p in plan.final_targets(load_preset("paper"))} - {"layer_weights", "report", "comparisons", "training_curves"})
    assert stems == sorted(f"table{t}{subset}{mode}" for t in (1, 2, 3) for subset in ("", "_paper_subset")
                           for mode in ("", "_explain"))


def test_all_eval_files_count_and_uniqueness(mini):
    files = paths.all_eval_files(mini)
    expected = sum(len(p.tasks) * len(p.methods) for p in mini.pairs.values()) * len(mini.seeds)
    assert expected == 1 * 2 * 5 * 2
    assert len(files) == expected
    assert len(set(files)) == len(files)
    assert paths.eval_file(mini, "tiny", "math", "sl:last->last", 1) in files


def test_dataset_inputs_name_a_file_dataset_only(mini, tmp_path, monkeypatch):
    from mold.config import FileDatasetSpec

    file_spec = FileDatasetSpec.model_validate({"path": "mine/p.json", "fields": {"id": "{{ i }}", "question": "{{ q }}", "answer": "{{ a }}"}})
    cfg = mini.model_copy(update={"datasets": {**mini.datasets, "mine": file_spec}})
    monkeypatch.setenv("MOLD_DATA_DIR", str(tmp_path))
    assert plan.dataset_inputs(cfg, "mine") == [tmp_path / "mine/p.json"]
    assert all(plan.dataset_inputs(cfg, name) == [] for name in mini.datasets)


def test_pretrained_models_wait_for_their_fetched_weights():
    cfg = load_preset("real-small").model_copy(update={"results_dir": Path("/r")})
    fetched = Path("/r/real-small/models/smollm2.json")
    assert paths.fetched_model_record(cfg, "smollm2") == fetched
    assert plan.model_inputs(cfg, "smollm2") == [fetched]
    assert plan.model_inputs(cfg, "smollm2-15l") == [fetched]  # made from smollm2's layers
    assert plan.distill_inputs(cfg, "smollm2_smollm2-15l", "math", "molsaki") == [
        paths.dataset_file(cfg, "svamp_train"), fetched, paths.rationale_file(cfg, "smollm2", "math"),
        paths.pair_attention_index(cfg, "smollm2_smollm2-15l", "math")]
    assert plan.rationale_inputs(cfg, "smollm2", "math") == [paths.dataset_file(cfg, "svamp_train"), fetched]
