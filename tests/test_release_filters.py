"""A reader's change-kind and section filters in the release fan-out, through the real stack (publish
commits, a real worker sends through anymail's Mailgun backend to a fake Mailgun).

A Removed-only reader's mail lists only Removed entries and says so, linking the full change; a
section filter limits the diff to its sections; a release with nothing for a reader's filters sends
them nothing (their delivery is skipped, their baseline stays), and their next mail is the catch-up
from that baseline. Readers who chose alike share one variant and one batch.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from guide import publishing
from guide.models import Version
from subscriptions import emails, release_mail
from subscriptions.filters import NOTHING_MATCHES, Filters
from subscriptions.models import Baseline, Batch, Delivery, Mailing, Subscriber
from subscriptions.reading import kinds_field
from tests.conftest import make_subscribers, make_version
from tests.esp import esp_worker_env
from tests.services import wait_for

pytestmark = [pytest.mark.worker]

TREES = "https://trees.example/"
OLD_TOOL = "https://old-tool.example/"
NEW_TOOL = "https://new-tool.example/"
NEW_MODEL = "https://new-model.example/"
V1_0 = f"""# The guide

## Models

- [Trees]({TREES})

## Tools

- [Old tool]({OLD_TOOL})
"""
# 1.1 adds a tool; 1.2 adds a model and removes the old tool.
V1_1 = V1_0 + f"- [New tool]({NEW_TOOL})\n"
V1_2 = V1_1.replace(f"- [Trees]({TREES})\n", f"- [Trees]({TREES})\n- [New model]({NEW_MODEL})\n")
V1_2 = V1_2.replace(f"- [Old tool]({OLD_TOOL})\n", "")


def publish_and_finish(version: Version) -> Mailing:
    publishing.publish(version)
    return wait_for(
        lambda: Mailing.objects.filter(version=version, status=Mailing.Status.DONE).first(),
        what=f"the mailing of {version} to finish",
    )


def expected(subscriber: Subscriber, since: Version, version: Version, key: str) -> tuple:
    variant = release_mail.render_markers(since, version, Filters.from_key(key))
    mail = release_mail.fill(variant, emails.personal_links([subscriber])[0])
    return (mail.subject, mail.text, mail.html)


def changelog_part(text: str) -> str:
    """The text mail's changelog: from "WHAT'S NEW" to the diff."""
    return text.split("WHAT\N{RIGHT SINGLE QUOTATION MARK}S NEW")[1].split(
        "WHAT CHANGED IN THE GUIDE"
    )[0]


@pytest.fixture
def releases(guide):
    v1_0 = make_version(
        guide, "1.0.0", V1_0, published_at=datetime(2026, 1, 1, tzinfo=UTC), bump="major"
    )
    v1_1 = make_version(guide, "1.1.0", V1_1, entries=[("added", "A new tool.")])
    v1_2 = make_version(
        guide, "1.2.0", V1_2, entries=[("added", "A new model."), ("removed", "The old tool.")]
    )
    return v1_0, v1_1, v1_2


def test_a_removed_only_reader_gets_only_removed_entries_and_a_release_without_any_is_folded_in(
    fake_esp, start_worker, guide, releases
):
    v1_0, v1_1, v1_2 = releases
    everyone = make_subscribers(guide, "everything", 2, baseline=v1_0)
    removed = make_subscribers(guide, "removed-only", 3, baseline=v1_0)
    Subscriber.objects.filter(pk__in=[s.pk for s in removed]).update(kinds=kinds_field({"removed"}))
    start_worker(**esp_worker_env(fake_esp))

    first = publish_and_finish(v1_1)

    # 1.1 has only an Added entry: nothing for the Removed-only readers, whose baseline stays.
    assert sorted(fake_esp.recipients()) == sorted(s.email for s in everyone)
    for reader in removed:
        row = Delivery.objects.get(mailing=first, subscriber=reader)
        assert (row.status, row.error) == (Delivery.Status.SKIPPED, NOTHING_MATCHES)
        assert Baseline.objects.get(subscriber=reader).version == v1_0

    second = publish_and_finish(v1_2)

    for reader in removed:
        [mail] = fake_esp.messages_to(reader.email)
        # The catch-up from their old baseline: 1.1's new tool is in its diff.
        assert "Since 1.0.0, the last version you heard about from us" in mail.text
        assert NEW_TOOL in mail.text and NEW_TOOL in mail.html
        # Only Removed entries, and the mail says what it leaves out, with the full change.
        assert "The old tool." in changelog_part(mail.text)
        assert "A new model." not in mail.text and "A new model." not in mail.html
        compare = f"/guides/{guide.slug}/compare/1.0.0...1.2.0/"
        assert f"Showing only: Removed. The full change: http://testserver{compare}" in mail.text
        assert "Showing only: Removed." in mail.html and compare in mail.html
        assert (mail.subject, mail.text, mail.html) == expected(reader, v1_0, v1_2, "removed")
        row = Delivery.objects.get(mailing=second, subscriber=reader)
        assert (row.status, row.since_version_id) == (Delivery.Status.SENT, v1_0.pk)
        assert Baseline.objects.get(subscriber=reader).version == v1_2
    for reader in everyone:
        latest = fake_esp.messages_to(reader.email)[-1]
        assert "Showing only" not in latest.text and "A new model." in latest.text
    # One variant per batch: the Removed-only readers' batch is apart from everyone else's.
    assert set(Batch.objects.filter(mailing=second).values_list("filters", "size")) == {
        ("", 2),
        ("removed", 3),
    }


def test_a_section_filter_limits_the_diff_to_its_sections(fake_esp, start_worker, guide, releases):
    v1_0, v1_1, v1_2 = releases
    (models,) = make_subscribers(guide, "models-only", 1, baseline=v1_0)
    models.set_sections({guide.pk: ["models"]})
    start_worker(**esp_worker_env(fake_esp))

    first = publish_and_finish(v1_1)

    # 1.1 changed only Tools.
    assert fake_esp.recipients() == []
    row = Delivery.objects.get(mailing=first, subscriber=models)
    assert (row.status, row.error) == (Delivery.Status.SKIPPED, NOTHING_MATCHES)

    publish_and_finish(v1_2)

    [mail] = fake_esp.messages_to(models.email)
    assert NEW_MODEL in mail.text and NEW_MODEL in mail.html
    for other_section in (NEW_TOOL, OLD_TOOL):
        assert other_section not in mail.text.split("WHAT CHANGED IN THE GUIDE")[1]
        assert other_section not in mail.html
    assert "Showing only: sections: Models." in mail.text
    assert (mail.subject, mail.text, mail.html) == expected(models, v1_0, v1_2, '|["models"]')
    assert Baseline.objects.get(subscriber=models).version == v1_2
