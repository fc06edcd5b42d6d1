"""Search over a 10,000-link guide: how long a query takes once the guide is indexed.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/mlmw_search_bench   # createdb it first
    DEBUG=true .venv/bin/python manage.py migrate && DEBUG=true .venv/bin/python bench/search_bench.py

Writes a guide "bench-search" (250 sections of 40 linked list items, 10,000 links), publishes it as
history and reindexes it (timed), then times queries of one common word, a rare word, two words and a
link title: the median of 20 runs each, results and snippets included. The target is ≤ 50 ms a query
on PostgreSQL. Removes its guide at the end.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlmw.settings")
os.environ.setdefault("DEBUG", "true")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from guide import search  # noqa: E402
from guide.models import Guide, SearchEntry, Version  # noqa: E402

VOCABULARY = [
    "learning",
    "model",
    "data",
    "training",
    "neural",
    "network",
    "regression",
    "bayesian",
    "inference",
    "kernel",
    "gradient",
    "descent",
    "optimisation",
    "transformer",
    "attention",
    "graph",
    "probability",
    "statistics",
    "causal",
    "forecasting",
    "series",
    "clustering",
    "embedding",
    "retrieval",
    "evaluation",
    "benchmark",
    "dataset",
    "pipeline",
    "feature",
    "vision",
    "language",
    "reinforcement",
    "policy",
    "reward",
    "simulation",
    "sampling",
    "variational",
    "autoencoder",
    "diffusion",
]


def build(rng: random.Random) -> str:
    lines = ["# The bench guide", "", "A guide of ten thousand links.", ""]
    for s in range(250):
        lines += [f"## Topic {s}: {rng.choice(VOCABULARY).title()} {rng.choice(VOCABULARY)}", ""]
        lines.append(" ".join(rng.choice(VOCABULARY) for _ in range(40)) + ".")
        lines.append("")
        for n in range(40):
            title = " ".join(rng.choice(VOCABULARY) for _ in range(4)).capitalize()
            lines.append(f"- [{title} {s}-{n}](https://example.org/{s}/{n}) by Author {n}")
        lines.append("")
    return "\n".join(lines)


def timed(fn, runs: int = 20) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def cleanup() -> None:
    SearchEntry.objects.filter(guide__slug="bench-search").delete()
    Version.objects.filter(guide__slug="bench-search").delete()
    Guide.objects.filter(slug="bench-search").delete()


def main() -> None:
    rng = random.Random(7)
    cleanup()
    guide = Guide.objects.create(slug="bench-search", title="Bench guide")
    try:
        Version.objects.create(
            guide=guide, number="1.0.0", title="Bench", content=build(rng),
            status=Version.Status.PUBLISHED, published_at=timezone.now(), bump="major",
        )  # fmt: skip
        start = time.perf_counter()
        rows = search.reindex(guide)
        print(f"database: {connection.vendor}; reindex of 10,000 links: "
              f"{(time.perf_counter() - start) * 1000:.0f} ms, {rows} rows")  # fmt: skip
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE guide_searchentry")
        for query in ("learning", "variational", "bayesian kernel", "Author 17", "nothingmatches"):
            hits = search.search(query)
            ms = timed(lambda q=query: search.search(q))
            print(f"  {query!r:20} {len(hits):3} hits  {ms:6.1f} ms (median of 20)")
    finally:
        cleanup()


if __name__ == "__main__":
    main()
