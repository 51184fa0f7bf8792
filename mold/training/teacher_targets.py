"""Attach the teacher's attention targets to the student's training items (§3.2–3.3).

The student's (step, word) groups come from its own tokenizer's offsets on the same text x;
an example whose groups do not match the teacher's (N1, N2), or whose explain sequence was
truncated, keeps its CE losses but gets no attention target (counted in the run's stats).
"""

from __future__ import annotations

from collections import Counter

import torch

from mold import paths
from mold.molsaki.targets import attention_text, text_offsets
from mold.config import ExperimentConfig
from mold.data.schema import RationaleRecord
from mold.methods import Method, resolve_layer
from mold.io import read_json, read_safetensors
from mold.molsaki import mix_layers, step_and_critical_groups


def _load_shards(index_dir, shards: int) -> dict[str, torch.Tensor]:
    tensors = {}
    for shard in range(shards):
        tensors |= read_safetensors(index_dir / f"targets-{shard:05d}.safetensors")
    return tensors


def teacher_target(A: torch.Tensor, p_t: torch.Tensor, method: Method) -> torch.Tensor:
    """MoLSAKI: A_t = Σ_l p_t[l] A_t_l (§3.3); SL: the one fixed teacher layer (Table 2)."""
    if method.single_layer is not None:
        return A[resolve_layer(method.single_layer[0], A.shape[0])]
    return mix_layers(A, p_t)


def attach_targets(cfg: ExperimentConfig, pair: str, task: str, method: Method, records: list[RationaleRecord],
                   items: list, explain_cue: str) -> dict:
    index_path = paths.pair_attention_index(cfg, pair, task)
    index = read_json(index_path)
    tensors = _load_shards(index_path.with_suffix("").with_suffix(""), index["shards"])
    outcome: Counter[str] = Counter()
    for record, item in zip(records, items, strict=True):
        entry = index["entries"].get(record.id)
        if entry is None or not entry["has_target"]:
            outcome["no_critical_word"] += 1
            continue
        if item.explain.truncated:
            outcome["truncated"] += 1
            continue
        x = attention_text(record)
        offsets = text_offsets(item.explain.offsets, len(explain_cue), len(x))
        steps, words = step_and_critical_groups(x, offsets, record.keywords)
        if (len(steps), len(words)) != (entry["n_steps"], entry["n_words"]):
            outcome["group_mismatch"] += 1
            continue
        item.steps, item.words = steps, words
        item.target = teacher_target(tensors[f"{record.id}/A"], tensors[f"{record.id}/p_t"], method)
        outcome["with_target"] += 1
    return {"attention": dict(outcome), "teacher_layers": index["num_layers"]}
