"""Shared fixtures: two tiny test sets and a tiny GPT-2 + byte-level BPE tokenizer built in-process."""

from __future__ import annotations

import os

# Before anything imports `datasets` / `huggingface_hub`: nothing may be fetched.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from mold.data.schema import Example, format_choices  # noqa: E402
from mold.io import write_jsonl_atomic  # noqa: E402

EOS = "<|endoftext|>"

MATH = [
    ("Tom has 3 apples and buys 4 more. How many apples does he have?", "7"),
    ("A box holds 6 pens. How many pens are in 3 boxes?", "18"),
    ("Sara had 10 sweets and ate 2.5 of them. How many are left?", "7.5"),
    ("There are 1,000 birds and 1 flies away. How many remain?", "999"),
    ("Ben reads 12 pages a day for 2 days. How many pages does he read?", "24"),
]
CHOICE = [
    ("Where do fish live?", ["sea", "sky", "desert", "moon", "fire"], "A"),
    ("What do you use to cut paper?", ["spoon", "scissors", "cup", "shoe", "rope"], "B"),
    ("Where would you sleep?", ["oven", "pool", "bed", "road", "tree"], "C"),
    ("What melts in the sun?", ["rock", "iron", "glass", "ice", "wood"], "D"),
    ("What barks?", ["cat", "fish", "bird", "cow", "dog"], "E"),
]


@pytest.fixture(scope="session")
def math_examples() -> list[Example]:
    return [Example(id=f"m{i}", question=q, answer=a, source="math_test") for i, (q, a) in enumerate(MATH)]


@pytest.fixture(scope="session")
def choice_examples() -> list[Example]:
    return [
        Example(id=f"c{i}", question=format_choices(q, cs), answer=a, choices=cs, source="choice_test")
        for i, (q, cs, a) in enumerate(CHOICE)
    ]


@pytest.fixture(scope="session")
def test_files(tmp_path_factory, math_examples: list[Example]) -> dict[str, Path]:
    """Two number test sets of 5 examples each, as mold dataset files (JSONL of Example)."""
    root = tmp_path_factory.mktemp("data")
    files = {"math_test": root / "math_test.jsonl", "math_steps": root / "math_steps.jsonl"}
    write_jsonl_atomic(files["math_test"], math_examples)
    write_jsonl_atomic(files["math_steps"], list(reversed(math_examples)))
    return files


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A random 2-layer GPT-2 (n_embd 32) and a byte-level BPE tokenizer trained here, saved together."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    texts = [f"predict: {q}\n{a}" for q, a in MATH] + [format_choices(q, cs) for q, cs, _ in CHOICE]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=[EOS], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=EOS, pad_token=EOS, bos_token=EOS)

    eos_id = tokenizer.convert_tokens_to_ids(EOS)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=2, n_positions=128,
        bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=eos_id,
    )
    torch.manual_seed(0)
    model = GPT2LMHeadModel(config).eval()

    out = tmp_path_factory.mktemp("tiny_student")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _memorize(tiny_model_dir: Path, out: Path, texts: list[str]) -> Path:
    """The tiny student trained (~2 s) to memorise `texts`, saved to `out`."""
    import torch
    from transformers import AutoTokenizer, GPT2LMHeadModel

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = GPT2LMHeadModel.from_pretrained(tiny_model_dir)
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    labels = batch.input_ids.masked_fill(batch.attention_mask == 0, -100)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    torch.manual_seed(0)
    model.train()
    for _ in range(150):
        loss = model(**batch, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.2, f"memorisation failed: loss {loss.item():.3f}"

    model.eval().save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def memorized_model_dir(tiny_model_dir: Path, tmp_path_factory) -> Path:
    """The tiny student trained to memorise `predict: {question}\\n{answer}<eos>` for MATH.

    Scoring it checks that the evaluation prompt is exactly the training prefix and that
    generation stops at EOS: every answer must come back right.
    """
    texts = [f"predict: {q}\n{a}{EOS}" for q, a in MATH]
    return _memorize(tiny_model_dir, tmp_path_factory.mktemp("memorized_student"), texts)


@pytest.fixture(scope="session")
def explain_memorized_model_dir(tiny_model_dir: Path, tmp_path_factory) -> Path:
    """The tiny student trained to memorise the explain task with its answer sentence, for MATH."""
    texts = [f"explain: {q}\nWe work it out. The answer is {a}.{EOS}" for q, a in MATH]
    return _memorize(tiny_model_dir, tmp_path_factory.mktemp("explain_student"), texts)
