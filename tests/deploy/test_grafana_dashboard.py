"""``deploy/grafana/autan.json`` reads only series autan exports."""

import json
import re
from pathlib import Path
from typing import Any

from autan.observability.metrics import Metrics
from tests.fakes import fake_engine, fake_registry

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "autan.json"
PROMQL_WORDS = {
    "sum", "by", "without", "rate", "irate", "increase", "histogram_quantile", "avg", "max",
    "min", "count", "label_values", "le", "on", "ignoring", "and", "or", "unless",
}  # fmt: skip
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported_names() -> set[str]:
    """Every sample name a server's /metrics can hold, labelled series or not."""
    engine, _ = fake_engine()
    try:
        metrics = Metrics(fake_registry(engine), lambda: [])
        names = set()
        for family in metrics.registry.collect():
            names.update(family.name + s for s in _SUFFIXES.get(family.type, ("",)))
        return names
    finally:
        engine.close()


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression reads."""
    expr = re.sub(r"label_values\(([^,]+),[^)]*\)", r"\1", expr)  # the label it lists
    expr = re.sub(r'"[^"]*"', "", expr)  # label values, regexes
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)  # grouping labels
    expr = re.sub(r"\$\w+", "", expr)  # dashboard variables
    expr = re.sub(r"\b\d+(\.\d+)?\b", "", expr)
    return {n for n in _NAME.findall(expr) if n not in PROMQL_WORDS}


def queries(node: Any) -> list[str]:
    """Every ``expr`` of the dashboard's panels, and its variables' queries."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                found.append(value)
            else:
                found += queries(value)
    elif isinstance(node, list):
        for item in node:
            found += queries(item)
    return found


def test_the_dashboard_is_json_grafana_can_import() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] == "autan" and dashboard["panels"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]


def test_every_query_names_a_metric_autan_exports() -> None:
    exported = exported_names()
    exprs = queries(json.loads(DASHBOARD.read_text()))
    assert len(exprs) > 20
    read = set()
    for expr in exprs:
        names = metric_names(expr)
        assert names, f"no metric in {expr!r}"
        assert names <= exported, f"{expr!r} reads {sorted(names - exported)}, not exported"
        read |= names
    # The dashboard shows the engine's vLLM series and the gateway's own.
    assert {"vllm:time_to_first_token_seconds_bucket", "autan_http_requests_total"} <= read


def test_the_checker_catches_a_misspelt_metric() -> None:
    assert metric_names('sum by (le) (rate(vllm:ttft_bucket{model_name=~"$m"}[5m]))') == {
        "vllm:ttft_bucket"
    }
    assert "vllm:ttft_bucket" not in exported_names()
