"""The worked examples of docs/adding-a-dataset.md and docs/adding-a-model.md, run as written."""

from __future__ import annotations

import json
import re

import pytest
import torch
import yaml

from mold.config import ConfigError, HubDatasetSpec, ModelSpec, load_config
from mold.data.templated import load_templated
from mold.io import DataError

def test_dataset_doc_example(tmp_path, monkeypatch, docs):
    monkeypatch.setenv("MOLD_DATA_DIR", str(tmp_path / "data"))
    cfg = load_config(docs.dataset_example(tmp_path / "data", tmp_path))
    assert cfg.tasks["math"].tests == ["math_test", "math_steps", "mydata"]
    loaded = load_templated(cfg.datasets["mydata"], "mydata", cfg.resolved_data_dir())
    assert [e.id for e in loaded.examples] == [f"mydata-{i}" for i in range(101, 107)]
    assert [e.answer for e in loaded.examples] == ["7", "7", "18", "5", "11", "2000"]
    assert loaded.dropped == []
    assert "`n` = 6" in (docs.DOCS / "adding-a-dataset.md").read_text(encoding="utf-8")


def test_dataset_doc_hub_block_validates(docs):
    spec = HubDatasetSpec.model_validate(yaml.safe_load(docs.blocks("adding-a-dataset.md", "yaml")[1])["datasets"]["myhub"])
    assert spec.fields.answer_kind == "number"


def test_dataset_doc_error_message_is_the_real_one(tmp_path, docs):
    cfg_path = docs.dataset_example(tmp_path / "data", tmp_path)
    data = tmp_path / "data" / "mydata" / "problems.json"
    rows = json.loads(data.read_text(encoding="utf-8"))
    rows[4]["question"] = rows[4].pop("sQuestion")
    data.write_text(json.dumps(rows), encoding="utf-8")
    cfg = load_config(cfg_path)
    with pytest.raises(DataError) as info:
        load_templated(cfg.datasets["mydata"], "mydata", tmp_path / "data")
    shown = re.search(r"`(mydata/problems\.json, record #4, field 'question': template failed: [^`]*)`",
                      (docs.DOCS / "adding-a-dataset.md").read_text(encoding="utf-8")).group(1)
    assert str(info.value) == str(tmp_path / "data" / shown)


def test_model_doc_tiny_student(tmp_path, bpe_tokenizer, docs):
    from transformers import MistralForCausalLM

    from mold.config import LossSpec
    from mold.models.factory import build_tiny_model
    from mold.molsaki.attention import register, stepwise_maps
    from mold.training.attention_loss import build_router

    tiny_student, hub_student, refused = docs.blocks("adding-a-model.md", "yaml")
    cfg = load_config(docs.smoke_with(tmp_path, yaml.safe_load(tiny_student)))
    student = build_tiny_model(cfg.models["student"], bpe_tokenizer, seed=0, attn_implementation=register("efficient"))
    assert type(student) is MistralForCausalLM and student.config.num_key_value_heads == 2
    ids = torch.tensor([bpe_tokenizer("Tom has 3 pens. He buys 4 more.")["input_ids"]])
    steps, words = torch.zeros(1, 1, ids.shape[1]), torch.zeros(1, 1, ids.shape[1])
    steps[0, 0, :], words[0, 0, 2] = 1, 1
    values: list[torch.Tensor] = []
    with torch.no_grad(), stepwise_maps(student, steps, words, values) as maps:
        student(input_ids=ids)
    assert len(maps) == len(values) == 2
    assert values[0].shape[-1] == build_router(student, LossSpec()).proj.in_features  # the router reads the KV heads
    assert ModelSpec.model_validate(yaml.safe_load(hub_student)["models"]["student"]).hub_id == "Qwen/Qwen2.5-0.5B"


def test_model_doc_refusal_is_the_real_message(tmp_path, docs):
    *_, refused = docs.blocks("adding-a-model.md", "yaml")
    (message,) = docs.blocks("adding-a-model.md", "text")
    with pytest.raises(ConfigError) as info:
        load_config(docs.smoke_with(tmp_path, yaml.safe_load(refused)))
    assert message.strip() in str(info.value)
