"""Task folders: docs, rendered YAMLs, and loading through lm-eval's TaskManager."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mold.config import EvalSpec
from mold.data.schema import Example
from mold.evaluation.tasks import TEMPLATE_PATH, render_task_yaml, task_name, write_eval_jsonl, write_task_dir
from mold.io import write_jsonl_atomic


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_eval_docs_carry_their_scoring_rule(
    tmp_path: Path, math_examples: list[Example], choice_examples: list[Example]
) -> None:
    n = write_eval_jsonl(tmp_path / "c.jsonl", choice_examples, "choice", 0.5)
    docs = read_lines(tmp_path / "c.jsonl")
    assert n == len(docs) == 5
    assert docs[1] == {
        "id": "c1",
        "question": choice_examples[1].question,
        "answer": "B",
        "answer_kind": "choice",
        "tolerance": 0.5,
        "num_choices": 5,
    }
    write_eval_jsonl(tmp_path / "m.jsonl", math_examples, "number", 1e-4)
    assert read_lines(tmp_path / "m.jsonl")[0]["num_choices"] is None


def plain_load(text: str) -> dict:
    """The YAML with lm-eval's `!function` tag kept as a string."""
    loader = type("Loader", (yaml.SafeLoader,), {})
    loader.add_constructor("!function", lambda ld, node: f"!function {ld.construct_scalar(node)}")
    return yaml.load(text, Loader=loader)  # noqa: S506 - SafeLoader subclass


def test_rendered_yaml_fields(tmp_path: Path) -> None:
    text = render_task_yaml(
        TEMPLATE_PATH.read_text(), task="mold_x", data_file=tmp_path / "x.jsonl",
        cache_dir=tmp_path / "cache", cue='say "hi": ', max_gen_tokens=7,
    )
    cfg = plain_load(text)
    assert cfg["task"] == "mold_x"
    assert cfg["dataset_path"] == "json"
    assert cfg["dataset_kwargs"]["data_files"] == {"test": str((tmp_path / "x.jsonl").resolve())}
    assert cfg["test_split"] == "test"
    assert cfg["output_type"] == "generate_until"
    assert cfg["doc_to_text"] == 'say "hi": {{question}}\n'
    assert cfg["doc_to_target"] == "{{answer}}"
    assert cfg["generation_kwargs"] == {"until": ["\n"], "do_sample": False, "max_gen_toks": 7}
    assert cfg["process_results"] == "!function utils.process_results"
    assert cfg["metric_list"] == [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}]


def test_cue_with_jinja_delimiters_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Jinja"):
        render_task_yaml(
            TEMPLATE_PATH.read_text(), task="t", data_file=tmp_path / "x", cache_dir=tmp_path, cue="{{x}}", max_gen_tokens=4
        )


def test_unfilled_placeholder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="@@NEW@@"):
        render_task_yaml("task: @@TASK@@\nx: @@NEW@@\n", task="t", data_file=tmp_path, cache_dir=tmp_path, cue="", max_gen_tokens=4)


def test_task_names_are_file_safe() -> None:
    assert task_name("math_test") == "mold_math_test"
    with pytest.raises(ValueError):
        task_name("../x")


def test_task_dir_loads_through_task_manager(
    tmp_path: Path, test_files: dict[str, Path], math_examples: list[Example]
) -> None:
    from lm_eval.tasks import TaskManager

    out = tmp_path / "tasks"
    out.mkdir()
    (out / "mold_stale.yaml").write_text("task: mold_stale\n")
    names = write_task_dir(out, test_files, "number", "predict: ", EvalSpec(max_gen_tokens=9))
    assert names == ["mold_math_test", "mold_math_steps"]
    assert sorted(p.name for p in out.glob("*.yaml")) == ["mold_math_steps.yaml", "mold_math_test.yaml"]

    manager = TaskManager(include_path=str(out), include_defaults=False)
    assert sorted(manager.all_subtasks) == sorted(names)
    task = manager.load(["mold_math_test"])["tasks"]["mold_math_test"]
    docs = list(task.test_docs())
    assert [d["id"] for d in docs] == [f"m{i}" for i in range(5)]
    assert task.fewshot_context(docs[1], 0) == "predict: " + math_examples[1].question + "\n"
    assert task.doc_to_target(docs[1]) == "18"
    assert task.process_results(docs[1], ["18.0"]) == {"acc": 1}
    assert task.config.generation_kwargs["max_gen_toks"] == 9


def test_choice_task_dir(tmp_path: Path, choice_examples: list[Example]) -> None:
    from lm_eval.tasks import TaskManager

    source = tmp_path / "choice_test.jsonl"
    write_jsonl_atomic(source, choice_examples)
    out = tmp_path / "tasks"
    assert write_task_dir(out, {"choice_test": source}, "choice", "predict: ", EvalSpec()) == ["mold_choice_test"]
    task = TaskManager(include_path=str(out), include_defaults=False).load(["mold_choice_test"])["tasks"]["mold_choice_test"]
    doc = list(task.test_docs())[4]
    assert doc["answer_kind"] == "choice"
    assert task.process_results(doc, ["(e)"]) == {"acc": 1}
    assert task.process_results(doc, ["(d)"]) == {"acc": 0}


def test_explain_mode_tasks_have_their_own_names_budget_and_stop(tmp_path: Path, test_files: dict[str, Path]) -> None:
    out = tmp_path / "tasks"
    spec = EvalSpec(max_gen_tokens=9, explain_max_gen_tokens=77)
    names = write_task_dir(out, test_files, "number", "explain: ", spec, mode="explain")
    assert names == ["mold-explain_math_test", "mold-explain_math_steps"]
    cfg = plain_load((out / "mold-explain_math_test.yaml").read_text())
    assert cfg["doc_to_text"] == "explain: {{question}}\n"
    assert cfg["generation_kwargs"] == {"until": ["\n\n"], "do_sample": False, "max_gen_toks": 77}
    assert task_name("math_test", "explain") != task_name("explain_math_test")  # modes never share a task name
