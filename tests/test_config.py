"""Tests of mold.config: every shipped preset validates; bad configs fail naming the key."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mold.config import PRESETS_DIR, ConfigError, ExperimentConfig, load_config, load_preset, preset_path

REPO_ROOT = Path(__file__).resolve().parent.parent
PRESET_FILES = sorted(PRESETS_DIR.rglob("*.yaml")) + sorted(PRESETS_DIR.rglob("*.yml"))


def test_preset_glob_is_not_empty():
    # Guards the parametrised test below against silently collecting nothing.
    assert PRESETS_DIR == REPO_ROOT / "mold" / "presets"
    assert len(PRESET_FILES) >= 1
    assert PRESETS_DIR / "mini.yaml" in PRESET_FILES


@pytest.mark.parametrize("path", PRESET_FILES, ids=lambda p: str(p.relative_to(PRESETS_DIR)))
def test_every_shipped_preset_validates(path):
    cfg = load_config(path)
    assert isinstance(cfg, ExperimentConfig)
    assert cfg.seeds  # required, never empty


def test_load_preset_by_name():
    cfg = load_preset("mini")
    assert cfg.name == "mini"
    assert cfg.pairs["tiny"].methods == ["vanilla", "dss", "mmi", "molsaki", "sl:last->last"]


def test_unknown_preset_lists_known():
    with pytest.raises(ConfigError, match=r"unknown preset 'nope'; known: .*mini"):
        preset_path("nope")


# ---------------------------------------------------------------------------
# Bad configs: each mutation of the mini preset fails with the key in the message
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mini_raw() -> dict:
    return yaml.safe_load((PRESETS_DIR / "mini.yaml").read_text())


def _fails(tmp_path: Path, raw: dict) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: invalid config")
    return message


def test_mini_raw_itself_is_valid(tmp_path, mini_raw):
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(mini_raw))
    assert load_config(path).name == "mini"


def test_unknown_top_level_key(tmp_path, mini_raw):
    raw = {**copy.deepcopy(mini_raw), "lerning_rate": 0.1}
    assert "  lerning_rate: Extra inputs are not permitted" in _fails(tmp_path, raw)


def test_negative_lr(tmp_path, mini_raw):
    raw = copy.deepcopy(mini_raw)
    raw["pairs"]["tiny"]["training"]["lr"] = -1e-3
    assert "  pairs.tiny.training.lr: Input should be greater than 0" in _fails(tmp_path, raw)


def test_unknown_method(tmp_path, mini_raw):
    raw = copy.deepcopy(mini_raw)
    raw["pairs"]["tiny"]["methods"] = ["vanilla", "foo"]
    message = _fails(tmp_path, raw)
    assert "  pairs.tiny.methods: " in message
    assert "unknown method 'foo'" in message


def test_repeated_method(tmp_path, mini_raw):
    raw = copy.deepcopy(mini_raw)
    raw["pairs"]["tiny"]["methods"] = ["dss", "dss"]
    assert "methods repeat" in _fails(tmp_path, raw)


@pytest.mark.parametrize("method", ["sl:3->1", "sl:last->2", "sl:0->last"])
def test_single_layer_methods_are_accepted(tmp_path, mini_raw, method):
    raw = copy.deepcopy(mini_raw)
    raw["pairs"]["tiny"]["methods"] = ["dss", method]
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert load_config(path).pairs["tiny"].methods == ["dss", method]


@pytest.mark.parametrize("method", ["sl:", "sl:3-1", "sl:x->1", "SL:1->1"])
def test_malformed_single_layer_methods_fail(tmp_path, mini_raw, method):
    raw = copy.deepcopy(mini_raw)
    raw["pairs"]["tiny"]["methods"] = [method]
    assert f"unknown method {method!r}" in _fails(tmp_path, raw)


def test_task_with_unknown_dataset(tmp_path, mini_raw):
    raw = copy.deepcopy(mini_raw)
    raw["tasks"]["math"]["tests"] = ["math_test", "math_nowhere"]
    assert "tasks.math: unknown dataset 'math_nowhere'" in _fails(tmp_path, raw)


def test_pair_with_unknown_model_and_task(tmp_path, mini_raw):
    raw = copy.deepcopy(mini_raw)
    raw["pairs"]["tiny"]["student"] = "ghost"
    assert "pairs.tiny.student: unknown model 'ghost'" in _fails(tmp_path, raw)
    raw = copy.deepcopy(mini_raw)
    raw["pairs"]["tiny"]["tasks"] = ["math", "poetry"]
    assert "pairs.tiny.tasks: unknown task 'poetry'" in _fails(tmp_path, raw)


def test_model_with_both_hub_id_and_tiny(tmp_path, mini_raw):
    raw = copy.deepcopy(mini_raw)
    raw["models"]["student"]["hub_id"] = "openai-community/gpt2"
    message = _fails(tmp_path, raw)
    assert "  models.student: " in message
    assert "set exactly one of hub_id, tiny, gguf or layers_from (got ['hub_id', 'tiny'])" in message


def test_tiny_model_with_hub_tokenizer(tmp_path, mini_raw):
    raw = copy.deepcopy(mini_raw)
    raw["models"]["student"]["tokenizer"] = {"kind": "hub"}
    assert "tiny models need a locally trained tokenizer" in _fails(tmp_path, raw)


def test_min_steps_above_max_steps(tmp_path, mini_raw):
    raw = copy.deepcopy(mini_raw)
    raw["datasets"]["math_train"].update(min_steps=3, max_steps=2)
    message = _fails(tmp_path, raw)
    assert "  datasets.math_train.synthetic_math: " in message
    assert "min_steps must be <= max_steps" in message


def test_seed_must_not_be_null(tmp_path, mini_raw):
    raw = copy.deepcopy(mini_raw)
    raw["datasets"]["math_train"]["seed"] = None
    assert "datasets.math_train.synthetic_math.seed" in _fails(tmp_path, raw)


def test_repeated_seeds(tmp_path, mini_raw):
    raw = {**copy.deepcopy(mini_raw), "seeds": [0, 0]}
    assert "seeds repeat" in _fails(tmp_path, raw)


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


def _mold(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mold", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)


def test_cli_validate_preset_exits_zero():
    done = _mold("validate", "--preset", "mini")
    assert done.returncode == 0, done.stderr
    # 1 pair x 2 tasks x 5 methods x 2 seeds
    assert "mini: valid; 20 distillation runs" in done.stdout


def test_cli_validate_bad_config_exits_two_and_names_key(tmp_path, mini_raw):
    raw = copy.deepcopy(mini_raw)
    raw["pairs"]["tiny"]["training"]["lr"] = -1.0
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    done = _mold("validate", "--config", str(path))
    assert done.returncode == 2
    assert "pairs.tiny.training.lr" in done.stderr
    assert done.stdout == ""


def _real_small_raw() -> dict:
    return yaml.safe_load((PRESETS_DIR / "real-small.yaml").read_text())


def test_real_small_models():
    cfg = load_preset("real-small")
    teacher, student = cfg.models["smollm2"], cfg.models["smollm2-15l"]
    assert teacher.gguf.sha256 == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert (teacher.prompt_format, student.prompt_format) == ("chat", "raw")
    assert (student.layers_from.source, student.layers_from.every) == ("smollm2", 2)


@pytest.mark.parametrize(("source", "message"), [
    ("ghost", "models.smollm2-15l.layers_from.source: 'ghost' is not a pretrained model (hub_id or gguf)"),
    ("smollm2-15l", "models.smollm2-15l.layers_from.source: 'smollm2-15l' is not a pretrained model (hub_id or gguf)"),
])
def test_layers_from_needs_a_pretrained_source(tmp_path, source, message):
    raw = _real_small_raw()
    raw["models"]["smollm2-15l"]["layers_from"]["source"] = source
    assert message in _fails(tmp_path, raw)


def test_gguf_and_hub_id_together_are_refused(tmp_path):
    raw = _real_small_raw()
    raw["models"]["smollm2"]["hub_id"] = "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert "set exactly one of hub_id, tiny, gguf or layers_from (got ['hub_id', 'gguf'])" in _fails(tmp_path, raw)


def test_bad_prompt_format_and_checksum_are_refused(tmp_path):
    raw = _real_small_raw()
    raw["models"]["smollm2"]["prompt_format"] = "chatml"
    raw["models"]["smollm2"]["gguf"]["sha256"] = "B179"
    message = _fails(tmp_path, raw)
    assert "models.smollm2.prompt_format: Input should be 'raw' or 'chat'" in message
    assert "models.smollm2.gguf.sha256: String should match pattern" in message
