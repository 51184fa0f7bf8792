"""Stage 0: materialise every dataset of a preset as JSONL in the one schema; train tokenizers."""

from __future__ import annotations

from mold import paths
from mold.config import ExperimentConfig, RealDatasetSpec
from mold.data.schema import Example
from mold.io import read_jsonl, write_json_atomic, write_jsonl_atomic
from mold.teacher.prompts import INSTRUCTIONS, format_reply


def load_examples(cfg: ExperimentConfig, dataset: str) -> list[Example]:
    """Build a dataset from its spec: a synthetic generator or a real benchmark loader."""
    spec = cfg.datasets[dataset]
    if isinstance(spec, RealDatasetSpec):
        from mold.data.loaders import load_real_dataset

        return load_real_dataset(spec, cfg.resolved_data_dir())
    from mold.data.synthetic import generate

    return generate(spec, dataset)


def prepare_dataset(cfg: ExperimentConfig, dataset: str) -> int:
    from mold.provenance import provenance

    examples = load_examples(cfg, dataset)
    ids = [e.id for e in examples]
    if len(set(ids)) != len(ids):
        raise ValueError(f"dataset {dataset}: duplicate example ids")
    out = paths.dataset_file(cfg, dataset)
    count = write_jsonl_atomic(out, examples)
    write_json_atomic(out.with_suffix(".provenance.json"),
                      provenance(cfg, [out], dataset=dataset, spec=cfg.datasets[dataset].model_dump(mode="json"), count=count))
    return count


def read_prepared(cfg: ExperimentConfig, dataset: str) -> list[Example]:
    return read_jsonl(paths.dataset_file(cfg, dataset), Example)


def tokenizer_corpus(cfg: ExperimentConfig) -> list[str]:
    """Text a local tokenizer is trained on: every training split, with gold rationales and the
    prompt boilerplate, so teachers and students see the same characters (SPEC §4)."""
    texts = [cfg.cues.predict, cfg.cues.explain, *INSTRUCTIONS.values()]
    for task in cfg.tasks.values():
        for example in read_prepared(cfg, task.train):
            texts.append(example.question)
            texts.append(format_reply(example.rationale or "", example.answer, task.answer_kind, tuple(example.keywords or ())))
    return texts


def train_model_tokenizer(cfg: ExperimentConfig, model: str) -> None:
    from mold.models.tokenizers import train_tokenizer

    spec = cfg.models[model]
    tokenizer = train_tokenizer(spec.tokenizer, tokenizer_corpus(cfg))
    from mold.io import atomic_dir

    with atomic_dir(paths.tokenizer_dir(cfg, model)) as tmp:
        tokenizer.save_pretrained(str(tmp))
