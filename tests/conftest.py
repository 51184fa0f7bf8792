"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The real benchmark files (../shared/data, or $MOLD_DATA_DIR); tests skip without them."""
    env = os.environ.get("MOLD_DATA_DIR")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"benchmark data folder {path} not found (set MOLD_DATA_DIR to the shared data)")
    return path
