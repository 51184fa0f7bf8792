"""A smaller model made from a pretrained one by keeping a subset of its decoder layers.

DistilBERT initialised its student from every other layer of BERT; here any causal LM of the
supported classes can be thinned the same way, so teacher and student are both pretrained networks
of different depth. Embeddings, final norm and head are kept as they are.
"""

from __future__ import annotations

import copy
import re

from transformers import PreTrainedModel

# "model.layers.7.self_attn.q_proj.weight" (Llama, Qwen2) or "transformer.h.7.attn.c_attn.weight" (GPT-2)
LAYER_KEY_RE = re.compile(r"^(?P<stack>(?:.+\.)?(?:layers|h))\.(?P<index>\d+)\.(?P<rest>.+)$")


def kept_layers(num_layers: int, every: int, offset: int = 0) -> list[int]:
    """Indices offset, offset+every, ... below num_layers."""
    if every < 1 or not 0 <= offset < num_layers:
        raise ValueError(f"cannot keep every {every}-th of {num_layers} layers from layer {offset}")
    return list(range(offset, num_layers, every))


def keep_layers(model: PreTrainedModel, keep: list[int]) -> PreTrainedModel:
    """A new model of `model`'s class with only the decoder layers `keep` (in order), all weights copied."""
    config = copy.deepcopy(model.config)
    config.num_hidden_layers = len(keep)
    if isinstance(getattr(config, "layer_types", None), list):  # per-layer attention kinds (Qwen2)
        config.layer_types = [config.layer_types[i] for i in keep]
    renumber = {old: new for new, old in enumerate(keep)}
    state = {}
    for key, tensor in model.state_dict().items():
        match = LAYER_KEY_RE.match(key)
        if match is None:
            state[key] = tensor
        elif int(match["index"]) in renumber:
            state[f"{match['stack']}.{renumber[int(match['index'])]}.{match['rest']}"] = tensor
    smaller = type(model)(config).to(model.dtype)
    smaller.load_state_dict(state, strict=True)
    return smaller.train(model.training)
