"""Synthetic task generators: determinism, counts, arithmetic, keywords, split overlap."""

from __future__ import annotations

import re

import pytest

from mold.config import RealDatasetSpec, SyntheticChoiceSpec, SyntheticMathSpec
from mold.data.answers import extract_answer
from mold.data.schema import format_choices
from mold.data.synthetic import FACTS, NUM_STEMS, STEMS, generate, generate_choice, generate_math, stem_slots

EQUATION_RE = re.compile(r"(\d+) ([-+*]) (\d+) = (\d+)\.")
OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


def math_spec(**kw) -> SyntheticMathSpec:
    return SyntheticMathSpec(**({"num_examples": 300, "min_steps": 1, "max_steps": 2, "seed": 11} | kw))


def choice_spec(**kw) -> SyntheticChoiceSpec:
    return SyntheticChoiceSpec(**({"num_examples": 300, "split": "train", "seed": 21} | kw))


def equations(rationale: str) -> list[tuple[int, str, int, int]]:
    return [(int(a), op, int(b), int(c)) for a, op, b, c in EQUATION_RE.findall(rationale)]


def first_number(text: str) -> int:
    return int(re.search(r"\d+", text).group())


def whole_word_in(word: str, text: str) -> bool:
    return re.search(rf"\b{re.escape(word)}\b", text, re.IGNORECASE) is not None


# ----------------------------------------------------------------------------- math
@pytest.mark.parametrize("templates", ["base", "alt"])
def test_math_is_deterministic_with_ids_and_count(templates):
    first = generate_math(math_spec(templates=templates), "svamp_like")
    again = generate_math(math_spec(templates=templates), "svamp_like")
    assert first == again
    assert len(first) == 300
    assert [e.id for e in first] == [f"svamp_like-{i}" for i in range(300)]
    assert {e.source for e in first} == {"svamp_like"}
    assert generate_math(math_spec(templates=templates, seed=12), "svamp_like") != first


@pytest.mark.parametrize(("min_steps", "max_steps"), [(1, 1), (1, 2), (3, 3), (2, 6)])
def test_math_step_counts_respected(min_steps, max_steps):
    examples = generate_math(math_spec(min_steps=min_steps, max_steps=max_steps), "m")
    counts = {len(equations(e.rationale)) for e in examples}
    assert min(counts) >= min_steps and max(counts) <= max_steps
    assert counts == set(range(min_steps, max_steps + 1))  # 300 draws cover every count


@pytest.mark.parametrize("templates", ["base", "alt"])
def test_math_answers_recomputed_from_rationale(templates):
    for example in generate_math(math_spec(templates=templates, max_steps=6), "m"):
        chain = equations(example.rationale)
        assert chain[0][0] == first_number(example.question)  # starts from the question's amount
        value = chain[0][0]
        for a, op, b, c in chain:
            assert a == value and OPS[op](a, b) == c
            assert 1 <= c <= 99 and (1 <= b <= 20 if op != "*" else 2 <= b <= 5)
            assert str(b) in example.question.split()  # every operand is stated in the question
            value = c
        assert example.answer == str(value)
        assert extract_answer(example.rationale, "number") == example.answer


def test_math_uses_all_operations_and_multiplies_only_occasionally():
    examples = generate_math(math_spec(num_examples=1000), "m")
    ops = [op for e in examples for _, op, _, _ in equations(e.rationale)]
    assert set(ops) == {"+", "-", "*"}
    assert 0.05 < ops.count("*") / len(ops) < 0.25


@pytest.mark.parametrize("templates", ["base", "alt"])
def test_math_text_format(templates):
    for example in generate_math(math_spec(templates=templates), "m"):
        assert example.question.endswith("?")
        assert example.rationale.endswith(".") and "answer is" not in example.rationale.lower()
        assert not re.search(r"\d\.\d", example.question + " " + example.rationale)  # no decimal look-alikes
        sentences = example.question.split(". ")
        assert len(sentences) == len(equations(example.rationale)) + 2  # opening, one per step, question
        assert example.choices is None and example.keywords is None


def test_math_alt_templates_differ_from_base():
    base = generate_math(math_spec(num_examples=500), "m")
    alt = generate_math(math_spec(num_examples=500, templates="alt"), "m")
    opening_word = lambda e: e.question.split()[0]  # noqa: E731
    assert {opening_word(e) for e in alt} == {"A"}
    assert not {opening_word(e) for e in base} & {"A"}
    asked = lambda e: e.question.rsplit(". ", 1)[1]  # noqa: E731
    assert all(re.fullmatch(r"How many \w+ does \w+ have now\?", asked(e)) for e in base)
    assert all(re.fullmatch(r"How many \w+ did the \w+ have in the end\?", asked(e)) for e in alt)
    base_words = {w for e in base for w in re.findall(r"[a-z]+", e.question)}
    alt_words = {w for e in alt for w in re.findall(r"[a-z]+", e.question)}
    assert {"sold", "received", "bought", "shop", "cups"} <= alt_words - base_words
    assert {"buys", "gives", "apples"} <= base_words - alt_words


def test_math_train_test_overlap_small():
    train = generate_math(math_spec(num_examples=1200, seed=11), "train")
    test = generate_math(math_spec(num_examples=200, seed=12), "test")
    seen = {e.question for e in train}
    assert sum(e.question in seen for e in test) / len(test) < 0.10


# ----------------------------------------------------------------------------- choice
@pytest.mark.parametrize("split", ["train", "test"])
def test_choice_is_deterministic_with_ids_and_count(split):
    first = generate_choice(choice_spec(split=split), "csqa_like")
    assert first == generate_choice(choice_spec(split=split), "csqa_like")
    assert len(first) == 300 and [e.id for e in first] == [f"csqa_like-{i}" for i in range(300)]
    assert generate_choice(choice_spec(split=split, seed=5), "csqa_like") != first


@pytest.mark.parametrize("split", ["train", "test"])
def test_choice_examples_are_well_formed(split):
    for example in generate_choice(choice_spec(split=split), "c"):
        assert example.answer in "ABCDE" and len(example.answer) == 1
        assert len(example.choices) == 5 and len(set(example.choices)) == 5
        stem = example.question.split(" Answer choices: ")[0]
        assert example.question == format_choices(stem, example.choices) and stem.endswith("?")
        gold = example.choices["ABCDE".index(example.answer)]
        fact = next(f for facts in FACTS.values() for f in facts if f.subject in stem and f.answer == gold)
        assert example.rationale == fact.rationale and whole_word_in(gold, example.rationale)
        assert 3 <= len(example.keywords) <= 5
        for word in example.keywords:
            assert whole_word_in(word, example.question + " " + example.rationale), word
        assert 1 <= example.rationale.count(". ") + 1 <= 3 and example.rationale.endswith(".")


def test_choice_distractors_come_from_the_same_relation():
    for example in generate_choice(choice_spec(), "c"):
        relations = [r for r, facts in FACTS.items() if set(example.choices) <= {f.answer for f in facts}]
        assert len(relations) == 1


def test_choice_answer_position_is_uniform():
    letters = [e.answer for e in generate_choice(choice_spec(num_examples=2000), "c")]
    for letter in "ABCDE":
        assert 0.15 < letters.count(letter) / len(letters) < 0.25


def test_choice_split_slots_are_disjoint_but_cover_facts_and_stems():
    train, test = set(stem_slots("train")), set(stem_slots("test"))
    assert not train & test
    assert len(test) == sum(len(f) for f in FACTS.values())  # each fact once in test
    train_facts = {(r, k) for r, k, _ in train}
    train_stems = {(r, t) for r, _, t in train}
    for relation, k, t in test:  # the fact and the stem were both seen in training
        assert (relation, k) in train_facts and (relation, t) in train_stems
    assert all(len(stems) == NUM_STEMS for stems in STEMS.values())


def test_choice_test_questions_never_appear_in_train():
    train = generate_choice(choice_spec(num_examples=1200, seed=21), "train")
    test = generate_choice(choice_spec(num_examples=200, split="test", seed=22), "test")
    train_stems = {e.question.split(" Answer choices:")[0] for e in train}
    test_stems = {e.question.split(" Answer choices:")[0] for e in test}
    assert not train_stems & test_stems
    train_facts = {e.rationale for e in train}
    assert {e.rationale for e in test} <= train_facts  # every test fact was taught


def test_knowledge_base_is_consistent():
    for relation, facts in FACTS.items():
        answers = [f.answer for f in facts]
        assert len(set(answers)) == len(answers) >= 5, relation
        for fact in facts:
            assert whole_word_in(fact.answer, fact.rationale), fact
            assert 3 <= len(fact.keywords) <= 5 and fact.answer in fact.keywords


# ----------------------------------------------------------------------------- dispatch
def test_generate_dispatches_on_kind():
    assert generate(math_spec(num_examples=5), "m") == generate_math(math_spec(num_examples=5), "m")
    assert generate(choice_spec(num_examples=5), "c") == generate_choice(choice_spec(num_examples=5), "c")
    with pytest.raises(ValueError, match="not a synthetic"):
        generate(RealDatasetSpec(name="svamp", split="test"), "svamp")


def test_mini_preset_synthetic_datasets_generate():
    from mold.config import load_preset

    config = load_preset("mini")
    for key, spec in config.datasets.items():
        if spec.kind != "real":
            examples = generate(spec, key)
            assert len(examples) == spec.num_examples
            assert len({e.id for e in examples}) == len(examples)
