"""Reading Keep a Changelog files: the demo CHANGELOG.md and hand-made edge cases."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from guide.changelog import ChangelogError, entries_for, parse_changelog

ROOT = Path(__file__).resolve().parent.parent
DEMO_CHANGELOG = (ROOT / "guide" / "demo" / "mlmw" / "CHANGELOG.md").read_text(encoding="utf-8")


def md(text: str) -> str:
    return dedent(text).lstrip("\n")


def test_the_demo_changelog_has_every_release_with_its_date():
    releases = parse_changelog(DEMO_CHANGELOG)

    assert list(releases) == ["1.0.0", "0.10.1", "0.10.0", "0.9.0"]
    assert [r.date for r in releases.values()] == [
        "2026-11-20",
        "2026-10-02",
        "2026-09-15",
        "2026-06-01",
    ]


def test_the_demo_changelog_entries_keep_their_kinds_and_file_order():
    entries = entries_for(DEMO_CHANGELOG, "0.10.0")

    assert [kind for kind, _ in entries] == [
        *["added"] * 5,
        *["changed"] * 2,
        "deprecated",
        "removed",
        "fixed",
    ]
    assert entries[0][1].startswith('"Interviews" section with an excerpt from the interview with')
    assert entries[0][1].endswith(
        "[Denoising Diffusion Probabilistic Models](https://arxiv.org/abs/2006.11239)."
    )
    assert entries[8] == (
        "removed",
        "Theano from the deep learning packages: the library is no longer maintained.",
    )
    assert entries_for(DEMO_CHANGELOG, "0.10.1") == [
        (
            "changed",
            'Retitled the Murphy (2022) link in "Reference texts" to "Murphy (2022), Probabilistic '
            'Machine Learning: An Introduction", in line with the Bishop (2006) link.',
        ),
        (
            "fixed",
            "Replaced the dead scipy-lectures.org link to the [Scientific Python Lectures]"
            "(https://lectures.scientific-python.org/) with their new address.",
        ),
        (
            "fixed",
            'Typo "contraints" in "Does reading these materials make you a machine learning '
            'engineer?".',
        ),
    ]


def test_link_reference_definitions_and_the_intro_are_not_entries():
    releases = parse_changelog(DEMO_CHANGELOG)

    all_texts = [text for release in releases.values() for _, text in release.entries]
    assert not any(text.startswith("[0.") or "trics.me/mlmw/compare" in text for text in all_texts)
    assert len(releases["0.9.0"].entries) == 4
    assert releases["0.9.0"].entries[-1][1].startswith("Links to the [MLMW Telegram group]")


def test_indented_continuation_lines_join_the_previous_entry():
    text = md(
        """
        ## [1.1.0] - 2026-12-01

        ### Added

        - A long entry that wraps
          onto a second line
        \tand a third, tab-indented.
        - A short one.
        * A star bullet.
        """
    )

    assert entries_for(text, "1.1.0") == [
        ("added", "A long entry that wraps onto a second line and a third, tab-indented."),
        ("added", "A short one."),
        ("added", "A star bullet."),
    ]


def test_kind_headings_are_case_insensitive_and_unreleased_is_a_section():
    text = md(
        """
        # Changelog

        ## [Unreleased]

        ### security

        - Pinned the link checker.

        ## 1.0.0

        ### FIXED

        - A typo.

        [Unreleased]: https://example.com/compare/1.0.0...HEAD
        [1.0.0]: https://example.com/1.0.0
        """
    )

    releases = parse_changelog(text)

    assert list(releases) == ["Unreleased", "1.0.0"]
    assert releases["Unreleased"].date is None
    assert releases["Unreleased"].entries == [("security", "Pinned the link checker.")]
    assert releases["1.0.0"].date is None
    assert releases["1.0.0"].entries == [("fixed", "A typo.")]


def test_a_release_heading_that_appears_twice_is_an_error():
    text = "## [1.0.0]\n### Added\n- a\n\n## [1.0.0] - 2026-01-01\n### Added\n- b\n"

    with pytest.raises(ChangelogError, match=r"^line 5: release 1\.0\.0 appears twice$"):
        parse_changelog(text)


def test_an_entry_outside_any_kind_section_is_an_error():
    text = "## [1.0.0]\n\n- an entry without ### Added above it\n"

    with pytest.raises(ChangelogError, match=r"^line 3: an entry outside any ### kind section$"):
        parse_changelog(text)


def test_an_unknown_kind_is_an_error_naming_it_and_the_allowed_ones():
    text = "## [1.0.0]\n### Foo\n- a\n"

    with pytest.raises(ChangelogError) as excinfo:
        parse_changelog(text)

    assert str(excinfo.value) == (
        "line 2: unknown kind 'Foo' "
        "(use one of Added, Changed, Deprecated, Removed, Fixed, Security)"
    )


def test_a_kind_heading_before_any_release_is_an_error():
    with pytest.raises(
        ChangelogError, match=r"^line 1: '### Added' comes before any release heading$"
    ):
        parse_changelog("### Added\n- a\n")


def test_asking_for_a_release_the_file_does_not_have_is_an_error():
    with pytest.raises(ChangelogError, match=r"^the changelog has no section for 2\.0\.0$"):
        entries_for(DEMO_CHANGELOG, "2.0.0")


@pytest.mark.parametrize(
    "text",
    [
        "## [1.0.0] - 2026-01-01\n\n## [0.9.0]\n### Added\n- a\n",
        "## [1.0.0] - 2026-01-01\n### Added\n\n## [0.9.0]\n### Added\n- a\n",
    ],
)
def test_asking_for_a_release_with_an_empty_section_is_an_error(text):
    with pytest.raises(ChangelogError, match=r"^the changelog section for 1\.0\.0 has no entries$"):
        entries_for(text, "1.0.0")
