"""CPU kernel pinning and thread count: both come from the config, are applied before torch loads, and are
recorded in provenance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mold.config import load_preset
from mold.provenance import provenance
from mold.reproducibility import PIN_ENV, PinTooLate, pin_cpu_kernels

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_pinning_after_torch_loaded_is_refused(monkeypatch):
    import torch  # noqa: F401  (the test process has torch loaded)

    for name in PIN_ENV["avx2"]:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(PinTooLate, match="before torch is imported"):
        pin_cpu_kernels("avx2")
    pin_cpu_kernels("native")  # nothing to pin


def test_offline_presets_pin_avx2_and_the_gpu_preset_does_not():
    assert {name: load_preset(name).cpu_kernels for name in ("smoke", "mini", "paper-tiny", "paper")} == {
        "smoke": "avx2", "mini": "avx2", "paper-tiny": "avx2", "paper": "native"}


def _provenance_in_fresh_process(env: dict[str, str]) -> dict:
    """What `mold <stage>` records after its setup, in a new interpreter (torch not yet loaded)."""
    code = ("import json; from mold.cli import _config, _setup_torch, build_parser; "
            "from mold.provenance import provenance; cfg = _config(build_parser().parse_args(['validate', '--preset', 'smoke'])); "
            "_setup_torch(cfg); print(json.dumps(provenance(cfg)['cpu']))")
    clean = {k: v for k, v in os.environ.items() if k not in PIN_ENV["avx2"]}
    out = subprocess.run([sys.executable, "-c", code], env={**clean, "PYTHONPATH": str(REPO_ROOT), **env},
                         capture_output=True, text=True, timeout=120, check=True)
    return {"cpu": json.loads(out.stdout), "stderr": out.stderr}


def test_stage_setup_pins_kernels_and_threads_from_the_config():
    import torch

    if torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        pytest.skip("this CPU has no AVX2")
    seen = _provenance_in_fresh_process({"MOLD_THREADS": "2"})
    assert seen["cpu"] == {"cpu_capability": "AVX2", "torch_threads": 1, "pins": PIN_ENV["avx2"]}
    assert "granted 2 cores; running the config's threads=1" in seen["stderr"]


def test_provenance_names_inputs_inside_the_results_by_relative_path(tmp_path):
    cfg = load_preset("smoke").model_copy(update={"results_dir": tmp_path / "somewhere"})
    inside = cfg.root / "data" / "math_train.jsonl"
    inside.parent.mkdir(parents=True)
    inside.write_text("x\n")
    record = provenance(cfg, [inside])
    assert list(record["inputs"]) == ["data/math_train.jsonl"]
    assert record["cpu"]["cpu_capability"] and record["requirements_lock_sha256"]
