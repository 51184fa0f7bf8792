"""Steps and critical words agree across tokenizers (paper §3.2): same (N1, N2), exact cover.

Three tiny tokenizers are trained in-process with `tokenizers` (no network): a GPT-2 style
byte-level BPE (offsets include the leading space), a BERT-style WordPiece (splits
"1,000" and "3.5" at punctuation, adds [CLS]/[SEP] with empty spans) and a Metaspace
Unigram, each wrapped in transformers' `PreTrainedTokenizerFast`.
"""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from mold.molsaki import find_critical_spans, split_steps, step_and_critical_groups

CORPUS = [
    "Tom has 1,000 apples and gives 3.5 of them to Ann.",
    "How many apples are left? Ann eats 12 more!",
    "The river bank is near the old bank of the town.",
    "A frog jumps into the pond. Where does it go?",
    "He bought 250 pens for 7.25 dollars each.",
    "She walked 4 miles, then 2.5 more miles home.",
] * 4

TEXT = (
    "Tom has 1,000 apples. He gives 3.5 of them to Ann?\n"
    "Then he buys 250 more and eats 12! So he has 1,234.5 apples.\n"
    "The answer is 1234."
)
KEYWORD_TEXT = "Where would you find a River Bank? A bank near the river. Riverbanks are muddy."
KEYWORDS = ["river bank", "bank", "muddy"]


def _byte_level_bpe() -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(CORPUS, trainer)
    return tokenizer


def _wordpiece() -> Tokenizer:
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=200, special_tokens=["[UNK]", "[CLS]", "[SEP]"])
    tokenizer.train_from_iterator(CORPUS, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", tokenizer.token_to_id("[CLS]")), ("[SEP]", tokenizer.token_to_id("[SEP]"))],
    )
    return tokenizer


def _unigram() -> Tokenizer:
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=150, special_tokens=["<unk>"], unk_token="<unk>")
    tokenizer.train_from_iterator(CORPUS, trainer)
    return tokenizer


@pytest.fixture(scope="module")
def fast_tokenizers() -> dict[str, PreTrainedTokenizerFast]:
    builders = {"byte_level_bpe": _byte_level_bpe, "wordpiece": _wordpiece, "unigram": _unigram}
    return {name: PreTrainedTokenizerFast(tokenizer_object=build()) for name, build in builders.items()}


def _offsets(tokenizer: PreTrainedTokenizerFast, text: str) -> list[tuple[int, int]]:
    return [tuple(span) for span in tokenizer(text, return_offsets_mapping=True)["offset_mapping"]]


def _check_groups(text: str, offsets: list[tuple[int, int]], keywords: list[str] | None,
                  split: str = "periods") -> tuple[int, int]:
    steps, words = step_and_critical_groups(text, offsets, keywords, split)
    step_spans, word_spans = split_steps(text, split), find_critical_spans(text, keywords)
    assert len(steps) == len(step_spans)
    assert len(words) == len(word_spans)
    # every step's tokens start (first non-space char) inside that step
    for tokens, (step_start, step_end) in zip(steps, step_spans):
        for token in tokens:
            start, end = offsets[token]
            first = start + len(text[start:end]) - len(text[start:end].lstrip())
            assert step_start <= first < step_end
    # every non-blank token is in exactly one step
    visible = [i for i, (s, e) in enumerate(offsets) if text[s:e].strip()]
    assert sorted(i for tokens in steps for i in tokens) == visible
    for tokens, (word_start, word_end) in zip(words, word_spans):
        word_chars = set(range(word_start, word_end))
        covered = set()
        for token in tokens:
            start, end = offsets[token]
            token_chars = set(range(start, end))
            assert token_chars & word_chars, "a word's token does not overlap the word"
            covered |= token_chars
        # all of the word's non-space characters are covered by its tokens
        assert {c for c in word_chars if not text[c].isspace()} <= covered & word_chars
        # and no other token touches the word
        others = set(visible) - set(tokens)
        assert not any(set(range(*offsets[i])) & word_chars for i in others)
    return len(steps), len(words)


@pytest.mark.parametrize(("split", "n_steps"), [("sentences", 5), ("periods", 3)])
def test_same_shape_across_tokenizers_numbers(fast_tokenizers, split, n_steps):
    # sentences: "Tom has 1,000 apples." / " He gives 3.5 of them to Ann?\n" /
    # "Then he buys 250 more and eats 12!" / " So he has 1,234.5 apples.\n" / "The answer is 1234."
    # periods: "Tom has 1,000 apples." / " He gives ... eats 12! So he has 1,234.5 apples." / "\nThe answer is 1234."
    # numbers: 1,000  3.5  250  12  1,234.5  1234
    shapes = {name: _check_groups(TEXT, _offsets(tok, TEXT), None, split) for name, tok in fast_tokenizers.items()}
    assert set(shapes.values()) == {(n_steps, 6)}, shapes
    # the tokenizers really do differ
    token_counts = {len(_offsets(tok, TEXT)) for tok in fast_tokenizers.values()}
    assert len(token_counts) > 1


def test_numbers_span_several_tokens_somewhere(fast_tokenizers):
    offsets = _offsets(fast_tokenizers["wordpiece"], TEXT)
    _, words = step_and_critical_groups(TEXT, offsets)
    # WordPiece's pre-tokenizer splits "1,000" into "1", ",", "000"
    assert len(words[0]) == 3


@pytest.mark.parametrize(("split", "n_steps"), [("sentences", 3), ("periods", 2)])
def test_same_shape_across_tokenizers_keywords(fast_tokenizers, split, n_steps):
    # sentences: "Where would you find a River Bank?" / " A bank near the river." / " Riverbanks are muddy."
    # periods: the question joins " A bank near the river."
    # keyword occurrences: "River Bank", "Bank" (inside it), "bank", "muddy"; "Riverbanks" is no match
    assert [KEYWORD_TEXT[s:e] for s, e in find_critical_spans(KEYWORD_TEXT, KEYWORDS)] == [
        "River Bank",
        "Bank",
        "bank",
        "muddy",
    ]
    shapes = {
        name: _check_groups(KEYWORD_TEXT, _offsets(tok, KEYWORD_TEXT), KEYWORDS, split)
        for name, tok in fast_tokenizers.items()
    }
    assert set(shapes.values()) == {(n_steps, 4)}, shapes
