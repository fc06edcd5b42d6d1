"""What a reader's filters answer for the fan-out: which Keep a Changelog kinds (wants_kind) and which
sections of a guide (wants_section, with guide.sections naming a guide's sections and mapping each
diff section to the top section it is in). No filter means everything."""

from __future__ import annotations

import pytest

from guide.diff import diff_guides, parse_guide
from guide.models import ChangelogEntry
from guide.parses import of_version
from guide.sections import Section, guide_sections, section_slugs, top_sections
from subscriptions.models import SectionFilter, Subscriber
from subscriptions.reading import Reading, kinds_field

pytestmark = pytest.mark.django_db

GUIDE = """# The guide

Intro text.

## Models

### Trees

Text.

## Tools

Text.

## Tools

A second part with the same title.
"""


def reader(**fields) -> Subscriber:
    return Subscriber.objects.create(email="ann@example.org", email_key="ann@example.org", **fields)


def test_with_no_kind_filter_every_changelog_kind_is_wanted():
    ann = reader()

    assert ann.kinds == ""
    assert all(ann.wants_kind(kind) for kind in ChangelogEntry.Kind.values)


def test_a_kind_filter_wants_only_its_kinds():
    ann = reader(kinds=kinds_field({"security", "removed"}))

    assert ann.kinds == "removed,security"  # Keep a Changelog's order, whatever the input order
    assert [k for k in ChangelogEntry.Kind.values if ann.wants_kind(k)] == ["removed", "security"]


def test_every_kind_chosen_is_stored_as_no_filter_so_equal_choices_are_equal():
    assert kinds_field(ChangelogEntry.Kind.values) == kinds_field([]) == ""
    with pytest.raises(ValueError, match="breaking"):
        kinds_field(["breaking"])


def test_a_guides_sections_are_its_repeated_top_headings_with_unique_slugs():
    parsed = parse_guide(GUIDE)

    assert top_sections(parsed) == [
        Section("models", "Models"),
        Section("tools", "Tools"),
        Section("tools-2", "Tools"),
    ]
    assert section_slugs(parsed) == {
        "The guide": "",  # the title and the text under it, before the first section
        "The guide › Models": "models",
        "The guide › Models › Trees": "models",
        "The guide › Tools": "tools",
        "The guide › Tools (2)": "tools-2",
    }


def test_each_section_of_a_diff_maps_to_a_chosen_slug(v0_10_0):
    before, after = of_version(v0_10_0.previous()), of_version(v0_10_0)
    slugs = {**section_slugs(before), **section_slugs(after)}

    changed = {slugs[section.key] for section in diff_guides(before, after).sections}

    assert changed <= {s.slug for s in guide_sections(v0_10_0.guide)} | {""}
    assert "interviews" in changed


def test_a_section_filter_wants_only_its_sections_of_that_guide(guide, mdtp):
    ann = reader()
    ann.set_sections({guide.pk: ["tools"]})

    assert ann.wants_section(guide, "tools")
    assert not ann.wants_section(guide, "models")
    assert not ann.wants_section(guide.pk, "")  # the part before the first section
    assert ann.wants_section(mdtp, "anything")  # no filter on that guide


def test_setting_sections_again_replaces_them_and_none_removes_the_filter(guide):
    ann = reader()
    ann.set_sections({guide.pk: ["tools", "models"]})
    ann.set_sections({guide.pk: ["models"]})
    assert list(SectionFilter.objects.values_list("sections", flat=True)) == [["models"]]

    ann.set_sections({guide.pk: []})

    assert not SectionFilter.objects.exists()
    assert ann.wants_section(guide, "tools")


def test_a_deleted_guide_takes_its_section_filters_with_it(guide):
    ann = reader()
    ann.set_sections({guide.pk: ["tools"]})

    guide.delete()

    assert not SectionFilter.objects.exists()
    assert Subscriber.objects.filter(pk=ann.pk).exists()


def test_the_choices_go_to_a_task_and_back_unchanged(guide):
    chosen = Reading(
        cadence="weekly",
        digest_weekday=6,
        digest_hour=23,
        time_zone="Asia/Kolkata",
        kinds=frozenset({"fixed"}),
        sections={guide.pk: ("tools",)},
    )

    assert Reading.from_json(chosen.to_json()) == chosen
