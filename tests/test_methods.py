"""The method registry is the one place a method is defined: a toy method added there flows through
config validation, DAG planning, the training loss and the tables without any other module knowing it."""

from __future__ import annotations

import pytest
import torch

from mold import methods, paths, plan
from mold.config import ConfigError, load_config, preset_path
from mold.methods import Method, get_method, register, table_order
from mold.reporting.tables import aggregate, load_eval_records, table1


@pytest.fixture()
def explain_only(monkeypatch):
    """A toy method: the explanation task alone, L = L_exp (one registry entry, no other edit)."""
    monkeypatch.setattr(methods, "METHODS", dict(methods.METHODS))
    return register(Method("explain_only", "Explain only", frozenset({"pre", "exp"}), lambda t, spec: t["exp"]))


def _config_with(tmp_path, method_names: list[str]):
    text = preset_path("smoke").read_text().replace("methods: [vanilla, dss, molsaki, \"sl:last->last\"]",
                                                     f"methods: [{', '.join(method_names)}]")
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return load_config(path)


def test_toy_method_flows_through_validation_planning_loss_and_tables(explain_only, tmp_path):
    cfg = _config_with(tmp_path, ["dss", "explain_only"])
    # planning: its runs, its inputs (rationales, no attention targets), its slug
    runs = paths.all_eval_files(cfg)
    assert any("/explain_only/" in str(p) for p in runs)
    needs = plan.distill_inputs(cfg, "tiny", "math", "explain_only")
    assert paths.rationale_file(cfg, "teacher", "math") in needs
    assert not any("attention" in str(p) for p in needs)
    # the loss: its own composition of the terms the training computes
    terms = {"pre": torch.tensor(2.0), "exp": torch.tensor(3.0)}
    assert get_method("explain_only").compose(terms, cfg.loss).item() == 3.0
    # tables: its label from the registry, in registry order
    records = []
    for seed_file, method in ((tmp_path / "a.json", "dss"), (tmp_path / "b.json", "explain_only")):
        seed_file.write_text('{"pair": "tiny", "pair_label": "T", "task": "math", "method": "%s", "seed": 0, '
                             '"scores": {"predict": {"math_test": {"acc": 0.5, "n": 30}}}}' % method)
        records.append(seed_file)
    md = table1(aggregate(load_eval_records(records)), ["math_test"], table_order(["explain_only", "dss"]))["md"]
    assert "| Explain only |" in md and md.index("| DSS |") < md.index("| Explain only |")


def test_unknown_method_fails_validation_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"pairs\.tiny\.methods.*unknown method 'nope'"):
        _config_with(tmp_path, ["dss", "nope"])


def test_registry_rejects_a_second_definition_and_bad_terms(explain_only):
    with pytest.raises(ValueError, match="already defined"):
        register(Method("dss", "DSS again", frozenset({"pre"}), lambda t, spec: t["pre"]))
    with pytest.raises(ValueError, match="terms must include 'pre'"):
        Method("bad", "Bad", frozenset({"exp", "kl"}), lambda t, spec: t["exp"])


def test_registered_methods_compose_the_paper_losses():
    """Eq. 1 and Eq. 7 on numbers: a = 0.5, b_att = 1.0, b_MMI = 0.1."""
    from mold.config import LossSpec

    spec, t = LossSpec(), {"pre": torch.tensor(2.0), "exp": torch.tensor(4.0), "mmi": torch.tensor(10.0), "att": torch.tensor(0.5)}
    assert get_method("vanilla").compose(t, spec).item() == 2.0
    assert get_method("dss").compose(t, spec).item() == 3.0
    assert get_method("mmi").compose(t, spec).item() == pytest.approx(4.0)
    assert get_method("molsaki").compose(t, spec).item() == 3.5
    assert get_method("sl:13->8").compose(t, spec).item() == 3.5
    assert get_method("sl:13->8").single_layer == ("13", "8") and not get_method("sl:13->8").uses_router
    assert table_order(["molsaki", "sl:1->2", "vanilla", "mmi", "dss"]) == ["vanilla", "dss", "mmi", "sl:1->2", "molsaki"]
