"""Synthetic stand-ins for the paper's datasets (mini/smoke presets, offline, CPU).

Two task families, both deterministic functions of their spec (`random.Random(spec.seed)`
is the only source of randomness; the same spec always gives the same examples):

- **math** (`generate_math`) plays SVAMP in-domain and SingleEq / ASDiv / GSM8K out of
  domain (paper Table 4; docs/paper-to-code.md). A problem is a start amount followed by `min_steps..max_steps`
  changes (add, subtract, occasionally multiply by 2..5); the gold rationale has one
  short equation sentence per step (`7 + 5 = 12.`). Numbers stay small (operands
  1..20, every intermediate result an integer in 1..99) so a 4-layer model trained from
  scratch for minutes can learn to write the rationales. Out-of-domain sets either take
  more steps or the `alt` template family: other entities (a shop, not a person), other
  verbs, past tense, another question. Both families write the same equation sentences.
- **choice** (`generate_choice`) plays CommonsenseQA (paper §4.1, §3.1): five-way
  questions in Fine-tune-CoT's format about 40 built-in facts (where milk is kept, where
  a bee lives, what you cut paper with, how you feel after a race), each with a gold
  rationale of 2-3 short sentences and 3-4 gold keywords that occur as whole words in
  the question or rationale (the critical words of paper §3.2).

Choice train/test split: every relation has four question-stem templates, and each fact
has one fixed *test slot*, template `k % 4` for the k-th fact of its relation. The test
split asks every fact only in its test slot; the train split asks it only in the other
three. So test questions never occur in training, yet every fact and every stem template
of the test set has been seen in training (the fact with other stems, the stem with other
facts): the test measures whether the fact was learnt, not whether the phrasing was
memorised. The slots are fixed by the knowledge base, not by the seed, so train and test
specs with any seeds stay disjoint.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from mold.config import SyntheticChoiceSpec, SyntheticMathSpec
from mold.data.schema import Example, format_choices

NUM_CHOICES = 5
MAX_OPERAND = 20
MAX_VALUE = 99
MULTIPLY_PROB = 0.15
MULTIPLIERS = (2, 3, 4, 5)

# ----------------------------------------------------------------------------- math
# Nouns are (singular, plural).
PEOPLE = [("Tom", "he"), ("Ann", "she"), ("Sam", "he"), ("Lily", "she"),
          ("Ben", "he"), ("Mia", "she"), ("Max", "he"), ("Emma", "she")]
BASE_OBJECTS = [("apple", "apples"), ("pen", "pens"), ("card", "cards"), ("sticker", "stickers"),
                ("book", "books"), ("marble", "marbles"), ("cookie", "cookies"), ("balloon", "balloons")]
ALT_PLACES = ["shop", "school", "farm", "library", "club", "bakery"]
ALT_OBJECTS = [("cup", "cups"), ("box", "boxes"), ("chair", "chairs"),
               ("hat", "hats"), ("bag", "bags"), ("egg", "eggs")]

# Step sentences. {n}: operand, {obj}: noun agreeing with n, {objs}: plural noun,
# {pron}: subject pronoun, {other}: a second person.
BASE_ADD = ["{pron} buys {n} more {obj}.", "{pron} finds {n} more {obj}.", "{pron} gets {n} more {obj}."]
BASE_SUB = ["{pron} gives {n} {obj} to {other}.", "{pron} loses {n} {obj}.", "{pron} sells {n} {obj}."]
BASE_MUL = ["{pron} ends up with {n} times as many {objs} as before."]
ALT_ADD = ["It got {n} more {obj}.", "It bought {n} new {obj}.", "It received {n} more {obj}."]
ALT_SUB = ["It sold {n} {obj}.", "It gave away {n} {obj}.", "It lost {n} {obj}."]
ALT_MUL = ["It ended up with {n} times as many {objs} as before."]


@dataclass(frozen=True)
class MathStep:
    op: str  # "+", "-" or "*"
    operand: int
    result: int


def _plan_steps(rng: random.Random, start: int, num_steps: int, max_operand: int = MAX_OPERAND,
                max_value: int = MAX_VALUE) -> list[MathStep]:
    """Random operations that keep every result an integer in 1..max_value.

    Never reaching 0 keeps "0" from being a frequent, guessable answer.
    """
    steps, value = [], start
    for _ in range(num_steps):
        mult = [k for k in MULTIPLIERS if value * k <= max_value]
        if mult and rng.random() < MULTIPLY_PROB:
            op, operand = "*", rng.choice(mult)
        else:
            ops = [op for op, ok in (("+", value < max_value), ("-", value > 1)) if ok]
            op = rng.choice(ops)
            high = min(max_operand, max_value - value) if op == "+" else min(max_operand, value - 1)
            operand = rng.randint(1, high)
        value = {"+": value + operand, "-": value - operand, "*": value * operand}[op]
        steps.append(MathStep(op, operand, value))
    return steps


def _noun(noun: tuple[str, str], count: int) -> str:
    return noun[0] if count == 1 else noun[1]


def _capitalise(sentence: str) -> str:
    return sentence[0].upper() + sentence[1:]


def _step_sentence(rng: random.Random, step: MathStep, family: dict, slots: dict, first: bool) -> str:
    pattern = rng.choice(family[step.op])
    text = pattern.format(n=step.operand, obj=_noun(slots["noun"], step.operand), objs=slots["noun"][1], **slots["fill"])
    return _capitalise(text) if first else "Then " + text[0].lower() + text[1:]


def _math_example(rng: random.Random, spec: SyntheticMathSpec) -> tuple[str, str, str]:
    """(question, rationale, answer) of one problem."""
    start = rng.randint(1, spec.max_operand)
    steps = _plan_steps(rng, start, rng.randint(spec.min_steps, spec.max_steps), spec.max_operand, spec.max_value)
    final = steps[-1].result
    if spec.templates == "base":
        (name, pron), noun = rng.choice(PEOPLE), rng.choice(BASE_OBJECTS)
        other = rng.choice([p for p, _ in PEOPLE if p != name])
        family = {"+": BASE_ADD, "-": BASE_SUB, "*": BASE_MUL}
        opening = f"{name} has {start} {_noun(noun, start)}."
        ask = f"How many {noun[1]} does {name} have now?"
        begin = f"{name} starts with {start} {_noun(noun, start)}."
        end = f"So {name} has {final} {_noun(noun, final)}."
        fill = {"pron": pron, "other": other}
    else:
        place, noun = rng.choice(ALT_PLACES), rng.choice(ALT_OBJECTS)
        family = {"+": ALT_ADD, "-": ALT_SUB, "*": ALT_MUL}
        opening = f"A {place} had {start} {_noun(noun, start)}."
        ask = f"How many {noun[1]} did the {place} have in the end?"
        begin = f"The {place} had {start} {_noun(noun, start)} at first."
        end = f"So the {place} had {final} {_noun(noun, final)} in the end."
        fill = {}
    slots = {"noun": noun, "fill": fill}
    sentences = [_step_sentence(rng, s, family, slots, first=i == 0) for i, s in enumerate(steps)]
    question = " ".join([opening, *sentences, ask])
    values = [start] + [s.result for s in steps]
    equations = [f"{a} {s.op} {s.operand} = {s.result}." for a, s in zip(values, steps)]
    rationale = " ".join([begin, *equations, end])
    return question, rationale, str(final)


def generate_math(spec: SyntheticMathSpec, source: str) -> list[Example]:
    """`spec.num_examples` arithmetic word problems with gold equation rationales."""
    rng = random.Random(spec.seed)
    examples = []
    for i in range(spec.num_examples):
        question, rationale, answer = _math_example(rng, spec)
        examples.append(Example(id=f"{source}-{i}", question=question, answer=answer,
                                rationale=rationale, source=source))
    return examples


# ----------------------------------------------------------------------------- choice
@dataclass(frozen=True)
class Fact:
    subject: str  # fills the stem templates' {s}
    answer: str  # the correct choice; the other facts' answers of the relation are distractors
    rationale: str
    keywords: tuple[str, ...]  # whole words of the question or rationale


STEMS: dict[str, list[str]] = {
    "place": ["Where would you usually find {s}?", "Where is {s} most likely to be?",
              "What place is most likely to have {s}?", "If you are looking for {s}, where should you go?"],
    "home": ["Where does {s} live?", "What is the home of {s}?",
             "Where would you most likely see {s}?", "Where does {s} spend most of its time?"],
    "tool": ["What do you use to {s}?", "If you want to {s}, what do you need?",
             "Which thing helps you {s}?", "What would a person use to {s}?"],
    "feeling": ["How will you feel after you {s}?", "What might you feel if you {s}?",
                "If you {s}, how will you likely feel?", "After you {s}, what are you likely to feel?"],
}
NUM_STEMS = 4


def _fact(subject: str, answer: str, rationale: str, keywords: str) -> Fact:
    return Fact(subject, answer, rationale, tuple(keywords.split()))


FACTS: dict[str, list[Fact]] = {
    "place": [
        _fact("milk", "fridge", "Milk must stay cold. A fridge keeps food cold. So milk is kept in a fridge.", "milk cold fridge"),
        _fact("a hammer", "toolbox", "A hammer is a tool. Tools are kept in a toolbox.", "hammer tool toolbox"),
        _fact("a book", "library", "People read a book. A library has many books to read.", "book read library"),
        _fact("a car", "garage", "A car needs a place to park. People park a car in a garage.", "car park garage"),
        _fact("money", "bank", "Money must be kept safe. A bank keeps money safe.", "money safe bank"),
        _fact("fresh bread", "bakery", "Bread is baked in an oven. A bakery bakes fresh bread.", "bread baked bakery"),
        _fact("a plane", "airport", "A plane needs a long runway. An airport has a runway for a plane.", "plane runway airport"),
        _fact("a shirt", "closet", "A shirt is clothing. Clothing hangs in a closet.", "shirt clothing closet"),
        _fact("a sick person", "hospital", "A sick person needs a doctor. Doctors work in a hospital.", "sick doctor hospital"),
        _fact("a student", "school", "A student goes to class to learn. Classes are held at a school.", "student learn school"),
    ],
    "home": [
        _fact("a fish", "river", "A fish must swim in water. A river is full of water.", "fish swim water river"),
        _fact("a bird", "nest", "A bird lays eggs. It keeps its eggs in a nest.", "bird eggs nest"),
        _fact("a bee", "hive", "A bee makes honey. Bees keep honey in a hive.", "bee honey hive"),
        _fact("a cow", "farm", "A cow eats grass and gives milk. A farmer keeps a cow on a farm.", "cow farmer farm"),
        _fact("a camel", "desert", "A camel can go a long time without water. A desert is hot and dry.", "camel dry desert"),
        _fact("a monkey", "jungle", "A monkey climbs trees. A jungle has many tall trees.", "monkey trees jungle"),
        _fact("a penguin", "ice", "A penguin likes the cold. It lives on the ice near the sea.", "penguin cold ice"),
        _fact("a frog", "pond", "A frog swims and jumps. A pond has water for a frog to swim in.", "frog swims pond"),
        _fact("a horse", "stable", "A horse needs a dry place to sleep. A horse sleeps in a stable.", "horse sleep stable"),
        _fact("a spider", "web", "A spider spins silk. It catches bugs in a web of silk.", "spider silk web"),
    ],
    "tool": [
        _fact("cut paper", "scissors", "To cut paper you need something sharp. Scissors are sharp.", "cut sharp scissors"),
        _fact("write a letter", "pen", "To write you need ink. A pen has ink.", "write ink pen"),
        _fact("see in the dark", "flashlight", "In the dark you need light. A flashlight gives light.", "dark light flashlight"),
        _fact("tell the time", "clock", "The time is shown on a clock. A clock has hands that show the hour.", "time clock hour"),
        _fact("dig a hole", "shovel", "To dig a hole you move dirt. A shovel moves dirt.", "dig dirt shovel"),
        _fact("sweep the floor", "broom", "To sweep the floor you push dust away. A broom pushes dust.", "sweep dust broom"),
        _fact("call a friend", "phone", "To call a friend you talk from far away. A phone lets you talk from far away.", "call talk phone"),
        _fact("open a locked door", "key", "A locked door needs a key. The key opens the lock.", "locked door key"),
        _fact("boil water", "kettle", "To boil water you heat it. A kettle heats water.", "boil heat kettle"),
        _fact("fix a loose screw", "screwdriver", "A loose screw needs to be turned. A screwdriver turns a screw.", "screw turned screwdriver"),
    ],
    "feeling": [
        _fact("run a long race", "tired", "A long race uses a lot of energy. Using a lot of energy makes you tired.", "race energy tired"),
        _fact("eat a big meal", "full", "A big meal fills your stomach. A filled stomach feels full.", "meal stomach full"),
        _fact("lose a game", "sad", "Nobody likes to lose. Losing a game makes you sad.", "lose game sad"),
        _fact("get a gift", "happy", "A gift is a nice surprise. A nice surprise makes you happy.", "gift surprise happy"),
        _fact("touch a hot stove", "hurt", "A hot stove burns your skin. A burn makes you hurt.", "hot burns hurt"),
        _fact("walk in the snow", "cold", "Snow is made of ice. Ice makes you cold.", "snow ice cold"),
        _fact("hear a loud noise at night", "scared", "A loud noise at night is a surprise in the dark. The dark makes you scared.", "noise dark scared"),
        _fact("drink no water all day", "thirsty", "Your body needs water. Without water you feel thirsty.", "water body thirsty"),
        _fact("skip lunch", "hungry", "If you skip lunch you get no food. Without food you feel hungry.", "lunch food hungry"),
        _fact("win a prize", "proud", "A prize shows you did well. Doing well makes you proud.", "prize well proud"),
    ],
}


def stem_slots(split: str) -> list[tuple[str, int, int]]:
    """All (relation, fact index, stem index) slots of a split; test: stem `k % 4` of fact k."""
    slots = []
    for relation, facts in FACTS.items():
        for k in range(len(facts)):
            stems = [k % NUM_STEMS] if split == "test" else [t for t in range(NUM_STEMS) if t != k % NUM_STEMS]
            slots.extend((relation, k, t) for t in stems)
    return slots


def _choice_example(rng: random.Random, slot: tuple[str, int, int], example_id: str, source: str) -> Example:
    relation, k, t = slot
    fact = FACTS[relation][k]
    distractors = rng.sample([f.answer for f in FACTS[relation] if f.answer != fact.answer], NUM_CHOICES - 1)
    position = rng.randrange(NUM_CHOICES)
    choices = distractors[:position] + [fact.answer] + distractors[position:]
    stem = STEMS[relation][t].format(s=fact.subject)
    return Example(id=example_id, question=format_choices(stem, choices), answer="ABCDE"[position],
                   choices=choices, rationale=fact.rationale, keywords=list(fact.keywords), source=source)


def generate_choice(spec: SyntheticChoiceSpec, source: str) -> list[Example]:
    """`spec.num_examples` five-way questions drawn uniformly from the split's slots."""
    rng = random.Random(spec.seed)
    slots = stem_slots(spec.split)
    return [_choice_example(rng, rng.choice(slots), f"{source}-{i}", source) for i in range(spec.num_examples)]


# ----------------------------------------------------------------------------- dispatch
GENERATORS = {"synthetic_math": generate_math, "synthetic_choice": generate_choice}


def generate(spec: SyntheticMathSpec | SyntheticChoiceSpec, source: str) -> list[Example]:
    """The examples of a synthetic dataset spec; `source` names the dataset (ids `{source}-{i}`)."""
    if spec.kind not in GENERATORS:
        raise ValueError(f"not a synthetic dataset kind: {spec.kind!r} (known: {', '.join(GENERATORS)})")
    return GENERATORS[spec.kind](spec, source)
