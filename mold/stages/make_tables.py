"""Stage `make_tables`: regenerate the paper's tables, the run report and figure data from saved results (no model runs).

One set of Tables 1–3 per variant (`mold.reporting.columns.table_variants`): each evaluation mode on the full
test sets and, where the config has them, on the paper-sized subsets; every title names its variant.
"""

from __future__ import annotations

from mold import paths
from mold.config import ExperimentConfig
from mold.console import log
from mold.methods import get_method, table_order
from mold.reporting.columns import (TableVariant, averaged_columns, columns_shown, hybrid_pairs, lone_subsets, paper_names,
                                    single_layer_pairs, table_variants)
from mold.reporting.figures import top_layers_note, write_layer_weights
from mold.reporting.report import write_report
from mold.reporting.tables import (EvalRecord, aggregate, dataset_name, load_eval_records, load_paper_numbers, table1, table2,
                                   table3, write_tables)


def _tests(cfg: ExperimentConfig, pair: str, answer_kind: str | None = None) -> list[str]:
    return [d for t in cfg.pairs[pair].tasks if answer_kind in (None, cfg.tasks[t].answer_kind) for d in cfg.tasks[t].tests]


def _paper_rows(cfg: ExperimentConfig, table: int):
    mapping = {p.paper_pair: key for key, p in cfg.pairs.items() if p.paper_pair}
    return load_paper_numbers(table, mapping) if mapping else None


def _setup_note(cfg: ExperimentConfig) -> str:
    """The run's choices where the paper is silent or ambiguous (docs/paper-to-code.md), printed under every table."""
    loss = cfg.loss
    return (f"Setup: router {loss.router}, steps split on {loss.step_split}, "
            f"explain targets {'end with' if cfg.cues.answer_in_explain else 'omit'} 'The answer is X'.")


def _subset_note(cfg: ExperimentConfig, columns: list[str], pairs) -> str:
    """Names the columns that are a paper-sized subset with no full set configured (columns.lone_subsets)."""
    lone = lone_subsets(cfg, columns, [d for pair in pairs for d in _tests(cfg, pair)])
    names = paper_names(cfg, lone)
    return (f"{', '.join(dataset_name(names[d]) for d in lone)}: the paper-sized subset (paper Table 4), "
            "the only one configured." if lone else "")


def _note(cfg: ExperimentConfig, *extra: str) -> str:
    return " ".join(text for text in (cfg.table_note, _setup_note(cfg), *extra) if text)


def _average_note(cfg: ExperimentConfig, columns: list[str], paper_average: bool) -> str:
    what = "the paper's average" if paper_average else "not the paper's columns: average of every column shown"
    names = paper_names(cfg, columns)
    return f"Avg = mean of {', '.join(dataset_name(names.get(d, d)) for d in columns)} per seed ({what})."


def _write_variant(cfg: ExperimentConfig, records: list[EvalRecord], variant: TableVariant, layers_note: str) -> None:
    mode, root = variant.mode, cfg.root
    datasets = list(dict.fromkeys(d for pair in cfg.pairs for d in columns_shown(cfg, _tests(cfg, pair), variant.test_sets)))
    methods = list(dict.fromkeys(m for p in cfg.pairs.values() for m in p.methods))
    unified = [k for k, p in cfg.pairs.items() if p.setting == "unified"]
    write_tables(root / variant.file_stem(1), table1(
        aggregate(records, mode=mode), datasets, methods, _paper_rows(cfg, 1), _note(cfg, _subset_note(cfg, datasets, cfg.pairs)), unified,
        title=variant.title("Table 1: accuracy (%) of each method on each test set"), paper_names=paper_names(cfg, datasets)))
    sl_pairs = single_layer_pairs(cfg)
    if sl_pairs:
        pair = sl_pairs[0]
        columns, faithful = averaged_columns(cfg, columns_shown(cfg, _tests(cfg, pair, "number"), variant.test_sets), 2)
        rows = aggregate([r for r in records if r.pair == pair], average_over=columns, mode=mode)
        order = table_order([m for m in cfg.pairs[pair].methods if 2 in get_method(m).tables])
        note = _note(cfg, _average_note(cfg, columns, faithful), _subset_note(cfg, columns, [pair]), layers_note)
        write_tables(root / variant.file_stem(2), table2(
            rows, columns, order, _paper_rows(cfg, 2), note, paper_names=paper_names(cfg, columns),
            title=variant.title("Table 2: single-layer maps (SL teacher→student) vs the mixture of layers (MoL)")))
    hybrid = hybrid_pairs(cfg)
    if hybrid:
        columns, faithful = averaged_columns(cfg, columns_shown(cfg, _tests(cfg, hybrid[0], "number"), variant.test_sets), 3)
        by_setting = {setting: aggregate([r for r in records if r.pair == key], average_over=columns, mode=mode)
                      for setting, key in (("unified", _unified_twin(cfg, hybrid[0])), ("hybrid", hybrid[0]))}
        order = table_order([m for m in cfg.pairs[hybrid[0]].methods if 3 in get_method(m).tables])
        palm = {"all": "all PaLM-540B rationales with the gold answers (DSS)",
                "correct": "only PaLM-540B rationales whose answer is correct"}[cfg.generation.palm_rationales]
        note = _note(cfg, _average_note(cfg, columns, faithful), _subset_note(cfg, columns, hybrid[:1]), f"Hybrid training data: {palm}.")
        write_tables(root / variant.file_stem(3), table3(
            by_setting, columns, order, _paper_rows(cfg, 3), note, paper_names=paper_names(cfg, columns),
            title=variant.title("Table 3: rationale source (unified vs hybrid) × method")))


def run(cfg: ExperimentConfig) -> None:
    records = load_eval_records(paths.all_eval_files(cfg))
    figure = write_layer_weights(cfg)
    sl_pairs = single_layer_pairs(cfg)  # Table 2's note: our own top layers, the same in every variant
    layers_note = top_layers_note(cfg, sl_pairs[0]) if sl_pairs else ""
    for variant in table_variants(cfg):
        _write_variant(cfg, records, variant, layers_note)
    report = write_report(cfg)[0]
    log(f"tables written under {cfg.root}; run report (yields, losses, paired comparisons) {report}; layer-weight data in {figure}")


def _unified_twin(cfg: ExperimentConfig, hybrid_pair: str) -> str:
    """The unified pair with the same student and attention teacher as `hybrid_pair`."""
    h = cfg.pairs[hybrid_pair]
    for key, p in cfg.pairs.items():
        if p.setting == "unified" and p.student == h.student and p.attention_teacher == h.attention_teacher:
            return key
    raise ValueError(f"pairs.{hybrid_pair}: no unified pair with the same student and attention teacher for Table 3")
