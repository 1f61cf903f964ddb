"""Prometheus endpoints scraped as the tests read them: sample name and
labels -> value; or their text, over TLS and with a token (`fetch`)."""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

Labels = frozenset[tuple[str, str]]


@dataclass
class Scrape:
    """One scrape: sample name and labels -> value."""

    samples: dict[tuple[str, Labels], float]

    def get(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def total(self, name: str, **labels: str) -> float:
        """Summed over every series whose labels include `labels`."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and want <= ls)


def fetch(url: str, context: ssl.SSLContext | None = None, token: str = "") -> str:
    """The text at `url`; `token` goes as `Authorization: Bearer <token>`."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=10, context=context) as response:
        return str(response.read().decode())


async def scrape(port: int) -> Scrape:
    def fetch() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            return str(response.read().decode())

    text = await asyncio.to_thread(fetch)
    samples: dict[tuple[str, Labels], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return Scrape(samples)
