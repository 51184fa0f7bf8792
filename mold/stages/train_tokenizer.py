"""Stage `train_tokenizer`: train a tiny model's local tokenizer on the preset's training text."""

from __future__ import annotations

from mold import paths
from mold.config import ExperimentConfig
from mold.data.prepared import tokenizer_corpus
from mold.io import atomic_dir
from mold.models.tokenizers import train_tokenizer


def run(cfg: ExperimentConfig, model: str) -> None:
    tokenizer = train_tokenizer(cfg.models[model].tokenizer, tokenizer_corpus(cfg))
    with atomic_dir(paths.tokenizer_dir(cfg, model)) as tmp:
        tokenizer.save_pretrained(str(tmp))
