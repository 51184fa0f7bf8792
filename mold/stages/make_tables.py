"""Stage `make_tables`: regenerate the paper's tables and figure data from saved eval results (no model runs)."""

from __future__ import annotations

from mold import paths
from mold.config import ExperimentConfig
from mold.console import log
from mold.methods import get_method, table_order
from mold.reporting.tables import aggregate, load_eval_records, load_paper_numbers, table1, table2, table3, write_tables



def _datasets(cfg: ExperimentConfig, pair: str) -> list[str]:
    return [d for t in cfg.pairs[pair].tasks for d in cfg.tasks[t].tests]


def _paper_rows(cfg: ExperimentConfig, table: int):
    mapping = {p.paper_pair: key for key, p in cfg.pairs.items() if p.paper_pair}
    return load_paper_numbers(table, mapping) if mapping else None


def _math_datasets(cfg: ExperimentConfig, pair: str) -> list[str]:
    return [d for t in cfg.pairs[pair].tasks if cfg.tasks[t].answer_kind == "number" for d in cfg.tasks[t].tests]


def run(cfg: ExperimentConfig) -> None:
    records = load_eval_records(paths.all_eval_files(cfg))
    rows = aggregate(records)
    datasets = list(dict.fromkeys(d for pair in cfg.pairs for d in _datasets(cfg, pair)))
    methods = list(dict.fromkeys(m for p in cfg.pairs.values() for m in p.methods))
    unified = [k for k, p in cfg.pairs.items() if p.setting == "unified"]
    write_tables(cfg.root / "table1", table1(rows, datasets, methods, _paper_rows(cfg, 1), cfg.table_note, unified))
    sl_pairs = [k for k, p in cfg.pairs.items() if any(get_method(m).tables == {2} for m in p.methods)]
    if sl_pairs:
        pair = sl_pairs[0]
        math = _math_datasets(cfg, pair)
        pair_rows = [r for r in aggregate([r for r in records if r.pair == pair], average_over=math)]
        order = table_order([m for m in cfg.pairs[pair].methods if 2 in get_method(m).tables])
        write_tables(cfg.root / "table2", table2(pair_rows, math, order, _paper_rows(cfg, 2), cfg.table_note))
    hybrid = [k for k, p in cfg.pairs.items() if p.setting == "hybrid"]
    if hybrid:
        by_setting = {}
        for setting, key in (("unified", _unified_twin(cfg, hybrid[0])), ("hybrid", hybrid[0])):
            math = _math_datasets(cfg, key)
            by_setting[setting] = aggregate([r for r in records if r.pair == key], average_over=math)
        write_tables(cfg.root / "table3", table3(by_setting, _math_datasets(cfg, hybrid[0]), table_order([m for m in cfg.pairs[hybrid[0]].methods if 3 in get_method(m).tables]),
                                                 _paper_rows(cfg, 3), cfg.table_note))
    from mold.reporting.figures import write_layer_weights

    log(f"tables written under {cfg.root}; layer-weight data in {write_layer_weights(cfg)}")


def _unified_twin(cfg: ExperimentConfig, hybrid_pair: str) -> str:
    """The unified pair with the same student and attention teacher as `hybrid_pair`."""
    h = cfg.pairs[hybrid_pair]
    for key, p in cfg.pairs.items():
        if p.setting == "unified" and p.student == h.student and p.attention_teacher == h.attention_teacher:
            return key
    raise ValueError(f"pairs.{hybrid_pair}: no unified pair with the same student and attention teacher for Table 3")
