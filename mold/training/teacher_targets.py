"""Attach the teacher's attention targets to the student's training items (§3.2–3.3).

The student's (step, word) groups come from its own tokenizer's offsets on the same text x;
an example whose groups do not match the teacher's (N1, N2), or whose explain sequence was
truncated, keeps its CE losses but gets no attention target (counted in the run's stats, beside the
N1 / N2 distributions of the examples that got one).

The teacher layer weights p_t are recomputed from the stored per-layer maps with the run's τ1 (§3.3), so
a τ1 sweep never reuses weights made for another τ1; where the extraction used the same τ1, the stored
p_t must equal the recomputed one. The extraction's step split must be the run's.
"""

from __future__ import annotations

from collections import Counter

import torch

from mold import paths
from mold.molsaki.targets import attention_text, text_offsets
from mold.config import ExperimentConfig
from mold.data.schema import RationaleRecord
from mold.methods import Method, resolve_layer
from mold.io import DataError, read_json, read_safetensors
from mold.molsaki import mix_layers, step_and_critical_groups, teacher_layer_weights


def _load_shards(index_dir, shards: int) -> dict[str, torch.Tensor]:
    tensors = {}
    for shard in range(shards):
        tensors |= read_safetensors(index_dir / f"targets-{shard:05d}.safetensors")
    return tensors


def layer_weights_for(A: torch.Tensor, stored_p_t: torch.Tensor, stored_tau1: float, tau1: float) -> torch.Tensor:
    """p_t = softmax(G(A) / tau1) for this run's τ1 (Eq. 4); when the extraction used the same τ1, its stored p_t
    must agree (else the stored maps and weights do not belong together)."""
    p_t = teacher_layer_weights(A, tau1)
    if stored_tau1 == tau1 and not torch.allclose(p_t, stored_p_t, rtol=1e-4, atol=1e-6):
        raise ValueError(f"stored p_t {stored_p_t.tolist()} differs from p_t recomputed at tau1={tau1}: {p_t.tolist()}")
    return p_t


def distribution(values: list[int]) -> dict[str, int]:
    """How many examples have each value (JSON keys are strings), in increasing order of the value."""
    return {str(value): count for value, count in sorted(Counter(values).items())}


def teacher_target(A: torch.Tensor, p_t: torch.Tensor, method: Method) -> torch.Tensor:
    """MoLSAKI: A_t = Σ_l p_t[l] A_t_l (§3.3); SL: the one fixed teacher layer (Table 2)."""
    if method.single_layer is not None:
        return A[resolve_layer(method.single_layer[0], A.shape[0])]
    return mix_layers(A, p_t)


def attach_targets(cfg: ExperimentConfig, pair: str, task: str, method: Method, records: list[RationaleRecord],
                   items: list, explain_cue: str) -> dict:
    index_path = paths.pair_attention_index(cfg, pair, task)
    index = read_json(index_path)
    split = cfg.loss.step_split
    if index.get("step_split") != split:
        raise DataError(index_path, None, "step_split", f"targets were extracted with steps split on "
                        f"{index.get('step_split')!r}, this run splits on {split!r}: rerun extract_attention_targets")
    tensors = _load_shards(index_path.with_suffix("").with_suffix(""), index["shards"])
    outcome: Counter[str] = Counter()
    n_steps, n_words = [], []
    for record, item in zip(records, items, strict=True):
        entry = index["entries"].get(record.id)
        if entry is None or not entry["has_target"]:
            outcome["no_critical_word"] += 1
            continue
        if item.explain.truncated:
            outcome["truncated"] += 1
            continue
        x = attention_text(record)
        offsets = text_offsets(item.explain.offsets, len(explain_cue), len(x), item.explain.text)
        steps, words = step_and_critical_groups(x, offsets, record.keywords, split)
        if (len(steps), len(words)) != (entry["n_steps"], entry["n_words"]):
            outcome["group_mismatch"] += 1
            continue
        item.steps, item.words = steps, words
        A = tensors[f"{record.id}/A"]
        try:
            p_t = layer_weights_for(A, tensors[f"{record.id}/p_t"], index["tau1"], cfg.loss.tau1)
        except ValueError as err:
            raise DataError(index_path, record.id, "p_t", str(err)) from None
        item.target = teacher_target(A, p_t, method)
        outcome["with_target"] += 1
        n_steps.append(len(steps))
        n_words.append(len(words))
    return {"attention": dict(outcome), "teacher_layers": index["num_layers"], "step_split": split,
            "tau1": cfg.loss.tau1, "extraction_tau1": index["tau1"],
            "n_steps": distribution(n_steps), "n_words": distribution(n_words)}
