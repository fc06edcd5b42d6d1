"""The catch-up is the net change of the content, computed from stored parses.

A reader who last saw 1.1 and is mailed 1.3 is told what differs between 1.1 and 1.3: a change made in 1.2
and undone in 1.3 is not there. Published versions are parsed once and their parse is stored
(guide.parses); drafts are parsed live.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guide import parses
from guide.catchup import catch_up
from guide.diff import diff_guides, parse_guide
from guide.models import Guide, ParsedContent, Version
from guide.publishing import publish
from tests.conftest import make_version

pytestmark = pytest.mark.django_db

GUIDE_1_1 = (Path(__file__).resolve().parent / "data" / "mlmw-guide-1.1.md").read_text(
    encoding="utf-8"
)

# Edits an editor makes, as (before, after) on the 1.1 text; each applies once and they commute.
EDITS = [
    ("real contraints", "real constraints"),
    ("https://scipy-lectures.org/", "https://lectures.scientific-python.org/"),
    ("[Murphy (2022)]", "[Murphy (2022), Probabilistic Machine Learning: An Introduction]"),
    (
        "- [XGBoost](https://xgboost.readthedocs.io/): gradient boosted trees.\n",
        "- [XGBoost](https://xgboost.readthedocs.io/): gradient boosted trees.\n"
        "- [CatBoost](https://catboost.ai/): boosted trees with categorical features.\n",
    ),
    ("## What else?", "## Python packages to know"),
    ("- [JAX](https://docs.jax.dev/): NumPy-like arrays with automatic differentiation", "- JAX"),
    ("## Not in scope\n", "## Out of scope\n"),
]


def apply(edits) -> str:
    text = GUIDE_1_1
    for before, after in edits:
        assert text.count(before) == 1, before
        text = text.replace(before, after)
    return text


_slugs = itertools.count()


def releases(*texts: str) -> list[Version]:
    """A guide with one published version per text: 1.1.0, 1.2.0, ..."""
    guide = Guide.objects.create(slug=f"g{next(_slugs)}", title="The MLMW guide")
    now = timezone.now()
    return [
        make_version(guide, f"1.{n + 1}.0", text, published_at=now, bump="minor")
        for n, text in enumerate(texts)
    ]


def test_a_change_made_in_one_release_and_undone_in_the_next_is_not_in_the_catch_up() -> None:
    typo_fixed = apply([EDITS[0]])
    v1_1, _, v1_3 = releases(GUIDE_1_1, apply([EDITS[0], EDITS[1]]), apply([EDITS[1]]))
    diff = catch_up(v1_1, v1_3).diff
    assert diff.summary() == "1 link updated"
    assert "constraints" not in str(diff.to_dict())
    assert diff_guides(GUIDE_1_1, typo_fixed).summary() == "1 paragraph edited"


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    undone=st.sampled_from(range(len(EDITS))),
    kept=st.sets(st.sampled_from(range(len(EDITS)))),
)
def test_the_catch_up_is_the_diff_of_the_two_versions_whatever_happened_between(
    undone: int, kept: set[int]
) -> None:
    kept.discard(undone)
    in_1_2 = [EDITS[i] for i in sorted({undone, *kept})]
    in_1_3 = [EDITS[i] for i in sorted(kept)]
    v1_1, _, v1_3 = releases(GUIDE_1_1, apply(in_1_2), apply(in_1_3))
    diff = catch_up(v1_1, v1_3).diff
    assert diff == diff_guides(GUIDE_1_1, apply(in_1_3))
    assert diff.is_empty == (not kept)
    # What only the undone edit brought is nowhere in it.
    marker = EDITS[undone][1].split("\n")[0][-12:]
    if marker not in GUIDE_1_1 and all(marker not in after for _, after in in_1_3):
        assert marker not in str(diff.to_dict())


def test_a_published_versions_parse_is_stored_once_and_then_loaded() -> None:
    parses.clear_memo()
    v1_1, v1_2 = releases(GUIDE_1_1, apply([EDITS[0]]))
    assert catch_up(v1_1, v1_2).diff.summary() == "1 paragraph edited"
    stored = ParsedContent.objects.get(content_hash=parses.content_hash(v1_1.content))
    assert stored.format == parses.PARSE_FORMAT
    assert parses.loads(bytes(stored.data)) == parse_guide(GUIDE_1_1)
    # A cold process loads it (no parse): a stored parse that differs shows it is what is used.
    parses.clear_memo()
    marked = parses.dumps(parse_guide(apply([EDITS[1]])))
    ParsedContent.objects.filter(pk=stored.pk).update(data=marked)
    assert catch_up(v1_1, v1_2).diff.summary() == "1 link updated, 1 paragraph edited"


def test_a_stored_parse_of_another_format_is_parsed_again_and_replaced() -> None:
    parses.clear_memo()
    (v1_1,) = releases(GUIDE_1_1)
    ParsedContent.objects.create(
        content_hash=parses.content_hash(GUIDE_1_1),
        format=(parses.PARSE_FORMAT + 1) % 32768,
        data=b"old",
    )
    assert parses.of_version(v1_1) == parse_guide(GUIDE_1_1)
    stored = ParsedContent.objects.get(content_hash=parses.content_hash(GUIDE_1_1))
    assert stored.format == parses.PARSE_FORMAT


def test_a_stored_parse_this_code_cannot_read_is_parsed_again_and_replaced() -> None:
    parses.clear_memo()
    (v1_1,) = releases(GUIDE_1_1)
    key = parses.content_hash(GUIDE_1_1)
    ParsedContent.objects.update_or_create(
        content_hash=key, defaults={"format": parses.PARSE_FORMAT, "data": b"not a parse"}
    )
    parses.clear_memo()

    assert parses.of_version(v1_1) == parse_guide(GUIDE_1_1)
    assert parses.loads(bytes(ParsedContent.objects.get(content_hash=key).data)) == parse_guide(
        GUIDE_1_1
    )


def test_a_drafts_parse_is_not_stored(guide: Guide) -> None:
    parses.clear_memo()
    draft = make_version(guide, "2.0.0", apply([EDITS[2]]))
    assert parses.of_version(draft) == parse_guide(draft.content)
    assert not ParsedContent.objects.filter(content_hash=parses.content_hash(draft.content))


def test_publishing_stores_the_parse(guide: Guide, django_capture_on_commit_callbacks) -> None:
    parses.clear_memo()
    draft = make_version(guide, "1.0.0", GUIDE_1_1)
    with django_capture_on_commit_callbacks(execute=True):
        publish(draft)
    assert ParsedContent.objects.filter(content_hash=parses.content_hash(GUIDE_1_1)).exists()
