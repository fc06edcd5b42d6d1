"""The forms of a server-rendered page, read as a browser would submit them."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class PageForm:
    """A <form> of a page as a browser would submit it: its action, method and default fields."""

    action: str
    method: str
    fields: dict[str, list[str]] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)  # every named control, submitted or not

    def data(self, **changes) -> dict[str, list[str] | str]:
        """The fields a browser would send, with `changes` replacing some of them."""
        return {**self.fields, **changes}


class _FormParser(HTMLParser):
    def __init__(self, page_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.forms: list[PageForm] = []
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {name: (value if value is not None else "") for name, value in attrs}
        if tag == "form":
            action = a.get("action") or self.page_url
            self.forms.append(PageForm(action=action, method=(a.get("method") or "get").lower()))
            return
        if not self.forms:
            return
        form, name = self.forms[-1], a.get("name")
        if tag == "input" and name:
            form.names.append(name)
            kind = a.get("type", "text").lower()
            if kind in {"checkbox", "radio"} and "checked" not in a:
                return
            if kind in {"submit", "button", "image", "reset"}:
                return
            form.fields.setdefault(name, []).append(
                a.get("value", "on" if kind == "checkbox" else "")
            )
        elif tag == "textarea" and name:
            form.names.append(name)
            form.fields.setdefault(name, []).append("")
        elif tag == "select" and name:
            form.names.append(name)
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            form.fields.setdefault(self._select, []).append(a.get("value", ""))

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def page_forms(response) -> list[PageForm]:
    """Every <form> of an HTML response, in document order."""
    parser = _FormParser(response.wsgi_request.path)
    parser.feed(response.content.decode(response.charset or "utf-8"))
    parser.close()
    return parser.forms


def page_form(response, action: str) -> PageForm:
    """The one form of the page that submits to `action`; fails the test if there is not exactly one."""
    found = [form for form in page_forms(response) if form.action == action]
    assert len(found) == 1, f"expected one form posting to {action}, found {len(found)}"
    return found[0]
