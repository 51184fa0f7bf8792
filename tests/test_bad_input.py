"""Bad input a user can hand mold, through the stable entry points: each gets an error naming the file (and the
record and field where there is one), and nothing is half-written. docs/reliability.md lists the cases."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file

from mold.cli import main
from mold.config import ConfigError, load_config, preset_path
from mold.data.schema import Example, RationaleRecord
from mold.io import DataError, check_safetensors_dir, read_json, read_jsonl, read_safetensors

EXAMPLE = {"id": "m0", "question": "Tom has 3 apples. How many?", "answer": "3", "source": "math"}
RATIONALE = {"id": "m0", "question": "Q?", "answer": "3", "rationale": "1 + 2 = 3. The answer is 3.", "source": "teacher"}


def smoke_raw() -> dict:
    return yaml.safe_load(preset_path("smoke").read_text())


# -- configs ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty config"),
    (b"name: [unclosed\n", "invalid YAML"),
    (b"- a\n- list\n", "expected a mapping of config keys, got list"),
    (b"name: caf\xe9\n", "not UTF-8 text"),
])
def test_unreadable_config_names_the_file(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as err:
        load_config(path)
    assert str(path) in str(err.value)


def test_missing_config_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nowhere.yaml: cannot read config"):
        load_config(tmp_path / "nowhere.yaml")


@pytest.mark.parametrize(("change", "key"), [
    ({"threads": "two"}, "threads"),
    ({"threads": 0}, "threads"),
    ({"cpu_kernels": "avx512"}, "cpu_kernels"),
    ({"seeds": []}, "seeds"),
])
def test_wrong_type_or_range_names_the_key(tmp_path, change, key):
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({**smoke_raw(), **change}))
    with pytest.raises(ConfigError, match=rf"cfg.yaml: invalid config\n  {key}:"):
        load_config(path)


def test_cli_refuses_a_bad_config_before_any_work(tmp_path, capsys):
    path = tmp_path / "cfg.yaml"
    path.write_text("name: [unclosed\n")
    assert main(["prepare-data", "--config", str(path), "--dataset", "math_train"]) == 2
    assert "invalid YAML" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


# -- dataset and rationale files (JSONL) ---------------------------------------------------------------------

def write_lines(path: Path, *lines: str | bytes) -> Path:
    path.write_bytes(b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line in lines))
    return path


@pytest.mark.parametrize(("lines", "record", "field", "message"), [
    ((json.dumps(EXAMPLE), "{not json"), 2, None, "invalid JSON"),
    (("[1, 2]",), 1, None, "expected a JSON object, got list"),
    ((json.dumps({**EXAMPLE, "answer": 3}),), 1, "answer", "Input should be a valid string"),
    ((json.dumps({**EXAMPLE, "question": ""}),), 1, "question", "at least 1 character"),
    ((json.dumps(EXAMPLE), b'{"id": "m1", "question": "caf\xe9"}'), 2, None, "not UTF-8"),
    ((json.dumps(EXAMPLE), json.dumps({**EXAMPLE, "answer": "4"})), 2, "id", "duplicate 'm0' \\(first on line 1\\)"),
])
def test_bad_dataset_line_names_file_record_and_field(tmp_path, lines, record, field, message):
    path = write_lines(tmp_path / "math_train.jsonl", *lines)
    with pytest.raises(DataError, match=message) as err:
        read_jsonl(path, Example, unique="id", allow_empty=False)
    assert (err.value.path, err.value.record, err.value.field) == (str(path), record, field)


def test_a_dataset_without_examples_is_refused(tmp_path):
    path = write_lines(tmp_path / "math_test.jsonl", "", "  ")
    with pytest.raises(DataError, match="math_test.jsonl: no records"):
        read_jsonl(path, Example, unique="id", allow_empty=False)


def test_a_test_set_with_zero_examples_stops_evaluation_before_lm_eval(tmp_path):
    from mold.config import EvalSpec
    from mold.evaluation.tasks import write_task_dir

    empty = write_lines(tmp_path / "math_test.jsonl")
    with pytest.raises(DataError, match="math_test.jsonl: no records"):
        write_task_dir(tmp_path / "tasks", {"math_test": empty}, "number", "predict: ", EvalSpec())


def test_a_rationale_without_text_names_the_field(tmp_path):
    path = write_lines(tmp_path / "math.jsonl", json.dumps({**RATIONALE, "rationale": ""}))
    with pytest.raises(DataError, match=r"math.jsonl, record 1, field 'rationale'"):
        read_jsonl(path, RationaleRecord, unique="id")


def test_zero_rationales_kept_stops_distillation_with_a_clear_error(tmp_path):
    from mold.config import ExperimentConfig
    from mold.methods import get_method
    from mold.training.distill import build_items

    cfg = ExperimentConfig.model_validate({**smoke_raw(), "results_dir": str(tmp_path)})
    rationales = cfg.root / "rationales" / "teacher" / "math.jsonl"
    rationales.parent.mkdir(parents=True)
    rationales.write_text("")
    with pytest.raises(DataError, match=r"math.jsonl: no rationales kept for task math .* DSS needs at least one"):
        build_items(cfg, "tiny", "math", get_method("dss"), tokenizer=None)


def test_json_record_with_bad_encoding_or_syntax_names_the_file(tmp_path):
    (tmp_path / "a.index.json").write_bytes(b'{"shards": 1,')
    (tmp_path / "b.index.json").write_bytes(b'{"teacher": "caf\xe9"}')
    with pytest.raises(DataError, match=r"a.index.json, record line 1: invalid JSON"):
        read_json(tmp_path / "a.index.json")
    with pytest.raises(DataError, match=r"b.index.json: not UTF-8 text"):
        read_json(tmp_path / "b.index.json")


def test_missing_data_folder_is_named(tmp_path):
    from mold.config import RealDatasetSpec
    from mold.data.loaders import load_real_dataset

    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_real_dataset(RealDatasetSpec(name="svamp", split="test"), tmp_path / "nowhere")


# -- tensors: attention shards, checkpoints, saved models --------------------------------------------------------

@pytest.fixture()
def shard(tmp_path) -> Path:
    path = tmp_path / "targets-00000.safetensors"
    save_file({"m0/A": torch.rand(2, 3, 4), "m0/p_t": torch.tensor([0.5, 0.5]), "m0/G": torch.rand(2)}, path)
    return path


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_damaged_shard_names_the_file(shard, damage):
    data = shard.read_bytes()
    shard.write_bytes({"truncated": data[: len(data) // 2], "empty": b"", "garbage": b"\x00" * 64}[damage])
    with pytest.raises(DataError, match="targets-00000.safetensors: truncated or corrupt safetensors file"):
        read_safetensors(shard)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_or_inf_in_a_shard_names_file_and_tensor(tmp_path, bad):
    path = tmp_path / "targets-00000.safetensors"
    save_file({"m0/A": torch.tensor([[0.1, bad]]), "m0/p_t": torch.tensor([1.0])}, path)
    with pytest.raises(DataError, match=r"targets-00000.safetensors, field 'm0/A': tensor holds NaN or inf"):
        read_safetensors(path)


def test_missing_shard_is_named(tmp_path):
    with pytest.raises(DataError, match="targets-00003.safetensors: missing safetensors file"):
        read_safetensors(tmp_path / "targets-00003.safetensors")


def test_damaged_saved_model_is_named_before_loading(tmp_path):
    from mold.config import ModelSpec
    from mold.models.factory import load_pretrained

    model_dir = tmp_path / "teachers" / "teacher"
    model_dir.mkdir(parents=True)
    (model_dir / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    spec = ModelSpec.model_validate(smoke_raw()["models"]["teacher"])
    with pytest.raises(DataError, match=r"teachers/teacher/model.safetensors: truncated or corrupt"):
        load_pretrained(spec, model_dir)
    check_safetensors_dir(tmp_path)  # a folder without weights has nothing to check
