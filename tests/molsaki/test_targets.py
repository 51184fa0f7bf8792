"""mold.molsaki.targets.text_offsets: x's first token keeps its groups when its offsets include the cue's space."""

from __future__ import annotations

from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from mold.molsaki import step_and_critical_groups
from mold.molsaki.targets import text_offsets

CUE = "explain: "
X = "5 apples. 3 more."


def test_leading_space_token_is_clipped_to_x():
    text = CUE + X
    # byte-level BPE without trimming: "explain", ":", " 5" (8, 10) starts on the cue's space
    offsets = [(0, 7), (7, 8), (8, 10), (10, 17), (17, 18)]
    assert text_offsets(offsets, len(CUE), len(X)) == [(0, 0), (0, 0), (0, 0), (1, 8), (8, 9)]  # without text: lost
    assert text_offsets(offsets, len(CUE), len(X), text) == [(0, 0), (0, 0), (0, 1), (1, 8), (8, 9)]
    # a token that reaches into x from a non-space cue character is still not x's
    assert text_offsets([(6, 10)], len(CUE), len(X), text) == [(0, 0)]


def test_first_number_keeps_its_word_group_with_a_real_byte_level_bpe():
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.train_from_iterator([CUE + X] * 4, trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer)  # no post-processor: offsets keep the leading space
    text = CUE + X
    raw = [tuple(o) for o in fast(text, return_offsets_mapping=True)["offset_mapping"]]
    assert any(s == len(CUE) - 1 and e > len(CUE) for s, e in raw), raw  # the " 5" token starts on the space
    _, words = step_and_critical_groups(X, text_offsets(raw, len(CUE), len(X), text))
    _, lost = step_and_critical_groups(X, text_offsets(raw, len(CUE), len(X)))
    assert len(words) == 2 and len(lost) == 1  # "5" and "3"; without the clip "5" loses its token
