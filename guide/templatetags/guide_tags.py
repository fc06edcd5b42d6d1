from django import template
from django.utils.safestring import SafeString, mark_safe

from guide.diff import GuideDiff
from guide.diff_render import render_html
from guide.markdown import inline_to_text, render_inline
from guide.models import group_by_kind

register = template.Library()


@register.filter
def inline_markdown(text: str) -> SafeString:
    """A changelog entry's inline Markdown as sanitised HTML."""
    return render_inline(text)


@register.filter
def inline_text(text: str) -> str:
    """A changelog entry's inline Markdown as plain text (for text mails)."""
    return inline_to_text(text)


@register.filter
def by_kind(entries) -> list:
    """[(label, entries)] in Keep a Changelog order, for {% for label, items in entries|by_kind %}."""
    return group_by_kind(entries)


@register.filter
def diff_html(diff: GuideDiff, limit: int | None = None) -> SafeString:
    """A GuideDiff as HTML. render_html escapes every piece of content itself, so it is safe as is."""
    return mark_safe(render_html(diff, limit=limit))  # noqa: S308
