"""Prepared datasets: build examples from a dataset spec, read them back, and the tokenizer corpus."""

from __future__ import annotations

from mold import paths
from mold.config import ExperimentConfig, FileDatasetSpec, HubDatasetSpec, RealDatasetSpec
from mold.data.schema import Example
from mold.data.templated import Loaded
from mold.io import read_jsonl
from mold.teacher.prompts import INSTRUCTIONS, format_reply


def load_examples(cfg: ExperimentConfig, dataset: str) -> Loaded:
    """Build a dataset from its spec: a synthetic generator, a real benchmark loader, or field
    templates over a file or hub split (which may drop records with unusable answers)."""
    spec = cfg.datasets[dataset]
    if isinstance(spec, (FileDatasetSpec, HubDatasetSpec)):
        from mold.data.templated import load_templated

        return load_templated(spec, dataset, cfg.resolved_data_dir())
    if isinstance(spec, RealDatasetSpec):
        from mold.data.loaders import load_real_dataset

        return Loaded(load_real_dataset(spec, cfg.resolved_data_dir()), [])
    from mold.data.synthetic import generate

    return Loaded(generate(spec, dataset), [])


def read_prepared(cfg: ExperimentConfig, dataset: str) -> list[Example]:
    return read_jsonl(paths.dataset_file(cfg, dataset), Example, unique="id", allow_empty=False)


def tokenizer_corpus(cfg: ExperimentConfig) -> list[str]:
    """Text a local tokenizer is trained on: every training split, with gold rationales and the
    prompt boilerplate, so teachers and students see the same characters (paper §3.2)."""
    texts = [cfg.cues.predict, cfg.cues.explain, *INSTRUCTIONS.values()]
    for task in cfg.tasks.values():
        for example in read_prepared(cfg, task.train):
            texts.append(example.question)
            texts.append(format_reply(example.rationale or "", example.answer, task.answer_kind, tuple(example.keywords or ())))
    return texts
