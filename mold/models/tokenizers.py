"""Tokenizers trained locally with `tokenizers` (offline presets) or loaded from the hub.

Two styles, so that teacher and student split text differently as in the paper's pairs:
'bpe' is GPT-2's byte-level BPE; 'sentencepiece' is a BPE over Metaspace-marked words
(Llama-2/TinyLlama style). Both split digits one by one, which tiny models need for arithmetic.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from mold.config import ModelSpec, TokenizerSpec
from mold.models.sources import gguf_location

GPT2_SPECIALS = {"eos_token": "<|endoftext|>", "bos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}
SP_SPECIALS = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}


def _byte_level_bpe(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return tok


def _metaspace_bpe(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """SentencePiece-style BPE ('▁' marks a word start), as Llama-2 / TinyLlama tokenizers are."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split("\n", behavior="isolated"),  # no token may span a line break (prompt | target)
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first"),
    ])
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[SP_SPECIALS[k] for k in ("unk_token", "bos_token", "eos_token", "pad_token")],
        initial_alphabet=list(string.printable.replace(" ", "▁")),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", bos)])
    return tok


def train_tokenizer(spec: TokenizerSpec, texts: list[str]) -> PreTrainedTokenizerFast:
    """Train a tokenizer of `spec.kind` on `texts` and wrap it for transformers."""
    if spec.kind == "bpe":
        raw, specials = _byte_level_bpe(texts, spec.vocab_size), GPT2_SPECIALS
    elif spec.kind == "sentencepiece":
        raw, specials = _metaspace_bpe(texts, spec.vocab_size), SP_SPECIALS
    else:
        raise ValueError(f"tokenizer kind {spec.kind!r} is loaded from the hub, not trained")
    return PreTrainedTokenizerFast(tokenizer_object=raw, **specials)


def load_tokenizer(spec: ModelSpec, local_dir: Path | None = None, model: str = "model") -> PreTrainedTokenizerFast:
    """The model's tokenizer: trained locally (from `local_dir`), the hub model's own, or the one stored in
    its GGUF file (`model` is its key, for error messages)."""
    if spec.tokenizer.kind == "hub" and spec.gguf is not None:
        folder, file = gguf_location(spec, model)
        tok = AutoTokenizer.from_pretrained(folder, gguf_file=file)
    elif spec.tokenizer.kind == "hub":
        tok = AutoTokenizer.from_pretrained(spec.hub_id, revision=spec.revision)
    else:
        if local_dir is None:
            raise ValueError("a locally trained tokenizer needs its directory")
        tok = PreTrainedTokenizerFast.from_pretrained(str(local_dir))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok
