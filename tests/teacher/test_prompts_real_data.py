"""The teacher prompt on one real problem of each of the paper's five datasets (paper preset settings)."""

from __future__ import annotations

import pytest

from mold.config import RealDatasetSpec, load_preset
from mold.data.loaders import load_real_dataset
from mold.teacher.parse import ParsedReply, check_reply
from mold.teacher.prompts import BUILTIN_EXEMPLARS, INSTRUCTIONS, build_prompt, exemplars_for, format_reply

DATASETS = {"svamp": "number", "singleeq": "number", "asdiv": "number", "gsm8k": "number", "csqa": "choice"}


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_paper_prompt_for_a_real_problem(name, shared_data_dir):
    kind = DATASETS[name]
    generation = load_preset("paper").generation
    problem = load_real_dataset(RealDatasetSpec(name=name, split="test"), shared_data_dir)[0]
    exemplars = exemplars_for([problem], kind, generation.few_shot)  # no gold rationales: built-in exemplars
    assert exemplars == BUILTIN_EXEMPLARS[kind][: generation.few_shot]

    prompt = build_prompt(problem.question, exemplars, kind, num_keywords=generation.num_keywords)
    lo, hi = generation.num_keywords
    assert prompt.startswith(INSTRUCTIONS[kind].format(lo=lo, hi=hi) + "\n\nQ: ")
    assert prompt.endswith(f"\n\nQ: {problem.question}\nA:")  # the problem, verbatim, last
    assert prompt.count("\nA: ") == len(exemplars)  # every exemplar answered, the problem not
    assert "Hint" not in prompt
    if kind == "choice":
        assert "Answer choices: (A) " in problem.question and prompt.count("Keywords: ") == len(exemplars)

    hinted = build_prompt(problem.question, exemplars, kind, hint=problem.answer, num_keywords=generation.num_keywords)
    shown = f"({problem.answer})" if kind == "choice" else problem.answer
    assert hinted.endswith(f"Q: {problem.question}\nHint: the answer is {shown}.\nA:")

    # a reply in the prompt's own format parses back to the gold answer (and keywords)
    keywords = ("first", "second", "third") if kind == "choice" else ()
    reply = " " + format_reply("One step. Another step.", problem.answer, kind, keywords) + "\n\nQ: next question"
    parsed = check_reply(reply, problem.answer, kind, want_keywords=kind == "choice")
    assert isinstance(parsed, ParsedReply), parsed
    assert (parsed.rationale, parsed.keywords) == ("One step. Another step.", keywords)
