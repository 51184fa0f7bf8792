"""Parse a teacher's reply into rationale, answer and keywords; reasons for dropping it."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace

from mold.data.answers import AnswerKind, answers_match, normalize_answer
from mold.molsaki.maths import find_critical_spans

ANSWER_RE = re.compile(r"(?:so\s+)?the answer is\s*:?\s*(.+?)(?:\.\s*$|\.\s|\n|$)", re.IGNORECASE | re.DOTALL)
KEYWORDS_RE = re.compile(r"^\s*keywords\s*:\s*(.*?)(?:\.\s+|\n|$)", re.IGNORECASE)
STOP_MARKERS = ("\n\nQ:", "\nQ:", "\n\n")


@dataclass(frozen=True)
class ParsedReply:
    rationale: str
    answer: str
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dropped:
    reason: str  # no_answer | unparsable_answer | empty_rationale | no_keywords | wrong_answer | too_few_keywords
    detail: str = ""


def cut_continuation(text: str) -> str:
    """Keep the reply to this question only: stop where the model starts a new one."""
    end = min((i for i in (text.find(m) for m in STOP_MARKERS) if i >= 0), default=len(text))
    return text[:end].strip()


def parse_keywords(text: str) -> tuple[tuple[str, ...], str]:
    """Split a leading 'Keywords: a, b, c.' line off `text`; unique, case-insensitive."""
    match = KEYWORDS_RE.match(text)
    if match is None:
        return (), text
    seen: dict[str, str] = {}
    for raw in match.group(1).split(","):
        word = raw.strip().strip(".").strip()
        if word and word.lower() not in seen:
            seen[word.lower()] = word
    return tuple(seen.values()), text[match.end():].strip()


def parse_reply(reply: str, kind: AnswerKind, want_keywords: bool = False, num_choices: int = 5) -> ParsedReply | Dropped:
    """Rationale = text before the last 'The answer is'; answer = the first candidate after it."""
    text = cut_continuation(reply)
    keywords: tuple[str, ...] = ()
    if want_keywords:
        keywords, text = parse_keywords(text)
        if not keywords:
            return Dropped("no_keywords", text[:80])
    markers = list(ANSWER_RE.finditer(text))
    if not markers:
        return Dropped("no_answer", text[-80:])
    last = markers[-1]
    answer = normalize_answer(last.group(1), kind, num_choices)
    if answer is None:
        return Dropped("unparsable_answer", last.group(1)[:40])
    rationale = text[: last.start()].strip()
    if not rationale:
        return Dropped("empty_rationale")
    return ParsedReply(rationale, answer, keywords)


def check_reply(reply: str, gold: str, kind: AnswerKind, want_keywords: bool = False, tolerance: float = 1e-4) -> ParsedReply | Dropped:
    """Parse, then keep only replies whose answer equals the gold answer (paper §3.1)."""
    parsed = parse_reply(reply, kind, want_keywords)
    if isinstance(parsed, Dropped):
        return parsed
    if not answers_match(parsed.answer, gold, kind, tolerance):
        return Dropped("wrong_answer", f"{parsed.answer} != {gold}")
    return parsed


def bound_keywords(parsed: ParsedReply, text: str, bounds: tuple[int, int] = (3, 8),
                   drop_too_few: bool = True) -> tuple[ParsedReply | Dropped, Counter[str]]:
    """App. B.2 asks for 3-8 unique keywords: keep those that occur in `text` (x = question + rationale) as
    critical words do (whole word, any case), the first `hi` of them; fewer than `lo` left drops the reply
    (`drop_too_few`) or is counted as `kept_too_few`. Also returns how many keywords were removed, by reason
    (`absent_from_text`, `beyond_max`)."""
    lo, hi = bounds
    present = [k for k in parsed.keywords if find_critical_spans(text, [k])]
    removed = Counter({"absent_from_text": len(parsed.keywords) - len(present), "beyond_max": max(0, len(present) - hi)})
    kept = tuple(present[:hi])
    if len(kept) < lo and not drop_too_few:
        removed["kept_too_few"] += 1
    elif len(kept) < lo:
        return Dropped("too_few_keywords", f"{len(kept)} of {', '.join(parsed.keywords)} occur in the text; need {lo}"), removed
    return replace(parsed, keywords=kept), removed
