"""The PaLM-540B rationales shipped with Distilling step-by-step (paper §3.1, hybrid setting of
paper Table 3; docs/baselines.md "DSS").

Files (mold.data.sources; docs/data.md): `svamp/dss/llm/{split}_CoT_{k}.json` and
`csqa/dss/llm/{split}_CoT_{k}.json` are JSON arrays of raw few-shot completions, aligned by
position with the lines of the DSS gold files `svamp/dss/svamp_{split}.json` and
`csqa/dss/cqa_{split}.json`. As in DSS, a completion is cut at its first `Q:` (the model
continuing the few-shot prompt) and split at the answer marker (`The answer is` for SVAMP,
`So the answer is` for CSQA): the rationale is the text before it, the answer the text after.

SVAMP answers are arithmetic expressions such as `(84 / 2).`, evaluated here; CSQA answers read
`(e) amount to nothing.`, and the letter counts. Unparsable completions are counted and dropped.
Wrong answers: DSS trains on every rationale with the gold answer (`keep_wrong=True`, the hybrid
setting's default); paper §3.1's filter for its own teachers keeps only correct ones
(docs/paper-to-code.md "Hybrid data"). Either way they are counted.
Records carry the ids, question text and gold answer of `load_real_dataset` for the same problem.
"""

from __future__ import annotations

import ast
import operator
import re
from collections import Counter
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Literal

from mold.config import RealDatasetSpec
from mold.data.answers import answers_match, format_number
from mold.data.loaders import load_real_dataset, resolve_data_dir
from mold.data.schema import CHOICE_LETTERS, Example, RationaleRecord
from mold.io import DataError, iter_jsonl_dicts, read_json_array

PalmDataset = Literal["svamp", "csqa"]
MARKERS: dict[str, str] = {"svamp": "The answer is", "csqa": "So the answer is"}
GOLD_FILES = {"svamp": "svamp/dss/svamp_{split}.json", "csqa": "csqa/dss/cqa_{split}.json"}
LLM_DIRS = {"svamp": "svamp/dss/llm", "csqa": "csqa/dss/llm"}
FAILURE_REASONS = ("no_answer_marker", "empty_rationale", "unparsable_answer", "wrong_answer")
SPILL_OVER = "Q:"
# SVAMP.json's `Answer` contradicts its own `Equation` here (1.0 vs ( ( 4.0 - 2.0 ) + 3.0 ) = 5; the
# equation is right). The loaders keep the file's Answer, so PaLM's correct 5 counts as wrong_answer.
SVAMP_ANSWER_ERRATA = frozenset({"svamp-chal-680"})
CHOICE_RE = re.compile(r"\(([A-Za-z])\)")
BIN_OPS: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
}


class Rejected(Exception):
    """A completion that yields no usable rationale; `reason` is one of FAILURE_REASONS."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# ----------------------------------------------------------------------------- parsing
def split_completion(raw: str, marker: str) -> tuple[str, str]:
    """(rationale, answer text) of one completion, cut at the first `Q:` and the first marker."""
    head = raw.split(SPILL_OVER, 1)[0]
    at = head.find(marker)
    if at < 0:
        raise Rejected("no_answer_marker")
    rationale, answer = head[:at].strip(), head[at + len(marker):].strip()
    if not rationale:
        raise Rejected("empty_rationale")
    return rationale, answer


def eval_arithmetic(expression: str) -> float:
    """Value of `+ - * /` arithmetic on numbers; anything else (names, commas, `=`) is rejected."""
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", expression.replace("$", ""))
    try:
        return _eval_node(ast.parse(text.strip(), mode="eval").body)
    except (SyntaxError, ValueError, ZeroDivisionError) as err:
        raise ValueError(f"not arithmetic: {expression!r}") from err


def _eval_node(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _eval_node(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in BIN_OPS:
        return BIN_OPS[type(node.op)](_eval_node(node.left), _eval_node(node.right))
    raise ValueError(f"unsupported expression node {type(node).__name__}")


def svamp_answer(answer_text: str) -> str:
    """`(84 / 2).` -> `42`."""
    try:
        return format_number(eval_arithmetic(answer_text.rstrip(". ")))
    except ValueError as err:
        raise Rejected("unparsable_answer") from err


def csqa_answer(answer_text: str, choices: list[str]) -> str:
    """`(e) amount to nothing.` -> `E`; without a letter, a choice's exact text names it."""
    letters = CHOICE_LETTERS[: len(choices)]
    match = CHOICE_RE.match(answer_text)
    if match is not None:
        letter = match.group(1).upper()
        if letter in letters:
            return letter
        raise Rejected("unparsable_answer")
    text = answer_text.rstrip(". ").strip().lower()
    for letter, choice in zip(letters, choices):
        if text == choice.lower():
            return letter
    raise Rejected("unparsable_answer")


def parse_completion(dataset: PalmDataset, raw: str, example: Example) -> tuple[str, str]:
    """(rationale, normalised answer) or Rejected."""
    rationale, answer_text = split_completion(raw, MARKERS[dataset])
    if dataset == "svamp":
        return rationale, svamp_answer(answer_text)
    return rationale, csqa_answer(answer_text, example.choices or [])


# ----------------------------------------------------------------------------- files and alignment
def read_completions(root: Path, dataset: PalmDataset, split: str) -> list[str]:
    """All `{split}_CoT_{k}.json` of the dataset, concatenated in order of k."""
    folder = root / LLM_DIRS[dataset]
    paths = sorted(folder.glob(f"{split}_CoT_*.json"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    if not paths:
        raise FileNotFoundError(f"{folder}: no {split}_CoT_*.json files")
    completions: list[str] = []
    for path in paths:
        completions.extend(read_json_array(path, str, "a string"))
    return completions


def question_key(text: str) -> str:
    """DSS joins SVAMP's Body and Question by a newline, the loaders by a space."""
    return " ".join(text.split())


def gold_field(path: Path, line: int, row: dict, field: str) -> str:
    value = row.get(field)
    if not isinstance(value, str) or not value.strip():
        raise DataError(path, line, field, "missing or not a non-empty string")
    return value


def append_once(aligned: dict[str, Example], ex: Example, path: Path, line: int, field: str) -> None:
    if ex.id in aligned:
        raise DataError(path, line, field, f"{ex.id} appears on two lines")
    aligned[ex.id] = ex


def align_svamp(path: Path, examples: list[Example]) -> list[Example]:
    """DSS SVAMP lines -> loader examples, matched by question text; the DSS equation label
    must evaluate to the example's answer (except SVAMP_ANSWER_ERRATA)."""
    by_text = {question_key(ex.question): ex for ex in examples}
    aligned: dict[str, Example] = {}  # insertion order = line order
    for line, row in iter_jsonl_dicts(path):
        ex = by_text.get(question_key(gold_field(path, line, row, "input")))
        if ex is None:
            raise DataError(path, line, "input", "no SVAMP problem of this split has this text")
        label = gold_field(path, line, row, "label")
        try:
            value = format_number(eval_arithmetic(label))
        except ValueError as err:
            raise DataError(path, line, "label", str(err)) from err
        if ex.id not in SVAMP_ANSWER_ERRATA and not answers_match(value, ex.answer, "number"):
            raise DataError(path, line, "label", f"{label} does not evaluate to {ex.id}'s answer {ex.answer}")
        append_once(aligned, ex, path, line, "input")
    return list(aligned.values())


def align_csqa(path: Path, examples: list[Example]) -> list[Example]:
    """DSS CQA lines -> loader examples, matched by CSQA id; the DSS answer text must be the
    text of the gold letter."""
    by_id = {ex.id: ex for ex in examples}
    aligned: dict[str, Example] = {}  # insertion order = line order
    for line, row in iter_jsonl_dicts(path):
        ex = by_id.get(f"csqa-{gold_field(path, line, row, 'id')}")
        if ex is None:
            raise DataError(path, line, "id", "no CSQA question of this split has this id")
        gold_text = (ex.choices or [])[CHOICE_LETTERS.index(ex.answer)]
        if gold_field(path, line, row, "answer").strip() != gold_text:
            raise DataError(path, line, "answer", f"expected {gold_text!r}, the text of {ex.id}'s answer {ex.answer}")
        append_once(aligned, ex, path, line, "id")
    return list(aligned.values())


# ----------------------------------------------------------------------------- entry point
def load_palm_rationales(
    dataset: PalmDataset, split: Literal["train", "test"], data_dir: Path | str | None,
    ids: Collection[str] | None = None, keep_wrong: bool = False,
) -> tuple[list[RationaleRecord], dict[str, int]]:
    """PaLM rationales as phase-0 records in DSS file order, each with the gold answer, and the count of
    failed completions by reason (FAILURE_REASONS). Those with a wrong answer are dropped, or kept with
    `keep_wrong` (DSS) and still counted as `wrong_answer`.
    `ids`: only these problems (a `limit`ed train split), kept and dropped alike."""
    if dataset not in MARKERS:
        raise ValueError(f"PaLM rationales exist for {sorted(MARKERS)}, not {dataset!r}")
    root = resolve_data_dir(data_dir)
    examples = load_real_dataset(RealDatasetSpec(name=dataset, split=split), root)
    gold_path = root / GOLD_FILES[dataset].format(split=split)
    aligned = (align_svamp if dataset == "svamp" else align_csqa)(gold_path, examples)
    completions = read_completions(root, dataset, split)
    if len(completions) != len(aligned):
        raise DataError(root / LLM_DIRS[dataset], None, None,
                        f"{len(completions)} {split} completions for {len(aligned)} lines of {gold_path.name}")
    kind = "number" if dataset == "svamp" else "choice"
    failures: Counter[str] = Counter({reason: 0 for reason in FAILURE_REASONS})
    records = []
    for ex, raw in zip(aligned, completions):
        if ids is not None and ex.id not in ids:
            continue
        try:
            rationale, answer = parse_completion(dataset, raw, ex)
            if not answers_match(answer, ex.answer, kind):
                failures["wrong_answer"] += 1
                if not keep_wrong:
                    continue
        except Rejected as rejected:
            failures[rejected.reason] += 1
            continue
        records.append(RationaleRecord(id=ex.id, question=ex.question, answer=ex.answer, rationale=rationale,
                                       keywords=None, phase=0, source="palm"))
    return records, dict(failures)


# ----------------------------------------------------------------------------- keywords
STOPWORDS = frozenset("""
a about after all also an and any are as at be because been before being but by can could did do does doing
down during each for from had has have having he her here him his how i if in into is it its itself just
may me might more most must my no not of off on once only or other our out over own same she should so some
such than that the their them then there these they this those through to too under until up very was we
were what when where which while who whom why will with would you your answer choices choice likely usually
often something someone thing things people person
""".split())
WORD_RE = re.compile(r"[A-Za-z][A-Za-z'-]*[A-Za-z]")


def derive_keywords(question: str, rationale: str, limit: tuple[int, int] = (3, 8)) -> list[str]:
    """Critical words for a rationale that came without any (PaLM's CSQA rationales; paper §3.2 reads
    keywords from the teacher): the rationale's content words that the question also uses, in
    rationale order, then its other content words until `limit[0]`; at most `limit[1]`."""
    lo, hi = limit
    asked = {w.lower() for w in WORD_RE.findall(question)}
    content: list[str] = []
    for word in WORD_RE.findall(rationale):
        key = word.lower()
        if len(key) > 2 and key not in STOPWORDS and key not in content:
            content.append(key)
    shared = [w for w in content if w in asked]
    others = [w for w in content if w not in asked]
    return (shared + others[: max(0, lo - len(shared))])[:hi]
