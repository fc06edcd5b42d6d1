"""Properties of diff_guides and the renderers over generated guides.

Guides are built from a small alphabet of heading titles (so duplicate and shared headings
happen), a small pool of URLs (so the same URL shows up in several sections and in both
versions) and words that include Markdown and HTML specials. The second version of a pair is
usually a mutation of the first (parts dropped, added, swapped, text reflowed) so that the
interesting cases - moves, retitles, partial section changes - are common.
"""

from __future__ import annotations

import itertools
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from guide.diff import GuideDiff, diff_guides, parse_guide, word_diff
from guide.diff_render import render_html, render_text

SETTINGS = settings(max_examples=100, deadline=None)

HEADING_TITLES = ["Tools", "Books", "Roadmap", "<script>alert(1)</script>", "A & B", "*Tools*"]
URLS = [
    "https://e.com/1",
    "https://e.com/2",
    "https://e.com/3",
    "http://e.com/4?a=1&b=2",
    "mailto:me@e.com",
    "javascript:alert(1)",  # never a link for markdown-it; ends up as text
]
# No word may change the block structure when it starts a continuation line (reflow test), so
# no "<script>" here: an HTML block of type 1 can interrupt a paragraph.
WORDS = ["alpha", "beta", "gamma", "a<b", "<i>", "&amp;", "`x<y`", "*em*", "<img src=x>"]
LINK_TITLES = ["PyTorch", "<script>x</script>", "a<b", "", "*Deep* learning", "Tools"]

words = st.sampled_from(WORDS)
links = st.builds(lambda t, u: f"[{t}]({u})", st.sampled_from(LINK_TITLES), st.sampled_from(URLS))
# A block is a list of tokens (words, links) plus how it is introduced.
blocks = st.tuples(
    st.sampled_from(["", "- ", "> "]),
    st.lists(st.one_of(words, links), min_size=1, max_size=6),
)
headings = st.tuples(st.integers(1, 3), st.sampled_from(HEADING_TITLES))
# A part is a heading or a block; a guide is a list of parts.
parts = st.one_of(headings, blocks)
guide_parts = st.lists(parts, max_size=10)


def render_parts(items: list, *, wrap: bool = False) -> str:
    """Markdown for a list of parts; `wrap` puts every word on its own line (a reflow)."""
    out = []
    for item in items:
        if isinstance(item[0], int):
            level, title = item
            out.append("#" * level + " " + title)
        else:
            prefix, tokens = item
            if wrap:
                # The first line keeps two tokens: a line holding only "<i>" would open an HTML
                # block, a real structural change that a reflow of prose never makes.
                tokens = [" ".join(tokens[:2]), *tokens[2:]]
            out.append(prefix + ("\n" if wrap else " ").join(tokens))
    return "\n\n".join(out) + "\n"


@st.composite
def guide_texts(draw: st.DrawFn) -> str:
    return render_parts(draw(guide_parts))


@st.composite
def guide_pairs(draw: st.DrawFn) -> tuple[str, str]:
    """(old, new): new is a mutation of old most of the time, unrelated otherwise."""
    old = draw(guide_parts)
    if draw(st.integers(0, 4)) == 0:
        return render_parts(old), render_parts(draw(guide_parts))
    new = list(old)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["drop", "insert", "swap", "replace"]))
        if op == "insert" or not new:
            new.insert(draw(st.integers(0, len(new))), draw(parts))
            continue
        i = draw(st.integers(0, len(new) - 1))
        if op == "drop":
            del new[i]
        elif op == "swap":
            j = draw(st.integers(0, len(new) - 1))
            new[i], new[j] = new[j], new[i]
        else:
            new[i] = draw(parts)
    return render_parts(old), render_parts(new, wrap=draw(st.booleans()))


# An independent reading of a document's link URLs and section keys, straight off markdown-it's
# token stream, to check the diff against something other than parse_guide itself.
_md = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def urls_of(text: str) -> set[str]:
    return {
        child.attrs["href"]
        for token in _md.parse(text)
        if token.type == "inline"
        for child in token.children or ()
        if child.type == "link_open"
    }


def section_keys(text: str) -> set[str]:
    return {s.key for s in parse_guide(text).sections}


_OUR_TAGS = re.compile(r"</?(?:div|section|h3|h4|ul|li|a|span|code|p|del|ins)(?:\s[^<>]*)?>|<br>")


def assert_no_raw_markup(html: str) -> None:
    """Every "<" left in the HTML is one of the renderer's own tags."""
    assert "<" not in _OUR_TAGS.sub("", html)


@SETTINGS
@given(guide_texts())
def test_a_guide_diffed_with_itself_is_empty(text: str) -> None:
    assert diff_guides(text, text).is_empty
    # Through the full path too, not only the equal-text shortcut.
    assert diff_guides(text, text + "\n\n").is_empty
    assert diff_guides(parse_guide(text), parse_guide(text + "\n")).is_empty


@SETTINGS
@given(guide_parts)
def test_reflowing_paragraphs_is_never_a_change(items: list) -> None:
    assert diff_guides(render_parts(items), render_parts(items, wrap=True)).is_empty


def blocks_of(text: str) -> set[str]:
    return {block for section in parse_guide(text).sections for block in section.blocks}


@SETTINGS
@given(guide_pairs())
def test_applying_a_paragraph_change_to_the_old_block_gives_the_new_block(
    pair: tuple[str, str],
) -> None:
    old, new = pair
    old_blocks, new_blocks = blocks_of(old), blocks_of(new)
    for section in diff_guides(old, new).sections:
        for paragraph in section.paragraphs:
            if paragraph.status != "added":
                assert paragraph.old_text in old_blocks
            if paragraph.status != "removed":
                assert paragraph.new_text in new_blocks
            if paragraph.status == "changed":
                assert paragraph.old_text != paragraph.new_text
            assert {s.op for s in paragraph.spans} <= {
                "added": {"+"},
                "removed": {"-"},
                "changed": {"=", "+", "-"},
            }[paragraph.status]


# Words with the characters that make word diffs hard: punctuation, apostrophes, spaces, newlines.
block_words = st.sampled_from(
    ["model", "models", "data", "the", "a", "don't", "(free)", "—", "ML,", "ML.", "é", "x_y", "42"]
)
block_texts = st.lists(
    st.tuples(block_words, st.sampled_from([" ", " ", "  ", "\n", ""])), max_size=12
).map(lambda words: "".join(w + sep for w, sep in words))


@st.composite
def texts_with_links(draw: st.DrawFn) -> tuple[str, tuple[tuple[int, int, str], ...]]:
    text = draw(block_texts)
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=4, unique=True)))
    links = tuple(
        (start, end, draw(st.sampled_from(URLS)))
        for start, end in zip(cuts[::2], cuts[1::2], strict=False)
    )
    return text, links


@settings(max_examples=300, deadline=None)
@given(texts_with_links(), texts_with_links())
def test_the_word_diff_gives_back_both_texts_and_their_links(
    old: tuple[str, tuple], new: tuple[str, tuple]
) -> None:
    (old_text, old_links), (new_text, new_links) = old, new
    spans = word_diff(old_text, old_links, new_text, new_links)
    assert "".join(s.text for s in spans if s.op != "+") == old_text
    assert "".join(s.text for s in spans if s.op != "-") == new_text
    assert all(s.text for s in spans)
    for a, b in itertools.pairwise(spans):
        assert (a.op, a.href) != (b.op, b.href)  # neighbours alike are merged
    # Each run carries the link it is the text of: "-" in the old text, "=" and "+" in the new.
    for side, ops, text, links in (
        ("old", "=-", old_text, old_links),
        ("new", "=+", new_text, new_links),
    ):
        position = 0
        for span in spans:
            if span.op not in ops:
                continue
            for offset in range(position, position + len(span.text)):
                expected = next((url for s, e, url in links if s <= offset < e), None)
                if span.op != "=" or side == "new":
                    assert span.href == expected, (side, span, offset)
            position += len(span.text)
        assert position == len(text)


@settings(max_examples=200, deadline=None)
@given(block_texts, st.integers(0, 11), block_words)
def test_a_one_word_change_marks_that_word_only(text: str, index: int, word: str) -> None:
    words = text.split()
    if not words:
        return
    index %= len(words)
    if words[index] == word:
        return
    old = " ".join(words)
    new = " ".join([*words[:index], word, *words[index + 1 :]])
    spans = word_diff(old, (), new, ())
    # Nothing but (parts of) that word, e.g. "ML," -> "ML." marks the comma, never a neighbour.
    assert any(s.op != "=" for s in spans)
    for span in spans:
        if span.op != "=":
            assert span.text in (words[index] if span.op == "-" else word), span


def reported_links(diff: GuideDiff, kind: str) -> list[str]:
    return [link.url for s in diff.sections for link in s.links if link.kind == kind]


@SETTINGS
@given(guide_pairs())
def test_each_new_or_gone_url_is_reported_exactly_once(pair: tuple[str, str]) -> None:
    old, new = pair
    diff = diff_guides(old, new)
    updated = [
        (link.old_url, link.url)
        for s in diff.sections
        for link in s.links
        if link.kind == "updated"
    ]
    new_urls = reported_links(diff, "added") + [url for _, url in updated]
    gone_urls = reported_links(diff, "removed") + [url for url, _ in updated]
    assert sorted(new_urls) == sorted(urls_of(new) - urls_of(old))
    removed_in_sections = sum(s.removed_link_count for s in diff.sections)
    assert len(gone_urls) + removed_in_sections == len(urls_of(old) - urls_of(new))
    assert len(set(gone_urls)) == len(gone_urls)
    assert set(gone_urls) <= urls_of(old) - urls_of(new)
    counts = diff.counts()
    assert counts["new_links"] + counts["links_updated"] == len(urls_of(new) - urls_of(old))
    assert counts["links_removed"] + counts["links_updated"] == len(urls_of(old) - urls_of(new))


@SETTINGS
@given(guide_pairs())
def test_links_kept_are_reported_only_when_retitled_or_moved(pair: tuple[str, str]) -> None:
    old, new = pair
    diff = diff_guides(old, new)
    old_links, new_links = parse_guide(old).links, parse_guide(new).links
    for section in diff.sections:
        for link in section.links:
            if link.kind == "retitled":
                assert old_links[link.url].title == link.old_title != link.title
                assert new_links[link.url].section == section.key
            elif link.kind == "moved":
                assert old_links[link.url].section == link.old_section
                assert new_links[link.url].section == section.key
            if link.in_paragraph:
                op = "-" if link.kind == "removed" else "+"
                assert any(
                    span.op == op and span.href == link.url
                    for p in section.paragraphs
                    for span in p.spans
                )


@SETTINGS
@given(guide_pairs())
def test_sections_are_reported_once_where_they_are(pair: tuple[str, str]) -> None:
    old, new = pair
    diff = diff_guides(old, new)
    old_keys, new_keys = section_keys(old), section_keys(new)
    present = [s.key for s in diff.sections if s.status != "removed"]
    assert len(present) == len(set(present))
    for section in diff.sections:
        if section.status == "removed":
            assert section.key in old_keys
            assert not section.paragraphs and not section.links
        else:
            assert section.key in new_keys
        if section.status == "moved":
            assert section.old_key in old_keys and section.old_key != section.key
    # Every section is matched with one of the other version, or reported added or removed.
    counts = diff.counts()
    assert len(new_keys) - len(old_keys) == counts["sections_added"] - counts["sections_removed"]


@SETTINGS
@given(guide_pairs())
def test_diffing_the_other_way_mirrors_the_urls(pair: tuple[str, str]) -> None:
    old, new = pair
    forward, backward = diff_guides(old, new), diff_guides(new, old)
    assert forward.is_empty == backward.is_empty
    f, b = forward.counts(), backward.counts()
    assert f["new_links"] + f["links_updated"] == b["links_removed"] + b["links_updated"]
    assert f["sections_added"] + f["sections_moved"] >= 0


@SETTINGS
@given(guide_texts())
def test_a_first_version_adds_everything(text: str) -> None:
    diff = diff_guides(None, text)
    parsed = parse_guide(text)
    assert [(s.key, s.status) for s in diff.sections] == [(s.key, "added") for s in parsed.sections]
    assert set(reported_links(diff, "added")) == urls_of(text)
    assert [p.new_text for s in diff.sections for p in s.paragraphs] == [
        b for s in parsed.sections for b in s.blocks
    ]


@SETTINGS
@given(guide_texts())
def test_section_keys_are_unique_within_a_guide(text: str) -> None:
    found = [s.key for s in parse_guide(text).sections]
    assert len(found) == len(set(found))


@SETTINGS
@given(guide_pairs())
def test_the_summary_is_never_empty_and_the_diff_round_trips(pair: tuple[str, str]) -> None:
    diff = diff_guides(*pair)
    summary = diff.summary()
    assert summary
    assert (summary == "No changes") == diff.is_empty
    assert GuideDiff.from_dict(diff.to_dict()) == diff


@SETTINGS
@given(guide_pairs(), st.one_of(st.none(), st.integers(0, 30)))
def test_renderers_never_raise_and_escape_all_markup(
    pair: tuple[str, str], limit: int | None
) -> None:
    diff = diff_guides(*pair)
    text = render_text(diff, limit=limit)
    html = render_html(diff, limit=limit)
    assert text.strip() and html.strip()
    assert_no_raw_markup(html)
    assert_no_raw_markup(render_html(diff_guides(None, pair[1]), limit=limit))
    assert ("more change" in text) == (limit is not None and limit < diff.item_count)
