"""Teachers and students as the stages need them: model + tokenizer on the default device."""

from __future__ import annotations

from mold import paths
from mold.config import ExperimentConfig
from mold.models.factory import build_tiny_model, default_device, load_pretrained
from mold.models.layer_subset import keep_layers, kept_layers
from mold.models.tokenizers import load_tokenizer


def load_real(cfg: ExperimentConfig, model: str, attn_implementation: str = "sdpa"):
    """A pretrained model (hub or GGUF) and its tokenizer; for `layers_from`, its source thinned to the kept layers."""
    subset = cfg.models[model].layers_from
    key = subset.source if subset is not None else model
    spec = cfg.models[key]
    tokenizer = load_tokenizer(spec, model=key)
    network = load_pretrained(spec, attn_implementation=attn_implementation, model=key)
    if subset is not None:
        network = keep_layers(network, kept_layers(network.config.num_hidden_layers, subset.every, subset.offset))
    return network, tokenizer


def load_teacher(cfg: ExperimentConfig, model: str, attn_implementation: str = "sdpa"):
    """A teacher model and tokenizer: the pretrained tiny one, or a pretrained checkpoint."""
    spec = cfg.models[model]
    if spec.tiny is not None:
        local = paths.pretrained_teacher_dir(cfg, model) if spec.pretrain else None
        tokenizer = load_tokenizer(spec, paths.tokenizer_dir(cfg, model))
        teacher = (load_pretrained(spec, local, attn_implementation) if local
                   else build_tiny_model(spec, tokenizer, seed=0, attn_implementation=attn_implementation))
    else:
        teacher, tokenizer = load_real(cfg, model, attn_implementation)
    if spec.device_map != "auto":
        teacher = teacher.to(default_device())
    return teacher, tokenizer


def load_student(cfg: ExperimentConfig, model: str, seed: int, attn_implementation: str = "sdpa"):
    """A student and its tokenizer: a seeded random-init tiny model or a pretrained checkpoint, in fp32
    (training keeps fp32 master weights; `training.precision` sets the compute dtype)."""
    spec = cfg.models[model]
    if spec.tiny is not None:
        tokenizer = load_tokenizer(spec, paths.tokenizer_dir(cfg, model))
        student = build_tiny_model(spec, tokenizer, seed=seed, attn_implementation=attn_implementation)
    else:
        student, tokenizer = load_real(cfg, model, attn_implementation)
    return student.float().to(default_device()), tokenizer
