"""Build or load causal LMs of the three architecture classes the paper uses."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    GgufConfig,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from mold.config import ModelSpec, TinyShape
from mold.models.sources import gguf_location

ARCH_CLASSES = {"llama": (LlamaConfig, LlamaForCausalLM), "qwen2": (Qwen2Config, Qwen2ForCausalLM), "gpt2": (GPT2Config, GPT2LMHeadModel)}


def tiny_config(arch: str, shape: TinyShape, tokenizer: PreTrainedTokenizerBase):
    """A config of the real architecture class, sized by `shape`, for `tokenizer`'s vocabulary."""
    special = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}
    if arch == "gpt2":
        return GPT2Config(
            vocab_size=len(tokenizer), n_embd=shape.hidden_size, n_layer=shape.num_layers, n_head=shape.num_heads,
            n_positions=shape.max_positions, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **special,
        )
    config_cls = ARCH_CLASSES[arch][0]
    return config_cls(
        vocab_size=len(tokenizer), hidden_size=shape.hidden_size, num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads, num_key_value_heads=shape.num_kv_heads or shape.num_heads,
        intermediate_size=shape.intermediate_size or 4 * shape.hidden_size,
        max_position_embeddings=shape.max_positions, tie_word_embeddings=True, **special,
    )


def build_tiny_model(spec: ModelSpec, tokenizer: PreTrainedTokenizerBase, seed: int, attn_implementation: str = "sdpa") -> PreTrainedModel:
    """A random-init model of `spec.arch` (seeded)."""
    if spec.tiny is None:
        raise ValueError("build_tiny_model needs a model spec with `tiny`")
    torch.manual_seed(seed)
    config = tiny_config(spec.arch, spec.tiny, tokenizer)
    config._attn_implementation = attn_implementation
    return ARCH_CLASSES[spec.arch][1](config)


def load_pretrained(spec: ModelSpec, local_dir: Path | None = None, attn_implementation: str = "sdpa",
                    model: str = "model") -> PreTrainedModel:
    """Load a checkpoint: `local_dir` (a saved tiny or trained model), `spec.hub_id@revision`, or the verified
    cached GGUF file of `spec.gguf` (dequantized to `spec.dtype`; `model` is its key, for error messages).
    `device_map: auto` shards it over the visible GPUs by `shard_plan` (whole decoder layers per GPU)."""
    source = str(local_dir) if local_dir is not None else spec.hub_id
    dtype = getattr(torch, spec.dtype)
    kwargs = {"attn_implementation": attn_implementation, "dtype": dtype}
    if local_dir is None and spec.gguf is not None:
        source, kwargs["gguf_file"] = gguf_location(spec, model)
        kwargs["quantization_config"] = GgufConfig(dequantize=True)  # plain dense weights, whatever kernels exist
    elif local_dir is None:
        kwargs["revision"] = spec.revision
    if spec.device_map == "auto":
        config = AutoConfig.from_pretrained(source, revision=kwargs.get("revision"), gguf_file=kwargs.get("gguf_file"))
        kwargs["device_map"] = shard_plan(config, dtype, gpu_memory_budget())
    loaded = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    if getattr(loaded, "hf_quantizer", None) is not None:  # dequantized GGUF: an ordinary model from here on (saves and reloads as one)
        loaded.hf_quantizer.remove_quantization_config(loaded)
    return loaded


def gpu_memory_budget(headroom: float = 0.85) -> dict[int, int]:
    """Bytes each visible GPU may hold of weights; the rest is left to activations and the KV cache."""
    if not torch.cuda.is_available():
        raise RuntimeError("device_map: auto needs CUDA GPUs")
    return {i: int(torch.cuda.mem_get_info(i)[0] * headroom) for i in range(torch.cuda.device_count())}


def shard_plan(config, dtype: torch.dtype, max_memory: dict[int, int]) -> dict[str, int]:
    """Module name -> GPU index for `config`'s model, computed on meta tensors (no weight is loaded
    or allocated). Decoder layers are never split; a model that does not fit raises."""
    from accelerate import init_empty_weights, infer_auto_device_map

    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    plan = infer_auto_device_map(model, max_memory=dict(max_memory), no_split_module_classes=model._no_split_modules, dtype=dtype)
    spilled = sorted(name for name, device in plan.items() if not isinstance(device, int))
    if spilled:
        total = sum(max_memory.values()) / 2**30
        raise RuntimeError(f"{type(model).__name__} does not fit in {len(max_memory)} GPU(s) ({total:.0f} GiB for weights): "
                           f"{len(spilled)} modules would go to {sorted({str(plan[n]) for n in spilled})}, e.g. {spilled[0]}")
    return plan


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
