"""Benchmark of guide.diff on a guide the size of a large real one.

Builds a synthetic guide of 10,000 links in ~500 sections (nested headings, duplicate titles,
bullet lists of links with descriptions, quotes, code, reference-style links), and a modified copy
(links added, removed, retitled, moved and moved to archive copies; sections added, removed and
reworded; a heading renamed). Times, each as the median of 5 runs (--runs) in wall time
(time.perf_counter) and in CPU time of this process (time.process_time):

- parse_guide of one version (cold: the parse cache is cleared first);
- ParsedGuide.from_bytes of one version's stored parse (what guide.parses loads from the
  database for a published version, the row's bytes already fetched);
- the cold compare from stored parses: both stored parses loaded, then diffed: what a catch-up
  of two published versions costs in a fresh worker (the headline figure);
- diff_guides(old_text, new_text), cold: both parses plus the diff (drafts, nothing stored);
- diff_guides(old_text, new_text), warm: parses memoised, as for a repeated preview/e-mail;
- diff_guides(old_parsed, new_parsed): the diff alone;
- render_text and render_html, in full and with limit=200.

Run it with `python bench/diff_bench.py` (from the repository root or anywhere);
`--compare-only` times the two cold compares alone, `--help` lists the options. Other processes
competing for the machine's cores stretch wall time much more than CPU time, so the CPU figure
is the one to compare across runs; each run prints the load average it ran under.

Figures of runs on 2 cores shared with four other sessions (Python 3.11.7, markdown-it-py 4.3.0,
cydifflib 1.2.0), for a 1.5 MB guide whose diff is "10 sections added, 157 new links, 66 links
updated, 15 paragraphs edited, 5 paragraphs added, 5 paragraphs removed, 95 links retitled, 49
links moved, 6 sections moved, 258 links removed, 8 sections removed" (516 items), median of 11:

    cold compare from stored parses, load average 1.3       47 ms   (CPU 46 ms)
    cold compare from stored parses, load average 4-6     79-164 ms   (CPU 54-75 ms)
    a typical release (5 new links, 2 links updated, 3 paragraphs edited), cold compare
    from stored parses, load average 1.3                    27 ms   (CPU 26 ms)

and of one full run at load average 4 (wall times 2-3x a quiet machine's):

    parse_guide(old), cold                      1457 ms   (markdown-it-py; once per published version)
    ParsedGuide.from_bytes(old stored parse)      21 ms   (CPU 11 ms; a 3.0 MB pickle)
    diff_guides(old_text, new_text), cold       3364 ms   (drafts: two parses + the diff)
    diff_guides(old_parsed, new_parsed)           64 ms   (CPU 35 ms)
    render_text(diff) / render_html(diff)     16 / 14 ms

Of the cold compare's CPU time about a third is loading the two stored parses (unpickling), the
rest the diff: section matching, block alignment, link changes and word diffs of the 300
changed sections. Per changed section the diff does more (pairing blocks, word diffs), and the
URLs of unchanged sections are skipped as a run, so a typical release costs a fraction of this
synthetic one, whose edits touch 300 of 500 sections; there, loading is most of the cost.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from guide.diff import ParsedGuide, clear_parse_cache, diff_guides, parse_guide
from guide.diff_render import render_html, render_text

SEED = 20240601
LINKS = 10_000
TRACKS = 10
SECTIONS_PER_TRACK = 50  # 10 tracks x (1 + 49 subsections) = 500 sections
RUNS = 5

_WORDS = (
    "learning", "model", "data", "training", "gradient", "loss", "network", "attention",
    "transformer", "embedding", "vector", "probability", "bayesian", "linear", "algebra",
    "calculus", "optimisation", "regularisation", "dropout", "convolution", "recurrent",
    "sequence", "token", "language", "vision", "reinforcement", "policy", "reward", "agent",
    "evaluation", "benchmark", "dataset", "feature", "kernel", "tree", "forest", "boosting",
    "clustering",
)  # fmt: skip
_SUBSECTION_TITLES = (
    "Roadmap",
    "Reading list",
    "Courses",
    "Papers",
    "Tools",
    "Exercises",
    "Videos",
    "Blogs",
)


@dataclass
class Section:
    level: int
    title: str
    intro: str
    links: list[tuple[str, str, str]] = field(default_factory=list)  # (title, url, description)
    quote: str = ""
    code: str = ""


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n))


def build_guide(rng: random.Random) -> list[Section]:
    sections: list[Section] = []
    for t in range(TRACKS):
        sections.append(Section(1, f"Track {t}: {words(rng, 2).title()}", words(rng, 30)))
        for s in range(SECTIONS_PER_TRACK - 1):
            # Titles repeat within a track (duplicate keys) and across tracks (same subtitle,
            # different path); some sections go one level deeper.
            title = _SUBSECTION_TITLES[s % len(_SUBSECTION_TITLES)]
            if s % 5 == 0:
                title = f"{title} {words(rng, 1)}"
            level = 3 if s % 4 == 3 else 2
            section = Section(level, title, words(rng, rng.randint(10, 60)))
            if s % 6 == 0:
                section.quote = words(rng, 25)
            if s % 9 == 0:
                section.code = f"import torch\nmodel = torch.nn.Linear({s}, {t})\n"
            sections.append(section)
    for link_id in range(LINKS):
        section = sections[link_id % len(sections)]
        url = f"https://example.org/{words(rng, 1)}/{link_id}"
        section.links.append((words(rng, rng.randint(2, 6)).capitalize(), url, words(rng, 6)))
    return sections


def modify(sections: list[Section], rng: random.Random) -> list[Section]:
    """A copy with the kinds of edits a real release makes, many of each."""
    new = [Section(s.level, s.title, s.intro, list(s.links), s.quote, s.code) for s in sections]
    for _ in range(100):  # links removed
        section = rng.choice(new)
        if section.links:
            section.links.pop(rng.randrange(len(section.links)))
    for i in range(150):  # links added
        section = rng.choice(new)
        section.links.insert(
            rng.randint(0, len(section.links)),
            (words(rng, 3).capitalize(), f"https://new.example.org/{i}", words(rng, 6)),
        )
    for _ in range(100):  # links retitled
        section = rng.choice(new)
        if section.links:
            i = rng.randrange(len(section.links))
            _, url, desc = section.links[i]
            section.links[i] = (words(rng, 4).capitalize(), url, desc)
    for _ in range(69):  # links moved to archive copies: the URL changes, the title stays
        section = rng.choice(new)
        if section.links:
            i = rng.randrange(len(section.links))
            title, url, desc = section.links[i]
            if not url.startswith("https://web.archive.org/"):
                section.links[i] = (title, f"https://web.archive.org/web/2024/{url}", desc)
    for _ in range(50):  # links moved to another section
        source, target = rng.choice(new), rng.choice(new)
        if source.links and source is not target:
            target.links.append(source.links.pop(rng.randrange(len(source.links))))
    for _ in range(20):  # paragraphs reworded
        rng.choice(new).intro = words(rng, 40)
    for _ in range(8):  # sections removed (never a track heading)
        candidates = [i for i, s in enumerate(new) if s.level > 1]
        del new[rng.choice(candidates)]
    for i in range(10):  # sections added
        new.insert(
            rng.randrange(1, len(new)),
            Section(
                2, f"New topic {i}", words(rng, 30), [(f"Fresh {i}", f"https://fresh/{i}", "")]
            ),
        )
    new[1].title = "Roadmap (revised)"  # a renamed heading
    return new


def typical_release(sections: list[Section], rng: random.Random) -> list[Section]:
    """A copy with what a typical release changes: a few fixes, links and URL updates."""
    new = [Section(s.level, s.title, s.intro, list(s.links), s.quote, s.code) for s in sections]
    for _ in range(3):  # one-word fixes
        section = rng.choice(new)
        section.intro = section.intro.replace(" ", " fixed ", 1)
    for i in range(5):  # links added
        rng.choice(new).links.append((f"New resource {i}", f"https://new.example.org/t{i}", "x"))
    for _ in range(2):  # URLs updated
        section = rng.choice([s for s in new if s.links])
        title, url, desc = section.links[0]
        section.links[0] = (
            title,
            url.replace("https://", "https://web.archive.org/web/2024/"),
            desc,
        )
    return new


def to_markdown(sections: list[Section]) -> str:
    out: list[str] = ["A synthetic guide to machine learning, for benchmarking the diff.\n"]
    references: list[str] = []
    for n, s in enumerate(sections):
        out.append(f"{'#' * s.level} {s.title}\n")
        out.append(f"{s.intro}\n")
        if s.quote:
            out.append(f"> {s.quote}\n")
        items = []
        for i, (title, url, desc) in enumerate(s.links):
            if (n + i) % 10 == 0:  # one link in ten is reference-style
                label = f"r{n}-{i}"
                references.append(f"[{label}]: {url}")
                items.append(f"- [{title}][{label}] - {desc}")
            else:
                items.append(f"- [{title}]({url}) - {desc}")
        if items:
            out.append("\n".join(items) + "\n")
        if s.code:
            out.append(f"```python\n{s.code}```\n")
    out.append("\n".join(references) + "\n")
    return "\n".join(out)


@dataclass
class Timing:
    """Median wall time (time.perf_counter) and median CPU time of this process
    (time.process_time) of the same runs: other processes competing for the cores stretch
    the first much more than the second."""

    wall: float
    cpu: float

    def __str__(self) -> str:
        return f"{self.wall * 1000:8.1f} ms  (CPU {self.cpu * 1000:6.1f} ms)"


def median_time(fn: Callable[[], object], *, setup: Callable[[], object] | None = None) -> Timing:
    walls, cpus = [], []
    for _ in range(RUNS):
        if setup is not None:
            setup()
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    return Timing(statistics.median(walls), statistics.median(cpus))


def cold_compare(old_bytes: bytes, new_bytes: bytes) -> None:
    """What a catch-up of two published versions costs in a fresh process: load, then diff."""
    diff_guides(ParsedGuide.from_bytes(old_bytes), ParsedGuide.from_bytes(new_bytes))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs", type=int, default=RUNS, help=f"runs per figure, median taken (default {RUNS})"
    )
    parser.add_argument(
        "--compare-only",
        action="store_true",
        help="time only the cold compares from stored parses (the headline figures)",
    )
    return parser.parse_args()


def main() -> None:
    global RUNS
    args = parse_args()
    RUNS = args.runs
    rng = random.Random(SEED)
    sections = build_guide(rng)
    old_text = to_markdown(sections)
    new_text = to_markdown(modify(sections, rng))

    clear_parse_cache()
    old_parsed = parse_guide(old_text)
    new_parsed = parse_guide(new_text)
    diff = diff_guides(old_parsed, new_parsed)
    for name, text, parsed in (("old", old_text, old_parsed), ("new", new_text, new_parsed)):
        print(
            f"{name}: {len(text.encode()) / 1e6:.2f} MB, {len(parsed.sections)} sections, "
            f"{len(parsed.links)} links"
        )
    print(f"diff: {diff.summary()}; {diff.item_count} items")
    old_bytes, new_bytes = old_parsed.to_bytes(), new_parsed.to_bytes()
    print(f"stored parse: {len(old_bytes) / 1e6:.2f} MB")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"median of {RUNS} runs, wall time (CPU time of this process); load average {load}:")

    figures = {
        "cold compare from stored parses": median_time(lambda: cold_compare(old_bytes, new_bytes))
    }
    if not args.compare_only:
        figures |= {
            "parse_guide(old), cold": median_time(
                lambda: parse_guide(old_text), setup=clear_parse_cache
            ),
            "ParsedGuide.from_bytes(old stored parse)": median_time(
                lambda: ParsedGuide.from_bytes(old_bytes)
            ),
            "diff_guides(old_text, new_text), cold": median_time(
                lambda: diff_guides(old_text, new_text), setup=clear_parse_cache
            ),
            "diff_guides(old_text, new_text), warm": median_time(
                lambda: diff_guides(old_text, new_text),
                setup=lambda: (parse_guide(old_text), parse_guide(new_text)),
            ),
            "diff_guides(old_parsed, new_parsed)": median_time(
                lambda: diff_guides(old_parsed, new_parsed)
            ),
            "render_text(diff)": median_time(lambda: render_text(diff)),
            "render_html(diff)": median_time(lambda: render_html(diff)),
            "render_text(diff, limit=200)": median_time(lambda: render_text(diff, limit=200)),
            "render_html(diff, limit=200)": median_time(lambda: render_html(diff, limit=200)),
        }
    width = max(map(len, figures))
    for name, timing in figures.items():
        print(f"  {name:<{width}}  {timing}")

    small = typical_release(sections, random.Random(SEED + 1))
    small_bytes = parse_guide(to_markdown(small)).to_bytes()
    small_diff = diff_guides(old_parsed, ParsedGuide.from_bytes(small_bytes))
    timing = median_time(lambda: cold_compare(old_bytes, small_bytes))
    print(f"a typical release ({small_diff.summary()}):")
    print(f"  {'cold compare from stored parses':<{width}}  {timing}")


if __name__ == "__main__":
    main()
