"""Answer normalisation, extraction from generated text, and comparison.

Math answers are compared as numbers (`18.0` = `18`, `1,000` = `1000`) within a float
tolerance (docs/baselines.md: 1e-4); choice answers as letters.
"""

from __future__ import annotations

import math
import re
from typing import Literal

AnswerKind = Literal["number", "choice"]

NUMBER_RE = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?|-?\.\d+")
ANSWER_MARKER_RE = re.compile(r"answer is\s*:?\s*", re.IGNORECASE)
PAREN_LETTER_RE = re.compile(r"\(([A-Ha-h])\)")
LEADING_LETTER_RE = re.compile(r"^([A-Ha-h])[).:]")
BARE_LETTER_RE = re.compile(r"\b([A-H])\b")


def parse_number(text: str) -> float | None:
    """The value of the first number in `text` (commas as thousands separators)."""
    match = NUMBER_RE.search(text.replace("$", ""))
    if match is None:
        return None
    value = float(match.group().replace(",", ""))
    return value if math.isfinite(value) else None


def format_number(value: float) -> str:
    """Canonical text of a number: integers without a decimal point, others trimmed."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")


STRICT_NUMBER_RE = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|-?\.\d+")


def canonical_number(text: str) -> str | None:
    """The canonical text of `text` if it is exactly one number ('18.0' -> '18', '1,000' -> '1000'),
    else None: unlike `normalize_number`, 'about 5 apples' is not a gold answer."""
    stripped = text.strip()
    if not STRICT_NUMBER_RE.fullmatch(stripped):
        return None
    value = float(stripped.replace(",", ""))
    return format_number(value) if math.isfinite(value) else None


def normalize_number(text: str) -> str | None:
    """`"1,000"` -> `"1000"`, `"18.0"` -> `"18"`, `"$3.50"` -> `"3.5"`; None if no number."""
    value = parse_number(text)
    return None if value is None else format_number(value)


def normalize_choice(text: str, num_choices: int = 5) -> str | None:
    """`"(b)"`, `"B"`, `"b)"` -> `"B"`; None if no valid letter."""
    stripped = text.strip()
    if len(stripped) == 1 and stripped.isalpha():
        letter = stripped.upper()
    else:  # "(c)" or "c)" first; a bare letter only in capitals, so the article "a" is not choice A
        match = PAREN_LETTER_RE.search(stripped) or LEADING_LETTER_RE.match(stripped) or BARE_LETTER_RE.search(stripped)
        if match is None:
            return None
        letter = match.group(1).upper()
    return letter if ord(letter) - ord("A") < num_choices else None


def normalize_answer(text: str, kind: AnswerKind, num_choices: int = 5) -> str | None:
    return normalize_number(text) if kind == "number" else normalize_choice(text, num_choices)


def extract_answer(text: str, kind: AnswerKind, num_choices: int = 5) -> str | None:
    """The answer a model wrote: the first candidate after the last 'answer is' marker,
    else (numbers only) the last number in the text (Fine-tune-CoT's rule)."""
    markers = list(ANSWER_MARKER_RE.finditer(text))
    if markers:
        tail = text[markers[-1].end():]
        found = normalize_answer(tail, kind, num_choices)
        if found is not None:
            return found
    if kind == "number":
        numbers = NUMBER_RE.findall(text.replace("$", ""))
        return normalize_number(numbers[-1]) if numbers else None
    return normalize_choice(text, num_choices) if not markers and len(text.strip()) <= 3 else None


def answers_match(predicted: str | None, gold: str, kind: AnswerKind, tolerance: float = 1e-4) -> bool:
    """Numeric equality within `tolerance` for numbers; letter equality for choices."""
    if predicted is None:
        return False
    if kind == "choice":
        return predicted.strip().upper() == gold.strip().upper()
    pred_value, gold_value = parse_number(predicted), parse_number(gold)
    if pred_value is None or gold_value is None:
        return False
    return abs(pred_value - gold_value) <= tolerance
