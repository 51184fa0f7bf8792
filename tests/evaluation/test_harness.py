"""End to end: a tiny saved GPT-2 scored by lm-eval on two 5-example test sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mold.config import EvalSpec
from mold.data.answers import answers_match, extract_answer
from mold.data.schema import Example
from mold.evaluation.harness import evaluate_model, save_eval

CUE = "predict: "


@pytest.fixture(scope="module")
def result(tiny_model_dir: Path, test_files: dict[str, Path], tmp_path_factory) -> dict:
    spec = EvalSpec(batch_size=5, max_gen_tokens=6)
    return evaluate_model(tiny_model_dir, test_files, "number", CUE, spec, tmp_path_factory.mktemp("eval"), device="cpu")


def test_summary_per_dataset(result: dict, test_files: dict[str, Path]) -> None:
    assert list(result["datasets"]) == ["math_test", "math_steps"]
    for ds, summary in result["datasets"].items():
        assert summary["task"] == f"mold_{ds}"
        assert summary["n"] == summary["n_total"] == 5
        assert 0.0 <= summary["accuracy"] <= 1.0
        assert summary["test_file"] == str(test_files[ds])
        assert len(summary["test_sha256"]) == 64
    assert result["lm_eval_version"] == "0.4.13"
    assert result["eval_spec"]["max_gen_tokens"] == 6


def test_records_carry_the_exact_prompt(result: dict, math_examples: list[Example]) -> None:
    records = result["records"]["math_test"]
    assert [r["id"] for r in records] == [ex.id for ex in math_examples]
    for record, ex in zip(records, math_examples, strict=True):
        assert record["prompt"] == CUE + ex.question + "\n"
        assert record["gold"] == ex.answer
    assert [r["id"] for r in result["records"]["math_steps"]] == [ex.id for ex in reversed(math_examples)]


def test_accuracy_is_the_mean_of_the_verdicts(result: dict) -> None:
    for ds, records in result["records"].items():
        for r in records:
            assert r["extracted"] == extract_answer(r["response"], "number")
            assert r["correct"] == answers_match(r["extracted"], r["gold"], "number")
            assert "\n" not in r["response"]  # generation stops at the newline
        assert result["datasets"][ds]["accuracy"] == pytest.approx(sum(r["correct"] for r in records) / len(records))


def test_lm_eval_provenance_is_kept(result: dict) -> None:
    lm_eval = result["lm_eval"]
    assert "samples" not in lm_eval
    assert set(lm_eval["versions"]) == {"mold_math_test", "mold_math_steps"}
    config = lm_eval["configs"]["mold_math_test"]
    assert config["doc_to_text"] == CUE + "{{question}}\n"
    assert config["generation_kwargs"]["max_gen_toks"] == 6
    assert lm_eval["config"]["model_args"] == {"pretrained": result["model_dir"]}
    sample = result["lm_eval_samples"]["math_test"][0]
    assert {"doc", "resps", "filtered_resps", "doc_hash", "prompt_hash", "acc"} <= set(sample)
    json.dumps(result)  # plain JSON data throughout


def test_save_eval(result: dict, tmp_path: Path) -> None:
    save_eval({"seed": 0}, {"predict": result}, tmp_path / "eval.json", tmp_path / "samples.jsonl")
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert saved["seed"] == 0 and list(saved["modes"]) == ["predict"]
    mode = saved["modes"]["predict"]
    assert mode["mode"] == "predict" and mode["datasets"] == result["datasets"]
    assert mode["lm_eval"]["versions"] == result["lm_eval"]["versions"]
    assert "records" not in mode and "lm_eval_samples" not in mode
    lines = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert len(lines) == 10
    assert {line["mode"] for line in lines} == {"predict"}
    assert [line["dataset"] for line in lines] == ["math_test"] * 5 + ["math_steps"] * 5
    assert lines[0]["prompt"] == result["records"]["math_test"][0]["prompt"]
    assert lines[0]["lm_eval"]["doc"]["id"] == lines[0]["id"]


def test_batched_equals_one_by_one_and_limit(
    result: dict, tiny_model_dir: Path, test_files: dict[str, Path], tmp_path: Path
) -> None:
    """Left padding in a batch of 5 must not change greedy answers; `limit` keeps the first N."""
    spec = EvalSpec(batch_size=1, max_gen_tokens=6, limit=3)
    single = evaluate_model(tiny_model_dir, {"math_test": test_files["math_test"]}, "number", CUE, spec, tmp_path, device="cpu")
    assert single["datasets"]["math_test"]["n"] == 3
    assert single["datasets"]["math_test"]["n_total"] == 5
    batched = [r["response"] for r in result["records"]["math_test"][:3]]
    assert [r["response"] for r in single["records"]["math_test"]] == batched


def test_a_student_that_memorised_the_answers_scores_one(
    memorized_model_dir: Path, test_files: dict[str, Path], tmp_path: Path
) -> None:
    """Prompt = training prefix, stop at EOS: a memorising student must get every answer."""
    spec = EvalSpec(batch_size=5, max_gen_tokens=6)
    res = evaluate_model(memorized_model_dir, test_files, "number", CUE, spec, tmp_path, device="cpu")
    assert {ds: s["accuracy"] for ds, s in res["datasets"].items()} == {"math_test": 1.0, "math_steps": 1.0}
    for records in res["records"].values():
        assert [r["response"] for r in records] == [r["gold"] for r in records]


def test_explain_mode_reads_the_answer_from_the_rationale(
    explain_memorized_model_dir: Path, test_files: dict[str, Path], tmp_path: Path
) -> None:
    """A student that memorised `explain: q\n<rationale> The answer is a.<eos>` scores 1 in the explain mode,
    with its own task names, prompt cue and token budget."""
    spec = EvalSpec(batch_size=5, max_gen_tokens=2, explain_max_gen_tokens=40)
    res = evaluate_model(explain_memorized_model_dir, test_files, "number", "explain: ", spec, tmp_path, device="cpu",
                         mode="explain")
    assert res["mode"] == "explain"
    assert {ds: s["task"] for ds, s in res["datasets"].items()} == {"math_test": "mold-explain_math_test",
                                                                  "math_steps": "mold-explain_math_steps"}
    assert {ds: s["accuracy"] for ds, s in res["datasets"].items()} == {"math_test": 1.0, "math_steps": 1.0}
    assert res["lm_eval"]["configs"]["mold-explain_math_test"]["generation_kwargs"]["max_gen_toks"] == 40
    for records in res["records"].values():
        for r in records:
            assert r["prompt"].startswith("explain: ")
            assert r["response"] == f"We work it out. The answer is {r['gold']}."
