"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """A folder of the real benchmark files in the data layout: $MOLD_DATA_DIR, else a folder
    $MOLD_DATA_MIRROR (as CI sets it), else ../shared/data; tests skip without one."""
    env = os.environ.get("MOLD_DATA_DIR") or os.environ.get("MOLD_DATA_MIRROR")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"benchmark data folder {path} not found (set MOLD_DATA_DIR to the shared data)")
    return path


# ---------------------------------------------------------------------------
# Tokenizers trained in-process (mold.models.tokenizers), shared by distill/ and models/
# ---------------------------------------------------------------------------

TOKENIZER_CORPUS = [
    text
    for i in range(40)
    for text in (
        f"predict: Tom has {i} apples and buys {i + 3} more. How many apples does he have?\n{2 * i + 3}",
        f"explain: Tom has {i} pens.\nTom starts with {i} pens. {i} + 3 = {i + 3}. The answer is {i + 3}.",
        "predict: Where do fish live? Answer choices: (A) sea, (B) sky, (C) desert.\nA",
        "explain: What barks? Answer choices: (A) cat, (B) dog.\nKeywords: barks, dog. A dog barks. The answer is (B).",
        "Sara had 1,000 sweets and ate 2.5 of them! Is that a lot? Yes; (quite) a lot.",
    )
]


@pytest.fixture(scope="session")
def bpe_tokenizer():
    """GPT-2 style byte-level BPE trained by mold on TOKENIZER_CORPUS."""
    from mold.config import TokenizerSpec
    from mold.models.tokenizers import train_tokenizer

    return train_tokenizer(TokenizerSpec(kind="bpe", vocab_size=300), TOKENIZER_CORPUS)


@pytest.fixture(scope="session")
def sp_tokenizer():
    """Llama-2 style Metaspace BPE trained by mold on TOKENIZER_CORPUS."""
    from mold.config import TokenizerSpec
    from mold.models.tokenizers import train_tokenizer

    return train_tokenizer(TokenizerSpec(kind="sentencepiece", vocab_size=300), TOKENIZER_CORPUS)
