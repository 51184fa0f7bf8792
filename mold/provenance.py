"""Provenance stamped beside every artefact: config, versions, git, device, CPU kernels and threads, the
dependency lock's hash, seeds, input hashes (keyed by path relative to the result folder when inside it)."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path

from mold.config import ExperimentConfig
from mold.io import sha256_file
from mold.reproducibility import cpu_fingerprint

LOCK_FILE = Path(__file__).resolve().parent.parent / "requirements.lock"  # present in a source checkout
PACKAGES = ("mold", "torch", "transformers", "tokenizers", "datasets", "lm-eval", "accelerate", "safetensors", "pydantic", "snakemake")


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_describe() -> str | None:
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu ({platform.processor() or platform.machine()})"


def lock_sha256() -> str | None:
    return sha256_file(LOCK_FILE) if LOCK_FILE.is_file() else None


def input_key(cfg: ExperimentConfig, path: Path) -> str:
    """Inputs inside the result folder by their relative path, so provenance does not name the folder."""
    path = Path(path)
    return path.relative_to(cfg.root).as_posix() if path.is_relative_to(cfg.root) else str(path)


def provenance(cfg: ExperimentConfig, inputs: list[Path] | None = None, **extra) -> dict:
    """Everything needed to tell where a result came from."""
    return {
        "config": cfg.model_dump(mode="json"),
        "git": git_describe(),
        "versions": package_versions(),
        "requirements_lock_sha256": lock_sha256(),
        "python": platform.python_version(),
        "device": device_name(),
        "cpu": cpu_fingerprint(),
        "inputs": {input_key(cfg, p): sha256_file(p) for p in (inputs or []) if Path(p).is_file()},
        **extra,
    }
