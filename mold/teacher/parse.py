"""Parse a teacher's reply into rationale, answer and keywords; reasons for dropping it.

Written against real instruct-model replies (tests/teacher/fixtures): steps may be split by blank
lines, the answer sentence varies ("So, the final answer is: **8**"), and a hinted reply may only
restate the hint.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace

from mold.data.answers import AnswerKind, answers_match, normalize_answer
from mold.molsaki.maths import find_critical_spans

ANSWER_RE = re.compile(r"(?:(?:so|therefore|thus|hence),?\s+)?(?:the\s+)?(?:final\s+)?answer\s+is\s*:?\s*(.+?)(?:\.\s*$|\.\s|\n|$)",
                       re.IGNORECASE | re.DOTALL)
KEYWORDS_RE = re.compile(r"^\s*keywords\s*:\s*(.*?)(?:\.\s+|\n|$)", re.IGNORECASE)
NEXT_QUESTION = "\nQ:"  # a raw few-shot continuation: the model starts the next exemplar
# A phase-2 reply that says it was handed the answer ("the hint", "the given answer", "we are told the answer").
HINT_MENTION_RE = re.compile(r"\bhint(?:ed|s)?\b|\b(?:given|told|provided)\b[^.\n]{0,30}\banswer\b|\banswer\b[^.\n]{0,20}\b(?:given|provided)\b",
                             re.IGNORECASE)
NUMBER_IN_TEXT_RE = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")


@dataclass(frozen=True)
class ParsedReply:
    rationale: str
    answer: str
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dropped:
    reason: str  # no_answer | unparsable_answer | empty_rationale | no_keywords | wrong_answer | restated_hint | mentions_hint | too_few_keywords
    detail: str = ""


def cut_continuation(text: str) -> str:
    """Keep the reply to this question only: stop where the model starts a new one, or at the first blank
    line after an answer sentence (blank lines between steps stay)."""
    end = text.find(NEXT_QUESTION)
    text = text if end < 0 else text[:end]
    first_answer = ANSWER_RE.search(text)
    if first_answer is not None:
        blank = text.find("\n\n", first_answer.end() - 1)
        text = text if blank < 0 else text[:blank]
    return text.strip()


def clean_rationale(text: str) -> str:
    """One line of plain text: markdown emphasis dropped, blank lines and runs of spaces made single spaces."""
    return " ".join(text.replace("**", "").split())


def strip_repeated_answers(rationale: str, answer: str, kind: AnswerKind, num_choices: int = 5) -> str:
    """Drop answer sentences repeated at the end ("... = 24. The answer is 24. The answer is 24.")."""
    while True:
        ends = [m for m in ANSWER_RE.finditer(rationale) if m.end() == len(rationale)]
        if not ends or normalize_answer(ends[-1].group(1), kind, num_choices) != answer:
            return rationale
        rationale = rationale[: ends[-1].start()].strip()


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
    rationale = strip_repeated_answers(clean_rationale(text[: last.start()]), answer, kind, num_choices)
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


def restates_hint(rationale: str, gold: str, tolerance: float = 1e-4) -> bool:
    """A math rationale with no number other than the answer itself did not reason its way there."""
    return all(answers_match(n, gold, "number", tolerance) for n in NUMBER_IN_TEXT_RE.findall(rationale))


def check_hinted_reply(reply: str, gold: str, kind: AnswerKind, want_keywords: bool = False,
                       tolerance: float = 1e-4) -> ParsedReply | Dropped:
    """Phase 2 (paper §3.1: the failures re-prompted with the gold answer as a hint): `check_reply`, and the
    rationale must not lean on the hint. A reply that only restates the hinted answer, opens with it (then
    justifies it after the fact), or says it was given the answer is not a rationale to learn from."""
    text = cut_continuation(reply)
    if ANSWER_RE.match(parse_keywords(text)[1] if want_keywords else text):
        return Dropped("restated_hint", "opens with the hinted answer")
    parsed = check_reply(reply, gold, kind, want_keywords, tolerance)
    if isinstance(parsed, Dropped):
        return Dropped("restated_hint", parsed.detail) if parsed.reason == "empty_rationale" else parsed
    mention = HINT_MENTION_RE.search(text)
    if mention is not None:
        return Dropped("mentions_hint", mention.group())
    if kind == "number" and restates_hint(parsed.rationale, gold, tolerance):
        return Dropped("restated_hint", parsed.rationale[:80])
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
