"""Few-shot prompts for the rationale teacher (paper §3.1, paper App. F.3 / B.2).

Two renderings of one content, chosen per teacher (`prompt_format`). 'raw', for base and tiny models:

    Q: <question>
    [Hint: the answer is <gold>.]          (phase 2 only)
    A: [Keywords: k1, k2, k3.]<rationale> The answer is <answer>.

Choice tasks ask for 3–8 keywords that matter for the reasoning; they become the
example's critical words. The tiny offline teachers are trained on exactly these prompts.

'chat', for instruct models: the tokenizer's chat template over the same text, the instruction as the
system turn and each exemplar as a user turn (question, hint line) and an assistant turn (its reply).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mold.data.schema import Example

PROMPT_VERSION = "mold-prompts-v2"
PromptFormat = Literal["raw", "chat"]
INSTRUCTIONS = {
    "number": "Answer each question step by step, one short sentence per step. End with 'The answer is N.'",
    "choice": "List {lo} to {hi} keywords that matter for the reasoning, explain step by step, and end with 'The answer is (X).'",
}


@dataclass(frozen=True)
class Exemplar:
    question: str
    rationale: str
    answer: str
    keywords: tuple[str, ...] = ()


# Written for this project (not taken from the paper): used when a train set has no gold rationales.
BUILTIN_EXEMPLARS = {
    "number": [
        Exemplar("Ann has 5 pencils. She buys 3 more pencils. How many pencils does Ann have now?",
                 "Ann starts with 5 pencils. 5 + 3 = 8. So Ann has 8 pencils.", "8"),
        Exemplar("A baker made 24 cakes. He sold 9 cakes in the morning and 6 cakes in the afternoon. How many cakes are left?",
                 "The baker sold 9 + 6 = 15 cakes. 24 - 15 = 9. So 9 cakes are left.", "9"),
        Exemplar("There are 4 boxes with 7 toys in each box. How many toys are there?",
                 "Each box has 7 toys. 4 * 7 = 28. So there are 28 toys.", "28"),
        Exemplar("Sam had 30 dollars. He spent 12 dollars on a book and then earned 5 dollars. How many dollars does Sam have?",
                 "Sam spent 12 dollars, so 30 - 12 = 18. Then he earned 5 dollars, so 18 + 5 = 23. So Sam has 23 dollars.", "23"),
    ],
    "choice": [
        Exemplar("Where would you keep milk so it stays fresh? Answer choices: (A) fridge, (B) oven, (C) garden, (D) closet, (E) car.",
                 "Milk must stay cold to stay fresh. A fridge keeps food cold.", "A", ("milk", "cold", "fridge")),
        Exemplar("What do people use to cut paper? Answer choices: (A) spoon, (B) pillow, (C) scissors, (D) bucket, (E) rope.",
                 "Cutting paper needs a sharp tool. Scissors have sharp blades for paper.", "C", ("cut", "paper", "scissors")),
        Exemplar("Where do birds build nests? Answer choices: (A) ocean, (B) tree, (C) oven, (D) mailbox, (E) desk.",
                 "Birds need a high, safe place for their nests. The branches of a tree give them one.", "B",
                 ("birds", "nests", "tree")),
        Exemplar("What does a person use to see in the dark? Answer choices: (A) blanket, (B) spoon, (C) chair, (D) flashlight, (E) book.",
                 "Seeing in the dark needs light. A flashlight makes light.", "D", ("dark", "light", "flashlight")),
    ],
}


def format_reply(rationale: str, answer: str, answer_kind: str, keywords: tuple[str, ...] | list[str] = ()) -> str:
    """The teacher's reply in the prompt format (used for exemplars and tiny-teacher training)."""
    shown = f"({answer})" if answer_kind == "choice" else answer
    head = f"Keywords: {', '.join(keywords)}. " if keywords else ""
    return f"{head}{rationale} The answer is {shown}."


def exemplars_for(train: list[Example], answer_kind: str, k: int) -> list[Exemplar]:
    """The first `k` training examples with gold rationales, else the built-in exemplars; never fewer than `k`."""
    gold = [e for e in train if e.rationale]
    if len(gold) >= k:
        return [Exemplar(e.question, e.rationale or "", e.answer, tuple(e.keywords or ())) for e in gold[:k]]
    if k > len(BUILTIN_EXEMPLARS[answer_kind]):
        raise ValueError(f"few_shot {k} > the {len(BUILTIN_EXEMPLARS[answer_kind])} built-in {answer_kind} exemplars")
    return BUILTIN_EXEMPLARS[answer_kind][:k]


def _hint_line(hint: str | None, answer_kind: str) -> str:
    if hint is None:
        return ""
    shown = f"({hint})" if answer_kind == "choice" else hint
    return f"\nHint: the answer is {shown}."


def build_prompt(question: str, exemplars: list[Exemplar], answer_kind: str,
                 hint: str | None = None, num_keywords: tuple[int, int] = (3, 8)) -> str:
    """Raw text: instruction, exemplars, then the question (with the gold answer as a hint in phase 2)."""
    lo, hi = num_keywords
    parts = [INSTRUCTIONS[answer_kind].format(lo=lo, hi=hi)]
    for ex in exemplars:
        parts.append(f"Q: {ex.question}\nA: {format_reply(ex.rationale, ex.answer, answer_kind, ex.keywords)}")
    parts.append(f"Q: {question}{_hint_line(hint, answer_kind)}\nA:")
    return "\n\n".join(parts)


def build_chat(question: str, exemplars: list[Exemplar], answer_kind: str,
               hint: str | None = None, num_keywords: tuple[int, int] = (3, 8)) -> list[dict[str, str]]:
    """Chat turns: the instruction as system turn, each exemplar as a user/assistant exchange, then the question."""
    lo, hi = num_keywords
    turns = [{"role": "system", "content": INSTRUCTIONS[answer_kind].format(lo=lo, hi=hi)}]
    for ex in exemplars:
        turns.append({"role": "user", "content": f"Q: {ex.question}"})
        turns.append({"role": "assistant", "content": format_reply(ex.rationale, ex.answer, answer_kind, ex.keywords)})
    turns.append({"role": "user", "content": f"Q: {question}{_hint_line(hint, answer_kind)}"})
    return turns


def render_prompt(prompt_format: PromptFormat, tokenizer, question: str, exemplars: list[Exemplar], answer_kind: str,
                  hint: str | None = None, num_keywords: tuple[int, int] = (3, 8)) -> str:
    """The prompt text a teacher is given: raw few-shot text, or its tokenizer's chat template applied to
    `build_chat` with the assistant turn opened (the template's special tokens are in the text)."""
    if prompt_format == "raw":
        return build_prompt(question, exemplars, answer_kind, hint, num_keywords)
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError("prompt_format 'chat' needs a tokenizer with a chat template; use 'raw' for this teacher")
    turns = build_chat(question, exemplars, answer_kind, hint, num_keywords)
    return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
