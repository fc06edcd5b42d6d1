from __future__ import annotations

from django import template

from access.models import Artifact

register = template.Library()


@register.inclusion_tag("access/_table.html")
def access_table(guide=None) -> dict:
    """The "Get access and download" table: one guide's artifacts, or every guide's on the home page."""
    artifacts = Artifact.objects.select_related("guide")
    if guide is not None:
        artifacts = artifacts.filter(guide=guide)
    rows = [{"artifact": a, "public_revision": a.public_revision()} for a in artifacts]
    return {"rows": rows, "guide": guide}
