"""Reading server-rendered pages the way a reader sees them: visible text and links."""

from __future__ import annotations

from html.parser import HTMLParser


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.links: list[tuple[str, str]] = []
        self._hidden = 0
        self._link: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag, attrs):
        if tag in {"script", "style", "head"}:
            self._hidden += 1
        elif tag == "a":
            self._link = (dict(attrs).get("href") or "", [])

    def handle_endtag(self, tag):
        if tag in {"script", "style", "head"}:
            self._hidden -= 1
        elif tag == "a" and self._link is not None:
            href, parts = self._link
            self.links.append((" ".join("".join(parts).split()), href))
            self._link = None

    def handle_data(self, data):
        if self._hidden:
            return
        self.text.append(data)
        if self._link is not None:
            self._link[1].append(data)


def _parse(response_or_html) -> _Page:
    html = response_or_html
    if not isinstance(html, str):
        html = response_or_html.content.decode(response_or_html.charset or "utf-8")
    page = _Page()
    page.feed(html)
    page.close()
    return page


def text(response_or_html) -> str:
    """The visible text of the body, whitespace collapsed to single spaces."""
    return " ".join("".join(_parse(response_or_html).text).split())


def links(response_or_html) -> list[tuple[str, str]]:
    """Every <a> of the page as (visible text, href), in document order."""
    return _parse(response_or_html).links


def hrefs(response_or_html) -> list[str]:
    return [href for _, href in links(response_or_html)]


class _Iframes(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.iframes: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "iframe":
            self.iframes.append(dict(attrs))


def iframes(response) -> list[dict[str, str | None]]:
    """Every <iframe> of the page, its attributes as a browser reads them (entities decoded)."""
    parser = _Iframes()
    parser.feed(response.content.decode())
    return parser.iframes
