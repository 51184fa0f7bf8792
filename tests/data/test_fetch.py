"""fetch_data against a loopback HTTP server that serves the public files under their upstream paths
(`<owner>/<repo>/<commit>/<path>`, as raw.githubusercontent.com does), and against folder mirrors."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mold.data.fetch import OFFLINE_ENV, ChecksumError, MissingDataError, fetch_benchmarks
from mold.data.sources import SOURCES, DataFile, DerivedFile, fold_lists_json

ALL = sorted(SOURCES)


def fold_texts(nfolds: dict) -> dict[str, str]:
    """ASDiv's fold lists as text files (one id per line) from the converted JSON."""
    return {f"dataset/nfolds/{subset}/{fold}.txt": "".join(f"{i}\n" for i in ids)
            for subset, folds in nfolds.items() for fold, ids in folds.items()}


@pytest.fixture(scope="module")
def upstream_tree(tmp_path_factory, shared_data_dir) -> Path:
    """The public files laid out as the upstream host serves them."""
    root = tmp_path_factory.mktemp("upstream")
    for entries in SOURCES.values():
        for entry in entries:
            if isinstance(entry, DataFile):
                dest = root / entry.upstream.address
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(shared_data_dir / entry.local, dest)
            else:
                texts = fold_texts(json.loads((shared_data_dir / entry.local).read_text()))
                for upstream in entry.inputs:
                    dest = root / upstream.address
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_text(texts[upstream.path])
    return root


@pytest.fixture()
def loopback(upstream_tree, monkeypatch):
    """http://127.0.0.1:<port> serving `upstream_tree` only; shut down after the test."""
    monkeypatch.setenv(OFFLINE_ENV, "1")  # never the real upstream host
    handler = partial(QuietHandler, directory=str(upstream_tree))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fetch_from_loopback_url_verifies_every_file(loopback, tmp_path, shared_data_dir):
    records = fetch_benchmarks(ALL, tmp_path, [loopback], "mold fetch-data")
    for name in ALL:
        assert [r["file"] for r in records[name]] == [e.local for e in SOURCES[name]]
        for record in records[name]:
            assert sha256(tmp_path / record["file"]) == record["sha256"]
            assert (tmp_path / record["file"]).read_bytes() == (shared_data_dir / record["file"]).read_bytes()
    asdiv = {r["file"]: r for r in records["asdiv"]}
    assert asdiv["asdiv/ASDiv.xml"]["origin"] == f"{loopback}/chaochun/nlu-asdiv-dataset/883f90a9a65bf00304ba8f37423910fe743abc47/dataset/ASDiv.xml"
    assert asdiv["asdiv/nfolds_ids.json"]["origin"].startswith("built from 10 files under " + loopback)
    assert not list(tmp_path.rglob("*.tmp"))
    again = fetch_benchmarks(["gsm8k"], tmp_path, [loopback], "mold fetch-data")
    assert {r["origin"] for r in again["gsm8k"]} == {"cache"}


def test_flipped_byte_stops_the_fetch_and_leaves_nothing(loopback, upstream_tree, tmp_path):
    entry = SOURCES["singleeq"][0]
    served = upstream_tree / entry.upstream.address
    original = served.read_bytes()
    flipped = bytearray(original)
    flipped[1000] ^= 0x01
    served.write_bytes(bytes(flipped))
    try:
        with pytest.raises(ChecksumError, match=r"singleeq/questions\.json: sha256 mismatch .*127\.0\.0\.1"):
            fetch_benchmarks(["singleeq"], tmp_path, [loopback], "mold fetch-data")
    finally:
        served.write_bytes(original)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_a_bad_copy_in_the_cache_is_replaced(loopback, tmp_path):
    entry = SOURCES["gsm8k"][1]
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / entry.local).write_text("not the file\n")
    records = fetch_benchmarks(["gsm8k"], tmp_path, [loopback], "mold fetch-data")
    assert sha256(tmp_path / entry.local) == entry.sha256
    assert records["gsm8k"][1]["origin"].startswith(loopback)


def test_offline_without_a_mirror_lists_every_missing_file_and_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv(OFFLINE_ENV, "1")
    with pytest.raises(MissingDataError) as err:
        fetch_benchmarks(["svamp", "asdiv"], tmp_path, [str(tmp_path / "no-mirror")], "mold fetch-data --preset paper")
    message = str(err.value)
    assert message.startswith(f"8 benchmark file(s) missing from {tmp_path}")
    for entry in SOURCES["svamp"] + SOURCES["asdiv"]:
        assert entry.local in message
    assert "mold fetch-data --preset paper" in message and "MOLD_DATA_MIRROR" in message


def test_folder_mirror_in_the_data_layout(shared_data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(OFFLINE_ENV, "1")
    records = fetch_benchmarks(["asdiv", "singleeq"], tmp_path, [str(shared_data_dir)], "mold fetch-data")
    assert [r["origin"] for r in records["asdiv"]] == [str(shared_data_dir / e.local) for e in SOURCES["asdiv"]]
    assert all(sha256(tmp_path / r["file"]) == r["sha256"] for rs in records.values() for r in rs)


def test_folder_mirror_in_the_upstream_layout(upstream_tree, tmp_path, monkeypatch):
    monkeypatch.setenv(OFFLINE_ENV, "1")
    records = fetch_benchmarks(["asdiv"], tmp_path, [str(upstream_tree)], "mold fetch-data")
    assert records["asdiv"][1]["origin"].startswith(f"built from 10 files under {upstream_tree}")


def test_fold_lists_json_by_hand():
    texts = [f"nluds-{k:04d}\r\n\n".encode() for k in range(10)]  # CRLF and blank lines are tolerated
    built = json.loads(fold_lists_json(texts))
    assert built == {"asdiv-a": {f"fold{k}": [f"nluds-{k:04d}"] for k in range(5)},
                     "asdiv-w": {f"fold{k}": [f"nluds-{k + 5:04d}"] for k in range(5)}}
    assert fold_lists_json(texts).startswith(b'{\n "asdiv-a": {\n  "fold0": [\n   "nluds-0000"\n  ],')


def test_every_pinned_file_matches_its_size_and_hash_in_the_shared_copy(shared_data_dir):
    for entries in SOURCES.values():
        for entry in entries:
            path = shared_data_dir / entry.local
            assert (path.stat().st_size, sha256(path)) == (entry.size, entry.sha256), entry.local
            if isinstance(entry, DerivedFile):
                assert all(u.repo.commit and u.path.endswith(".txt") for u in entry.inputs)


def test_fetch_data_command_fills_the_default_cache_from_a_mirror(loopback, tmp_path, monkeypatch):
    from mold.cli import main

    monkeypatch.delenv("MOLD_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("MOLD_DATA_MIRROR", loopback)
    assert main(["fetch-data", "--preset", "paper-tiny", "--results-dir", str(tmp_path / "results"),
                 "--benchmark", "singleeq"]) == 0
    record = json.loads((tmp_path / "results/paper-tiny/data/sources/singleeq.json").read_text())
    assert record["data_dir"] == str(tmp_path / "cache/mold/data")
    assert [(f["file"], f["sha256"], f["licence"]) for f in record["files"]] == [
        ("singleeq/questions.json", SOURCES["singleeq"][0].sha256, "none stated")]
    assert sha256(tmp_path / "cache/mold/data/singleeq/questions.json") == SOURCES["singleeq"][0].sha256


def test_presets_fetch_every_benchmark_they_read_and_name_no_local_folder():
    from mold import paths, plan
    from mold.config import PRESETS_DIR, load_preset

    for name in ("paper", "paper-tiny"):
        cfg = load_preset(name)
        assert cfg.data_dir is None and "shared" not in (PRESETS_DIR / f"{name}.yaml").read_text()
        assert plan.benchmarks(cfg) == ALL
        assert plan.dataset_inputs(cfg, "svamp_train") == [paths.fetch_record(cfg, "svamp")]
    smoke = load_preset("smoke")
    assert plan.benchmarks(smoke) == [] and plan.dataset_inputs(smoke, "math_train") == []
