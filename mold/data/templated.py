"""Datasets described by config: raw records mapped to `Example`s by Jinja field templates, as
lm-eval's `doc_to_text` / `doc_to_target` (docs/adding-a-dataset.md).

A config is data, not code: templates render in Jinja's immutable sandbox (no access to Python internals,
no mutation of a record) with undefined names as errors. A template that fails raises `DataError` naming the
file, the record and the field; an empty or unparsable answer drops the record, with its reason.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mold.data.answers import canonical_number, normalize_choice
from mold.data.schema import CHOICE_LETTERS, Example, format_choices
from mold.io import DataError

ENVIRONMENT = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
LIST_FIELDS = ("choices", "keywords")


@dataclass(frozen=True)
class Dropped:
    """A record left out, and why (reported in the prepared dataset's provenance)."""

    record: str
    field: str
    reason: str


@dataclass(frozen=True)
class Loaded:
    examples: list[Example]
    dropped: list[Dropped]
    source: str | None = None  # the file read, or the hf:// split

    def summary(self) -> dict:
        return {"source": self.source, "kept": len(self.examples), "dropped": len(self.dropped),
                "dropped_records": [asdict(d) for d in self.dropped]}


def compile_template(source: str, field: str) -> Template:
    try:
        return ENVIRONMENT.from_string(source)
    except TemplateSyntaxError as err:
        raise ValueError(f"fields.{field}: invalid Jinja template {source!r}: {err.message}") from None


def compile_fields(fields) -> dict[str, Template | list[Template]]:
    """Every set field of a `FieldTemplates`, compiled (a syntax error fails config validation)."""
    compiled: dict[str, Template | list[Template]] = {}
    for field, source in fields.model_dump(exclude_none=True).items():
        if isinstance(source, list):
            compiled[field] = [compile_template(s, f"{field}[{i}]") for i, s in enumerate(source)]
        else:
            compiled[field] = compile_template(source, field)
    return compiled


class TemplatedRecord:
    """One raw record rendered field by field; every failure names file, record and field."""

    def __init__(self, record: Mapping[str, Any], src: str, where: str):
        self.record, self.src, self.where = record, src, where

    def error(self, field: str, message: str) -> DataError:
        return DataError(self.src, self.where, field, message)

    def render(self, template: Template, field: str) -> str:
        try:
            return template.render(self.record).strip()
        except Exception as err:  # noqa: BLE001 -- undefined names, sandbox refusals, type errors in expressions
            raise self.error(field, f"template failed: {type(err).__name__}: {err}") from None

    def render_list(self, templates: Template | list[Template], field: str) -> list[str]:
        """One template per item, or one template rendering a JSON / Python list literal."""
        if isinstance(templates, list):
            return [self.render(t, f"{field}[{i}]") for i, t in enumerate(templates)]
        text = self.render(templates, field)
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                raise self.error(field, f"rendered {text[:80]!r}, not a list") from None
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, (str, int, float)) for v in value):
            raise self.error(field, f"rendered {text[:80]!r}, not a list of strings")
        return [str(v).strip() for v in value]


def choice_letter(answer: str, choices: Sequence[str]) -> str | None:
    """A gold choice given as a choice's exact text, or as its letter ('B', '(b)')."""
    if answer in choices:
        return CHOICE_LETTERS[list(choices).index(answer)]
    return normalize_choice(answer, len(choices))


def build_example(rec: TemplatedRecord, fields: dict[str, Template | list[Template]], source: str) -> Example | Dropped:
    example_id = rec.render(fields["id"], "id")
    question = rec.render(fields["question"], "question")
    for field, text in (("id", example_id), ("question", question)):
        if not text:
            raise rec.error(field, "rendered empty")
    choices = rec.render_list(fields["choices"], "choices") if "choices" in fields else None
    if choices is not None and not (2 <= len(choices) <= len(CHOICE_LETTERS) and all(choices)):
        raise rec.error("choices", f"expected 2 to {len(CHOICE_LETTERS)} non-empty choices, got {choices}")
    answer_text = rec.render(fields["answer"], "answer")
    if not answer_text:
        return Dropped(rec.where, "answer", "empty")
    answer = canonical_number(answer_text) if choices is None else choice_letter(answer_text, choices)
    if answer is None:
        wanted = "a number" if choices is None else f"a letter A-{CHOICE_LETTERS[len(choices) - 1]} or a choice's text"
        return Dropped(rec.where, "answer", f"{answer_text[:80]!r} is not {wanted}")
    rationale = rec.render(fields["rationale"], "rationale") if "rationale" in fields else ""
    keywords = [k for k in rec.render_list(fields["keywords"], "keywords") if k] if "keywords" in fields else []
    return Example(id=example_id, question=format_choices(question, choices) if choices else question, answer=answer,
                   choices=choices, rationale=rationale or None, keywords=keywords or None, source=source)


def map_records(records: Sequence[tuple[str, Mapping[str, Any]]], fields, src: Path | str, source: str) -> Loaded:
    """`Example`s of `records` ((record location, raw record) pairs from `src`) by the templates `fields`."""
    compiled = compile_fields(fields)
    examples, dropped, first_seen = [], [], {}
    for where, record in records:
        rec = TemplatedRecord(record, str(src), where)
        built = build_example(rec, compiled, source)
        if isinstance(built, Dropped):
            dropped.append(built)
            continue
        if built.id in first_seen:
            raise rec.error("id", f"duplicate id {built.id!r} (first at record {first_seen[built.id]})")
        first_seen[built.id] = where
        examples.append(built)
    return Loaded(examples, dropped)


def dataset_path(path: Path, data_dir: Path | None) -> Path:
    """`path` as given if absolute, else under the data folder."""
    if path.is_absolute():
        return path
    if data_dir is None:
        raise ValueError(f"{path}: a relative dataset path needs a data folder (config data_dir or $MOLD_DATA_DIR)")
    return Path(data_dir) / path


def load_templated(spec, name: str, data_dir: Path | None = None) -> Loaded:
    """The examples of a `kind: file` or `kind: hub` dataset spec, in record order; then `limit`."""
    from mold.data.records import hub_source_name, hub_split_rows, read_file_records

    if spec.kind == "file":
        src = dataset_path(spec.path, data_dir)
        records = read_file_records(src, spec.format)
    else:
        src = hub_source_name(spec.repo, spec.revision, spec.split)
        records = [(f"#{i}", row) for i, row in enumerate(hub_split_rows(spec.repo, spec.config, spec.revision, spec.split))]
    loaded = map_records(records, spec.fields, src, source=name)
    return Loaded(loaded.examples[: spec.limit] if spec.limit else loaded.examples, loaded.dropped, str(src))
