"""Properties of diff_guides and the renderers over generated guides.

Guides are built from a small alphabet of heading titles (so duplicate and shared headings
happen), a small pool of URLs (so the same URL shows up in several sections and in both
versions) and words that include Markdown and HTML specials. The second version of a pair is
usually a mutation of the first (parts dropped, added, swapped, text reflowed) so that the
interesting cases - moves, retitles, partial section changes - are common.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from guide import diff as diff_module
from guide.diff import GuideDiff, diff_guides, parse_guide
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


@SETTINGS
@given(guide_pairs())
def test_added_and_removed_links_are_the_set_differences_of_urls(pair: tuple[str, str]) -> None:
    old, new = pair
    diff = diff_guides(old, new)
    added = [link.url for link in diff.links_added]
    removed = [link.url for link in diff.links_removed]
    assert set(added) == urls_of(new) - urls_of(old)
    assert set(removed) == urls_of(old) - urls_of(new)
    assert len(added) == len(set(added)) and len(removed) == len(set(removed))


@SETTINGS
@given(guide_pairs())
def test_added_and_removed_sections_are_the_set_differences_of_keys(pair: tuple[str, str]) -> None:
    old, new = pair
    diff = diff_guides(old, new)
    assert {s.key for s in diff.sections_added} == section_keys(new) - section_keys(old)
    assert {s.key for s in diff.sections_removed} == section_keys(old) - section_keys(new)
    assert {s.key for s in diff.sections_changed} <= section_keys(old) & section_keys(new)
    reported = [s.key for s in diff.sections]
    assert len(reported) == len(set(reported))


@SETTINGS
@given(guide_pairs())
def test_links_are_reported_in_sections_where_they_are(pair: tuple[str, str]) -> None:
    old, new = pair
    diff = diff_guides(old, new)
    for section in diff.sections:
        for link in section.links_added:
            assert link.section == section.key
        for link in section.links_removed:
            assert link.section == section.key
        for retitled in section.links_retitled:
            assert retitled.section == section.key and retitled.old_title != retitled.new_title
        for moved in section.links_moved_in:
            assert moved.new_section == section.key != moved.old_section
            assert moved.old_section in section_keys(old)


@SETTINGS
@given(guide_pairs())
def test_diffing_the_other_way_mirrors_links_and_sections(pair: tuple[str, str]) -> None:
    old, new = pair
    forward = diff_guides(old, new)
    backward = diff_guides(new, old)
    assert set(forward.links_added) == set(backward.links_removed)
    assert set(forward.links_removed) == set(backward.links_added)
    assert {(r.url, r.old_title, r.new_title) for r in forward.links_retitled} == {
        (r.url, r.new_title, r.old_title) for r in backward.links_retitled
    }
    assert {(m.url, m.old_section, m.new_section) for m in forward.links_moved} == {
        (m.url, m.new_section, m.old_section) for m in backward.links_moved
    }
    assert {s.key for s in forward.sections_added} == {s.key for s in backward.sections_removed}
    assert {s.key for s in forward.sections_removed} == {s.key for s in backward.sections_added}
    assert forward.is_empty == backward.is_empty


@SETTINGS
@given(guide_texts())
def test_a_first_version_adds_everything(text: str) -> None:
    diff = diff_guides(None, text)
    parsed = parse_guide(text)
    assert [(s.key, s.status) for s in diff.sections] == [(s.key, "added") for s in parsed.sections]
    assert {link.url for link in diff.links_added} == urls_of(text)
    assert [p for s in diff.sections for p in s.paragraphs_added] == [
        b for s in parsed.sections for b in s.blocks
    ]
    assert not diff.links_removed and not diff.links_retitled and not diff.links_moved


@SETTINGS
@given(guide_texts())
def test_section_keys_are_unique_within_a_guide(text: str) -> None:
    found = [s.key for s in parse_guide(text).sections]
    assert len(found) == len(set(found))


@SETTINGS
@given(guide_pairs())
def test_the_summary_is_never_empty(pair: tuple[str, str]) -> None:
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
    shown = html.count("<li>") + html.count('<p class="diff-paragraph')
    expected = diff.item_count if limit is None else min(limit, diff.item_count)
    assert shown == expected
    assert ("more change" in text) == (shown < diff.item_count)


# The fast parser (markdown-it-pyrs, with markdown-it-py where they could disagree) against
# markdown-it-py alone, on text made of pieces that tell CommonMark implementations apart.
RICH_URLS = [
    *URLS,
    "/relative/path",
    "#anchor",
    "https://example.com/caf%C3%A9",
    "https://example.com/é ü".replace(" ", "%20"),
    "<https://example.com/a b>",
    "https://bücher.de/",
    "https://[::1]/",
    "http://user@example.com:8080/x",
]
RICH_INLINES = [
    *WORDS,
    "**bold**",
    "_em_",
    "~~del~~",
    "~~a~~~~b~~",
    "a*€*b",
    "**🚀 go**",
    "x_y_z",
    "`a`b`",
    "[",
    "]",
    "\\*",
    "&ouml; &#x1F600; &bogus;",
    "<https://example.com/%C3%A9>",
    "<me@example.com>",
    "<!-- c -->",
    "<!-- a -- b -->",
    "\N{NO-BREAK SPACE}",
    "“quoted” — dash",
    "[ref]",
    "[text][ref]",
    "![alt](https://e.com/i.png)",
]
rich_links = st.builds(
    lambda t, u: f"[{t}]({u})", st.sampled_from(LINK_TITLES), st.sampled_from(RICH_URLS)
)
rich_lines = st.lists(
    st.one_of(st.sampled_from(RICH_INLINES), rich_links), min_size=1, max_size=5
).map(" ".join)
rich_blocks = st.one_of(
    rich_lines,
    st.builds(lambda level, line: "#" * level + " " + line, st.integers(1, 3), rich_lines),
    st.builds(lambda line: line + "\n===", rich_lines),
    st.builds(
        lambda marker, lines: "\n".join(marker + x for x in lines),
        st.sampled_from(["- ", "1. ", "2) ", "> ", "> - ", "  "]),
        st.lists(rich_lines, min_size=1, max_size=3),
    ),
    st.builds(lambda a, b: f"| {a} | {b} |\n|---|:-:|\n| {b} | {a} |", rich_lines, rich_lines),
    st.builds(lambda a: f"{a} | x\n---", rich_lines),
    st.sampled_from(
        [
            "```py\ncode\n```",
            "    code",
            "<div>\nhtml\n</div>",
            "---",
            "[ref]: https://e.com/ref",
            "[ref]: <https://bücher.de/r>",
            "- ```\n  \tx\n  ```",
            "<search>s",
        ]
    ),
)
rich_texts = st.lists(rich_blocks, max_size=8).flatmap(
    lambda blocks: st.sampled_from(["\n\n", "\n"]).map(lambda sep: sep.join(blocks) + "\n")
)


@settings(max_examples=300, deadline=None)
@given(rich_texts)
def test_the_fast_parser_reads_a_guide_as_markdown_it_py_does(text: str) -> None:
    assert diff_module._parse(text) == diff_module._parse_tokens(text)
