"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

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


# ---------------------------------------------------------------------------
# The worked examples of docs/ (tests/test_docs.py, tests/test_e2e_smoke.py)
# ---------------------------------------------------------------------------


class DocExamples:
    """Fenced blocks of the docs, and the dataset doc's example written out as a copy of the smoke preset."""

    DOCS = REPO_ROOT / "docs"

    @classmethod
    def blocks(cls, doc: str, language: str) -> list[str]:
        """The fenced ```language blocks of a doc, in order."""
        return re.findall(rf"^```{language}\n(.*?)^```$", (cls.DOCS / doc).read_text(encoding="utf-8"), re.M | re.S)

    @staticmethod
    def smoke_with(folder: Path, edits: dict) -> Path:
        """A copy of the smoke preset with the doc's top-level keys merged in, key by key."""
        from mold.config import PRESETS_DIR

        raw = yaml.safe_load((PRESETS_DIR / "smoke.yaml").read_text(encoding="utf-8"))
        for section, entries in edits.items():
            raw[section] = {**raw[section], **entries}
        path = folder / "my-smoke.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        return path

    @classmethod
    def dataset_example(cls, data_dir: Path, folder: Path) -> Path:
        """Write the doc's data file under `data_dir` and its config into `folder`; return the config's path."""
        (problems,) = cls.blocks("adding-a-dataset.md", "json")
        target = data_dir / "mydata" / "problems.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(problems, encoding="utf-8")
        return cls.smoke_with(folder, yaml.safe_load(cls.blocks("adding-a-dataset.md", "yaml")[0]))


@pytest.fixture(scope="session")
def docs() -> type[DocExamples]:
    return DocExamples
