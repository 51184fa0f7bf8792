"""The one example schema every stage reads and writes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

CHOICE_LETTERS = "ABCDEFGH"


class Example(BaseModel):
    """One question with its gold answer.

    `question` is the full text a model sees, answer choices included (Fine-tune-CoT's
    format `{stem} Answer choices: (A) c0, (B) c1, ...`); `choices` keeps them apart for
    scoring. `answer` is already normalised: a number string ("18", "3.5") or a choice letter.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, description="Stable id, unique within its dataset.")
    question: str = Field(min_length=1, description="Text shown to the model.")
    answer: str = Field(min_length=1, description="Normalised gold answer.")
    choices: list[str] | None = Field(None, description="Answer choices, in letter order.")
    rationale: str | None = Field(None, description="Gold step-by-step rationale, if any.")
    keywords: list[str] | None = Field(None, description="Gold critical words (synthetic choice task).")
    source: str = Field(min_length=1, description="Dataset name this example came from.")


class RationaleRecord(BaseModel):
    """A training example with the rationale a teacher (or a shipped source) wrote for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    question: str
    answer: str
    rationale: str = Field(min_length=1)
    keywords: list[str] | None = Field(None, description="Critical words (CSQA-style tasks).")
    phase: int = Field(1, ge=0, le=2, description="1: plain prompt, 2: gold answer as hint, 0: shipped.")
    source: str


def format_choices(stem: str, choices: list[str]) -> str:
    """Fine-tune-CoT's multiple-choice question format."""
    listed = ", ".join(f"({CHOICE_LETTERS[i]}) {c}" for i, c in enumerate(choices))
    return f"{stem} Answer choices: {listed}."
