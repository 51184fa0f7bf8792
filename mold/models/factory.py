"""Build or load causal LMs: any transformers `model_type` whose attention goes through transformers'
attention interface (docs/adding-a-model.md); the paper uses Llama, Qwen2 and GPT-2."""

from __future__ import annotations

import inspect
from pathlib import Path

import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM, GgufConfig, GPT2Config, PreTrainedModel, PreTrainedTokenizerBase
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

from mold.config import ModelSpec, TinyShape
from mold.gpus import WEIGHT_SHARE
from mold.io import check_safetensors_dir
from mold.models.sources import gguf_location


def causal_lm_class(arch: str) -> type[PreTrainedModel]:
    """The `AutoModelForCausalLM` class of the transformers `model_type` `arch` (e.g. 'mistral' -> MistralForCausalLM)."""
    name = MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.get(arch)
    if name is None:
        raise ValueError(f"{arch!r} is not a causal-LM model_type of transformers {transformers.__version__}")
    return getattr(transformers, name)


def check_architecture(arch: str) -> None:
    """Refuse a model mold cannot read: stepwise attention and the router's value vectors are taken
    inside the attention function (mold.molsaki.attention), so the model must call transformers'
    attention interface, and must not change the attention logits beyond scaling and the mask."""
    model_class = causal_lm_class(arch)
    if not model_class._supports_attention_backend:
        raise ValueError(f"{model_class.__name__} computes attention in its own code, not through transformers' attention "
                         "interface (its _supports_attention_backend is False), so MoLSAKI cannot read its attention "
                         "maps or value vectors")
    if getattr(AutoConfig.for_model(arch), "attn_logit_softcapping", None):
        raise ValueError(f"{model_class.__name__} soft-caps its attention logits (attn_logit_softcapping), which mold's "
                         "attention functions do not apply")


def tiny_config(arch: str, shape: TinyShape, tokenizer: PreTrainedTokenizerBase):
    """A config of the real architecture class, sized by `shape`, for `tokenizer`'s vocabulary. Other
    model types take the names most configs share (hidden_size, num_hidden_layers, ...)."""
    special = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}
    if arch == "gpt2":
        return GPT2Config(
            vocab_size=len(tokenizer), n_embd=shape.hidden_size, n_layer=shape.num_layers, n_head=shape.num_heads,
            n_positions=shape.max_positions, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **special,
        )
    config_class = CONFIG_MAPPING[arch]
    sized = {"vocab_size": len(tokenizer), "hidden_size": shape.hidden_size, "num_hidden_layers": shape.num_layers,
             "num_attention_heads": shape.num_heads, "num_key_value_heads": shape.num_kv_heads or shape.num_heads,
             "intermediate_size": shape.intermediate_size or 4 * shape.hidden_size,
             "max_position_embeddings": shape.max_positions}
    accepted = inspect.signature(config_class.__init__).parameters.keys() | config_class.attribute_map.keys()
    for key, given in (("num_key_value_heads", shape.num_kv_heads), ("intermediate_size", shape.intermediate_size)):
        if given is not None and key not in accepted:
            raise ValueError(f"{config_class.__name__} has no {key}; leave it out of `tiny`")
    return config_class(**{k: v for k, v in sized.items() if k in accepted}, tie_word_embeddings=True, **special)


def build_tiny_model(spec: ModelSpec, tokenizer: PreTrainedTokenizerBase, seed: int, attn_implementation: str = "sdpa") -> PreTrainedModel:
    """A random-init model of `spec.arch` (seeded)."""
    if spec.tiny is None:
        raise ValueError("build_tiny_model needs a model spec with `tiny`")
    torch.manual_seed(seed)
    config = tiny_config(spec.arch, spec.tiny, tokenizer)
    config._attn_implementation = attn_implementation
    return causal_lm_class(spec.arch)(config)


def load_pretrained(spec: ModelSpec, local_dir: Path | None = None, attn_implementation: str = "sdpa",
                    model: str = "model") -> PreTrainedModel:
    """Load a checkpoint: `local_dir` (a saved tiny or trained model), `spec.hub_id@revision`, or the verified
    cached GGUF file of `spec.gguf` (dequantized to `spec.dtype`; `model` is its key, for error messages).
    `device_map: auto` shards it over the visible GPUs by `shard_plan` (whole decoder layers per GPU)."""
    if local_dir is not None:
        check_safetensors_dir(local_dir)  # a damaged file is named here, not deep inside from_pretrained
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
    if loaded.config.model_type != spec.arch:
        raise ValueError(f"{source}: a {loaded.config.model_type!r} checkpoint, but the config says arch: {spec.arch}")
    return loaded


def gpu_memory_budget(headroom: float = WEIGHT_SHARE) -> dict[int, int]:
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
