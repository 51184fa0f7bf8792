"""requirements.lock is the one environment: every package hash-pinned, agreeing with pyproject.toml, and the
one thing .ci/run and the Dockerfile install (with torch, installed first from a CPU or CUDA index, apart)."""

from __future__ import annotations

import importlib.metadata
import os
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCK = REPO_ROOT / "requirements.lock"
INSTALL = "--require-hashes --no-deps -r requirements.lock"


def lock_entries() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes), from `name==version \\` lines followed by `--hash=sha256:...` lines."""
    text = re.sub(r"\\\n\s*", " ", LOCK.read_text())
    entries = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            requirement, *options = line.split()
            name, version = requirement.split("==")
            entries[canonicalize_name(name)] = (version, [o.removeprefix("--hash=sha256:") for o in options])
    return entries


def declared() -> list[Requirement]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in [*project["dependencies"], *project["optional-dependencies"]["dev"]]]


def test_every_locked_package_is_exact_and_hash_pinned():
    entries = lock_entries()
    assert len(entries) > 50
    for name, (version, hashes) in entries.items():
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version), name
        assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), name


def test_pyproject_and_lock_agree():
    entries = lock_entries()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        if name == "torch":
            assert name not in entries, "torch is installed from its own index, not from the lock"
            continue
        assert name in entries, f"{name} is a dependency in pyproject.toml but not in requirements.lock"
        assert requirement.specifier.contains(entries[name][0], prereleases=True), (
            f"pyproject.toml wants {requirement}, requirements.lock pins {entries[name][0]}")


def test_ci_and_image_install_the_lock_and_the_same_torch():
    ci, docker = (REPO_ROOT / ".ci" / "run").read_text(), (REPO_ROOT / "Dockerfile").read_text()
    assert INSTALL in ci and INSTALL in docker
    ci_torch = re.search(r"torch==([0-9.]+)", ci).group(1)
    assert re.search(r"ARG TORCH_VERSION=([0-9.]+)", docker).group(1) == ci_torch
    torch_spec = next(r for r in declared() if r.name == "torch").specifier
    assert torch_spec.contains(ci_torch)


@pytest.mark.skipif(not os.environ.get("CI"), reason="a developer's environment may run ahead of the lock; CI installs it")
def test_installed_versions_are_the_locked_ones():
    for name, (version, _) in lock_entries().items():
        assert importlib.metadata.version(name).split("+")[0] == version, name
