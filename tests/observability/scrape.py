"""Reading /metrics back as Prometheus does."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    """One scrape's samples, looked up by sample name and labels."""

    def __init__(self, text: str) -> None:
        self.samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples.setdefault(sample.name, []).append((sample.labels, sample.value))

    def value(self, name: str, **labels: str) -> float:
        """The sum of ``name``'s samples whose labels include ``labels`` (0 when none)."""
        return sum(
            value
            for have, value in self.samples.get(name, [])
            if all(have.get(k) == v for k, v in labels.items())
        )

    def has(self, name: str) -> bool:
        return name in self.samples


def scrape(client: TestClient, headers: dict[str, str] | None = None) -> Scrape:
    r = client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return Scrape(r.text)
