"""The release mail a reader understands at a glance: a short human subject, the counts in the
preheader, a first screen with the release title, one line and two buttons, then the changelog and
the diff, in the HTML and the text part alike."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from subscriptions import emails, release_mail
from tests.conftest import MLMW_0_10_1, make_version

pytestmark = pytest.mark.django_db

SITE = "http://testserver"


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = SITE


class _Page(HTMLParser):
    """What a mail client reads: tags with attributes, headings, hidden preheader text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.headings: list[tuple[int, str]] = []
        self.links: list[tuple[str, str]] = []
        self._heading: list[str] | None = None
        self._link: list[str] | None = None
        self._href = ""
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if re.fullmatch(r"h[1-6]", tag):
            self._heading = [tag]
        if tag == "a":
            self._link, self._href = [], dict(attrs).get("href") or ""
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        if self._heading and tag == self._heading[0]:
            self.headings.append((int(tag[1]), " ".join("".join(self._heading[1:]).split())))
            self._heading = None
        if tag == "a" and self._link is not None:
            self.links.append((" ".join("".join(self._link).split()), self._href))
            self._link = None
        self._in_title = False

    def handle_data(self, data):
        if self._heading is not None:
            self._heading.append(data)
        if self._link is not None:
            self._link.append(data)
        if self._in_title:
            self.title += data


def read(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def mail_for(since, version) -> emails.RenderedMail:
    return release_mail.render_markers(since, version)


# --- Subject ----------------------------------------------------------------------------------------


def test_the_subject_is_the_guide_the_version_and_the_release_title(v0_10_0, draft):
    mail = mail_for(v0_10_0, draft)

    assert mail.subject == "The MLMW guide 0.10.1: Release 0.10.1"


@pytest.mark.parametrize("length", [60, 79, 120, 300])
def test_a_long_release_title_is_cut_at_a_word_within_78_characters(length):
    words = ("Reference texts, interviews and a whole new track for practitioners " * 6)[:length]

    subject = release_mail.subject("The MLMW guide", "1.0.0", words)

    assert len(subject) <= 78
    kept = subject.removeprefix("The MLMW guide 1.0.0: ").removesuffix("…")
    assert words.startswith(kept)
    assert kept == words or words[len(kept)] in " ,"  # the cut falls between words


def test_a_catch_up_subject_says_how_many_earlier_releases_it_covers(v0_9_0, v0_10_0, draft):
    mail = mail_for(v0_9_0, draft)

    assert mail.subject == "The MLMW guide 0.10.1: Release 0.10.1, and 1 earlier release"


def test_a_catch_up_subject_with_a_long_title_keeps_the_count_within_78_characters():
    subject = release_mail.subject("The MLMW guide", "1.0.0", "MLOps and productisation " * 4, 3)

    assert len(subject) <= 78
    assert subject.endswith("… and 3 earlier releases")
    assert subject.startswith("The MLMW guide 1.0.0: MLOps and productisation")


# --- Preheader and first screen ---------------------------------------------------------------------


def test_the_preheader_carries_the_counts_hidden_at_the_top_of_the_html_and_first_in_the_text(
    v0_10_0, draft
):
    mail = mail_for(v0_10_0, draft)

    body = mail.html.split("<body", 1)[1]
    first = re.search(r'<div class="preheader"[^>]*>([^<\u034f]*)', body)
    assert first and body.index('class="preheader"') < body.index("<table")
    assert "display:none" in first.group(0).replace(" ", "")
    assert first.group(1) == "1 section added, 1 new link since 0.10.0"
    assert mail.text.splitlines()[0] == "1 section added, 1 new link since 0.10.0"


def test_the_first_screen_shows_the_release_title_a_summary_and_two_buttons(v0_10_0, draft):
    mail = mail_for(v0_10_0, draft)
    page = read(mail.html)

    assert page.headings[0] == (1, "Release 0.10.1")
    compare = f"{SITE}/guides/mlmw/compare/0.10.0...0.10.1/"
    assert page.links[:2] == [
        ("See what changed", compare),
        ("Read the guide", f"{SITE}/guides/mlmw/0.10.1/"),
    ]
    lead = mail.html.split("</h1>", 1)[1].split("See what changed")[0]
    assert (
        "Since 0.10.0, the last version you heard about from us: 1 section added, 1 new link."
        in lead
    )
    text = mail.text
    assert text.index("Release 0.10.1") < text.index(f"See what changed: {compare}")
    assert text.index("See what changed") < text.index("Read the guide: ") < text.index("WHAT")


def test_the_mail_is_a_titled_english_document_with_ordered_headings(v0_9_0, v0_10_0, draft):
    page = read(mail_for(v0_9_0, draft).html)

    assert ("html", {"lang": "en", "dir": "ltr"}) in page.tags
    assert page.title == "The MLMW guide 0.10.1: Release 0.10.1, and 1 earlier release"
    levels = [level for level, _ in page.headings]
    assert levels[0] == 1
    assert all(b <= a + 1 for a, b in itertools.pairwise(levels))  # never skips a level


def test_the_narrow_screen_rules_win_over_the_inlined_styles(v0_10_0, draft):
    html = mail_for(v0_10_0, draft).html

    narrow = html.split("@media (max-width: 480px)", 1)[1].split("@media", 1)[0]
    rules = re.findall(r"\{([^}]*)\}", narrow)
    assert rules and all("!important" in d for rule in rules for d in rule.split(";") if d.strip())
    assert 'class="card"' in html and "padding:" in html.split('class="card"', 1)[1][:400]


def test_the_layout_is_tables_that_outlook_for_windows_keeps(v0_10_0, draft):
    html = mail_for(v0_10_0, draft).html
    tags = read(html).tags

    outer = [attrs for tag, attrs in tags if tag == "table" and attrs.get("class") == "outer"]
    assert outer and outer[0]["width"] == "100%" and outer[0]["role"] == "presentation"
    assert "<!--[if mso]><table " in html and 'width="600"' in html.split("<!--[if mso]>")[1]
    buttons = [
        attrs
        for tag, attrs in tags
        if tag == "td" and (attrs.get("class") or "").split()[:1] == ["button"]
    ]
    assert [b["bgcolor"] for b in buttons] == ["#0b57d0", "#ffffff"]  # colour without CSS


def test_dark_mode_rules_are_kept_after_inlining(v0_10_0, draft):
    assert "@media (prefers-color-scheme: dark)" in mail_for(v0_10_0, draft).html


# --- Changelog ---------------------------------------------------------------------------------------


def test_a_catch_up_shows_this_release_in_full_and_earlier_releases_as_linked_headings(
    v0_9_0, v0_10_0, draft
):
    mail = mail_for(v0_9_0, draft)
    page = read(mail.html)

    assert (2, "What’s new in 0.10.1") in page.headings
    assert "A Python packages section with scikit-learn." in mail.html
    assert (3, "0.10.0: Release 0.10.0") in page.headings
    assert ("0.10.0: Release 0.10.0", f"{SITE}/guides/mlmw/0.10.0/") in page.links
    assert "An <em>Interviews</em> section." not in mail.html  # older entries: on the web
    assert f"0.10.0: Release 0.10.0 <{SITE}/guides/mlmw/0.10.0/>" in mail.text
    assert mail.text.index("A Python packages") < mail.text.index("0.10.0: Release 0.10.0")


# --- The diff in the mail ----------------------------------------------------------------------------


def test_a_new_link_appears_once_in_the_html_and_once_in_the_text_part(v0_10_0, draft):
    mail = mail_for(v0_10_0, draft)

    assert mail.html.count('href="https://scikit-learn.org/"') == 1
    assert mail.text.count("https://scikit-learn.org/") == 1


def test_a_removed_link_is_struck_and_not_clickable(guide, v0_10_0):
    gone = "https://www.microsoft.com/en-us/research/people/cmbishop/prml-book/"
    content = MLMW_0_10_1.replace(
        f"- [Bishop (2006), Pattern Recognition and Machine Learning]({gone})", "- Nothing here."
    )
    newer = make_version(
        guide, "0.11.0", content, published_at=datetime(2026, 10, 1, tzinfo=UTC), bump="minor"
    )

    mail = mail_for(v0_10_0, newer)

    assert gone not in mail.html and gone not in mail.text
    assert re.search(r"<del[^>]*>[^<]*Bishop \(2006\), Pattern Recognition", mail.html)
    assert not re.search(r"<a [^>]*>[^<]*Bishop \(2006\)", mail.html)
