"""Datasets described by config (mold.data.templated, mold.data.records): formats, field templates,
choices, dropped answers, duplicate ids, the sandbox, and errors that name file, record and field."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from mold.config import ExperimentConfig, FieldTemplates, FileDatasetSpec, HubDatasetSpec, PRESETS_DIR
from mold.data.records import read_file_records
from mold.data.templated import choice_letter, load_templated, map_records
from mold.io import DataError, read_json

PROBLEMS = [  # SingleEq-like records with their own field names
    {"iIndex": 7, "sQuestion": "Ann has 3 pens and buys 2. How many pens?", "lSolutions": [5.0]},
    {"iIndex": 9, "sQuestion": "A box holds 1,200 nails; 200 are used. How many are left?", "lSolutions": ["1,000"]},
    {"iIndex": 11, "sQuestion": "Half of 5?", "lSolutions": [2.5]},
]
MATH_FIELDS = {"id": "mine-{{ iIndex }}", "question": "{{ sQuestion }}", "answer": "{{ lSolutions[0] }}"}


def file_spec(path: Path, fields: dict | None = None, **extra) -> FileDatasetSpec:
    return FileDatasetSpec.model_validate({"kind": "file", "path": str(path), "fields": fields or MATH_FIELDS, **extra})


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_json_array_with_its_own_field_names(tmp_path):
    loaded = load_templated(file_spec(write_json(tmp_path / "p.json", PROBLEMS)), "mine")
    assert [(e.id, e.answer, e.source) for e in loaded.examples] == [
        ("mine-7", "5", "mine"), ("mine-9", "1000", "mine"), ("mine-11", "2.5", "mine")]
    assert loaded.examples[1].question == PROBLEMS[1]["sQuestion"]
    assert loaded.dropped == [] and loaded.summary()["kept"] == 3


def test_jsonl_and_csv_give_the_same_examples(tmp_path):
    expected = load_templated(file_spec(write_json(tmp_path / "p.json", PROBLEMS)), "mine").examples
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text("".join(json.dumps(p) + "\n" for p in PROBLEMS), encoding="utf-8")
    assert load_templated(file_spec(jsonl), "mine").examples == expected
    csv_path = tmp_path / "p.csv"
    rows = ["index,text,gold"] + [f'{p["iIndex"]},"{p["sQuestion"]}","{p["lSolutions"][0]}"' for p in PROBLEMS]
    csv_path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    csv_fields = {"id": "mine-{{ index }}", "question": "{{ text }}", "answer": "{{ gold }}"}
    assert load_templated(file_spec(csv_path, csv_fields), "mine").examples == expected
    assert [where for where, _ in read_file_records(csv_path)] == ["line 2", "line 3", "line 4"]


def test_format_detected_from_content_without_a_suffix(tmp_path):
    array, lines = tmp_path / "array.data", tmp_path / "lines.data"
    write_json(array, PROBLEMS)
    lines.write_text("".join(json.dumps(p) + "\n" for p in PROBLEMS), encoding="utf-8")
    assert [w for w, _ in read_file_records(array)] == ["#0", "#1", "#2"]
    assert [w for w, _ in read_file_records(lines)] == ["line 1", "line 2", "line 3"]
    (tmp_path / "x.txt").write_text("id\tquestion\n", encoding="utf-8")
    with pytest.raises(DataError, match="cannot tell the format"):
        read_file_records(tmp_path / "x.txt")


def test_empty_or_unparsable_answers_are_dropped_with_their_reason(tmp_path):
    rows = PROBLEMS + [{"iIndex": 12, "sQuestion": "q?", "lSolutions": [""]},
                       {"iIndex": 13, "sQuestion": "q?", "lSolutions": ["about 5 apples"]}]
    loaded = load_templated(file_spec(write_json(tmp_path / "p.json", rows), limit=2), "mine")
    assert [e.id for e in loaded.examples] == ["mine-7", "mine-9"]  # limit applies to the kept examples
    assert loaded.summary() == {"source": str(tmp_path / "p.json"), "kept": 2, "dropped": 2, "dropped_records": [
        {"record": "#3", "field": "answer", "reason": "empty"},
        {"record": "#4", "field": "answer", "reason": "'about 5 apples' is not a number"}]}


def test_a_broken_template_names_file_record_and_field(tmp_path):
    rows = PROBLEMS[:1] + [{"iIndex": 8, "question_text": "renamed key"}]
    path = write_json(tmp_path / "p.json", rows)
    with pytest.raises(DataError) as info:
        load_templated(file_spec(path), "mine")
    assert (info.value.path, info.value.record, info.value.field) == (str(path), "#1", "question")
    assert str(info.value).startswith(f"{path}, record #1, field 'question': template failed")
    assert "'sQuestion' is undefined" in str(info.value)


def test_duplicate_ids_are_an_error_naming_both_records(tmp_path):
    path = write_json(tmp_path / "p.json", PROBLEMS + [PROBLEMS[0]])
    with pytest.raises(DataError, match=r"record #3, field 'id': duplicate id 'mine-7' \(first at record #0\)"):
        load_templated(file_spec(path), "mine")


@pytest.mark.parametrize("template", [
    "{{ sQuestion.__class__.__mro__ }}",
    "{{ sQuestion.__class__.__base__.__subclasses__() }}",
    "{{ lSolutions.pop() }}",  # mutating a record is refused too
])
def test_templates_cannot_reach_python_internals(tmp_path, template):
    path = write_json(tmp_path / "p.json", PROBLEMS)
    with pytest.raises(DataError, match=r"record #0, field 'question': template failed"):
        load_templated(file_spec(path, MATH_FIELDS | {"question": template}), "mine")


def test_template_syntax_errors_fail_config_validation(tmp_path):
    with pytest.raises(ValidationError, match=r"fields.answer: invalid Jinja template"):
        file_spec(tmp_path / "p.json", MATH_FIELDS | {"answer": "{{ lSolutions[0] }"})


CHOICE_ROWS = [
    {"qid": "q1", "stem": "Where do fish live?", "options": ["sea", "sky", "desert"], "gold": "sea", "why": "Fish swim."},
    {"qid": "q2", "stem": "What barks?", "options": ["cat", "dog", "cow"], "gold": "(b)", "why": ""},
    {"qid": "q3", "stem": "What flies?", "options": ["stone", "bird", "fish"], "gold": "D", "why": "no"},
]


@pytest.mark.parametrize("choices", ["{{ options | tojson }}", "{{ options }}",
                                     ["{{ options[0] }}", "{{ options[1] }}", "{{ options[2] }}"]])
def test_choice_datasets(tmp_path, choices):
    fields = {"id": "{{ qid }}", "question": "{{ stem }}", "answer": "{{ gold }}", "choices": choices, "rationale": "{{ why }}"}
    spec = file_spec(write_json(tmp_path / "c.json", CHOICE_ROWS), fields)
    assert spec.fields.answer_kind == "choice"
    loaded = load_templated(spec, "mine")
    first, second = loaded.examples
    assert first.question == "Where do fish live? Answer choices: (A) sea, (B) sky, (C) desert."
    assert (first.answer, first.choices, first.rationale) == ("A", ["sea", "sky", "desert"], "Fish swim.")
    assert (second.answer, second.rationale) == ("B", None)
    assert [d.reason for d in loaded.dropped] == ["'D' is not a letter A-C or a choice's text"]


def test_choice_letter():
    assert choice_letter("sky", ["sea", "sky"]) == "B"
    assert choice_letter("b", ["sea", "sky"]) == "B"
    assert choice_letter("C", ["sea", "sky"]) is None


def test_choices_that_are_not_a_list(tmp_path):
    fields = {"id": "{{ qid }}", "question": "{{ stem }}", "answer": "{{ gold }}", "choices": "{{ stem }}"}
    path = write_json(tmp_path / "c.json", CHOICE_ROWS)
    with pytest.raises(DataError, match=r"record #0, field 'choices': rendered 'Where do fish live\?', not a list"):
        load_templated(file_spec(path, fields), "mine")


def test_relative_paths_resolve_under_the_data_folder(tmp_path):
    write_json(tmp_path / "p.json", PROBLEMS)
    assert len(load_templated(file_spec(Path("p.json")), "mine", tmp_path).examples) == 3
    with pytest.raises(ValueError, match="relative dataset path needs a data folder"):
        load_templated(file_spec(Path("p.json")), "mine", None)
    with pytest.raises(FileNotFoundError, match="dataset file not found"):
        load_templated(file_spec(tmp_path / "missing.json"), "mine")


def test_hub_dataset_reads_the_pinned_split(monkeypatch):
    calls = []

    def fake_rows(repo, config, revision, split):
        calls.append((repo, config, revision, split))
        return PROBLEMS

    monkeypatch.setattr("mold.data.records.hub_split_rows", fake_rows)
    spec = HubDatasetSpec.model_validate({"kind": "hub", "repo": "someone/math", "revision": "a" * 40, "split": "test",
                                          "fields": MATH_FIELDS})
    loaded = load_templated(spec, "mine")
    assert calls == [("someone/math", None, "a" * 40, "test")] and len(loaded.examples) == 3
    with pytest.raises(ValidationError, match="revision"):
        HubDatasetSpec.model_validate(spec.model_dump() | {"revision": "main"})


def test_map_records_locates_by_the_given_source():
    with pytest.raises(DataError, match=r"^hf://x@abc/test, record #0, field 'id'"):
        map_records([("#0", {"a": 1})], FieldTemplates(id="{{ b }}", question="q", answer="1"), "hf://x@abc/test", "x")


def smoke_with(dataset: dict, task_tests: list[str], answer_kind: str = "number") -> dict:
    raw = yaml.safe_load((PRESETS_DIR / "smoke.yaml").read_text(encoding="utf-8"))
    raw["datasets"]["mine"] = dataset
    raw["tasks"]["math"] = {"answer_kind": answer_kind, "train": "math_train", "tests": task_tests}
    return raw


def test_a_choice_file_in_a_number_task_fails_validation(tmp_path):
    dataset = {"kind": "file", "path": str(tmp_path / "c.json"),
               "fields": {"id": "{{ qid }}", "question": "{{ stem }}", "answer": "{{ gold }}", "choices": "{{ options }}"}}
    with pytest.raises(ValidationError, match=r"tasks.math: answer_kind number but dataset 'mine' is a choice task"):
        ExperimentConfig.model_validate(smoke_with(dataset, ["math_test", "mine"]))


def test_prepare_data_reports_dropped_records(tmp_path):
    from mold.stages.prepare_data import run

    rows = PROBLEMS + [{"iIndex": 12, "sQuestion": "q?", "lSolutions": ["n/a"]}]
    dataset = {"kind": "file", "path": str(write_json(tmp_path / "p.json", rows)), "fields": MATH_FIELDS}
    cfg = ExperimentConfig.model_validate(smoke_with(dataset, ["math_test", "mine"]) | {"results_dir": str(tmp_path / "out")})
    assert run(cfg, "mine") == 3
    record = read_json(tmp_path / "out/smoke/data/mine.provenance.json")
    assert (record["count"], record["kept"], record["dropped"]) == (3, 3, 1)
    assert record["dropped_records"] == [{"record": "#3", "field": "answer", "reason": "'n/a' is not a number"}]
    assert record["inputs"][str(tmp_path / "p.json")] == hashlib.sha256((tmp_path / "p.json").read_bytes()).hexdigest()
    lines = (tmp_path / "out/smoke/data/mine.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["mine-7", "mine-9", "mine-11"]
