"""Stage `extract_attention_targets`: A_t_l (L1 × N1 × N2) per example and the teacher layer weights (§3.2–3.3).

The attention teacher reads each kept question + rationale; every layer's map is reduced to the
stepwise (step × critical word) matrix inside the attention call, so memory never holds the layers'
N × N maps. Output: safetensors shards keyed `<id>/A`, `<id>/p_t`, `<id>/G`, and `index.json`
(per example: shard, N1, N2, has_target; the means of p_t and G per layer).
"""

from __future__ import annotations

from safetensors.torch import save_file

from mold import paths
from mold.config import ExperimentConfig
from mold.console import log, progress
from mold.data.schema import RationaleRecord
from mold.io import atomic_path, read_jsonl, write_json_atomic
from mold.models.loading import load_teacher
from mold.molsaki import column_gradient, teacher_layer_weights
from mold.molsaki.attention import register
from mold.molsaki.targets import example_groups, teacher_targets
from mold.provenance import provenance

SHARD_SIZE = 512


def run(cfg: ExperimentConfig, teacher: str, source: str, task: str, batch_size: int = 16) -> dict:
    teacher_key, task_key = teacher, task
    rationales = paths.rationale_file(cfg, source, task_key)
    records = read_jsonl(rationales, RationaleRecord, unique="id")  # ids key the shards
    teacher, tokenizer = load_teacher(cfg, teacher_key, attn_implementation=register(cfg.loss.attention_impl))
    teacher.eval()
    index_path = paths.attention_index(cfg, teacher_key, source, task_key)
    out_dir = index_path.with_suffix("").with_suffix("")  # <task>.index.json -> <task>/ for the shards
    entries, shard, shard_no = {}, {}, 0
    sums = {"p_t": None, "G": None, "count": 0}

    def flush() -> None:
        nonlocal shard, shard_no
        if shard:
            with atomic_path(out_dir / f"targets-{shard_no:05d}.safetensors") as tmp:  # before the index: resumable by rerun
                save_file(shard, tmp)
            shard, shard_no = {}, shard_no + 1

    out_dir.mkdir(parents=True, exist_ok=True)
    encoded = [(r, *example_groups(tokenizer, r, split=cfg.loss.step_split)) for r in records]
    with progress(f"attention targets {task_key}", total=len(encoded)) as advance:
        for start in range(0, len(encoded), batch_size):
            chunk = [e for e in encoded[start : start + batch_size]]
            usable = [e for e in chunk if e[3]]
            for record, _, steps, words in chunk:
                entries[record.id] = {"n_steps": len(steps), "n_words": len(words), "has_target": bool(words)}
            if usable:
                targets = teacher_targets(teacher, [e[1] for e in usable], [(e[2], e[3]) for e in usable], tokenizer.pad_token_id)
                for (record, *_), A in zip(usable, targets):
                    p_t, G = teacher_layer_weights(A, cfg.loss.tau1), column_gradient(A)
                    shard |= {f"{record.id}/A": A.contiguous(), f"{record.id}/p_t": p_t, f"{record.id}/G": G}
                    entries[record.id]["shard"] = shard_no
                    sums["p_t"] = p_t if sums["p_t"] is None else sums["p_t"] + p_t
                    sums["G"] = G if sums["G"] is None else sums["G"] + G
                    sums["count"] += 1
                if len(shard) >= 3 * SHARD_SIZE:
                    flush()
            advance(len(chunk))
    flush()
    n = max(sums["count"], 1)
    summary = {
        "teacher": teacher_key, "rationale_source": source, "task": task_key, "num_layers": teacher.config.num_hidden_layers,
        "tau1": cfg.loss.tau1, "step_split": cfg.loss.step_split, "examples": len(records), "with_target": sums["count"],
        "without_critical_word": len(records) - sums["count"],
        "mean_teacher_layer_weights": (sums["p_t"] / n).tolist() if sums["p_t"] is not None else [],
        "mean_column_gradient": (sums["G"] / n).tolist() if sums["G"] is not None else [],
        "shards": shard_no, "entries": entries,
    }
    write_json_atomic(index_path, {**summary, "provenance": provenance(cfg, [rationales])})
    log(f"attention targets {teacher_key}/{source}/{task_key}: {sums['count']}/{len(records)} with critical words; "
        f"mean p_t {[round(v, 3) for v in summary['mean_teacher_layer_weights']]}")
    return summary
