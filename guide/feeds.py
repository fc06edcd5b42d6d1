"""Atom and RSS feeds of published versions, for all guides or one."""

from __future__ import annotations

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed, Rss201rev2Feed

from guide.models import Guide, Version

FEED_LENGTH = 50


class ReleasesRss(Feed):
    feed_type = Rss201rev2Feed

    def get_object(self, request: HttpRequest, slug: str | None = None) -> Guide | None:
        return get_object_or_404(Guide, slug=slug) if slug else None

    def title(self, guide: Guide | None) -> str:
        return f"{guide.title} releases" if guide else "MLMW guide releases"

    def link(self, guide: Guide | None) -> str:
        path = (
            reverse("guide:guide_changelog", args=[guide.slug])
            if guide
            else reverse("guide:changelog")
        )
        return settings.SITE_URL + path

    def description(self, guide: Guide | None) -> str:
        return guide.description if guide else "New versions of the MLMW guides, with changelogs."

    def items(self, guide: Guide | None):
        qs = Version.objects.published().select_related("guide").prefetch_related("entries")
        if guide is not None:
            qs = qs.filter(guide=guide)
        return qs.order_by("-published_at", "-major", "-minor", "-patch")[:FEED_LENGTH]

    def item_title(self, version: Version) -> str:
        return f"{version.guide.title} {version.number}: {version.title}"

    def item_description(self, version: Version) -> str:
        return render_to_string("guide/_feed_item.html", {"version": version})

    def item_link(self, version: Version) -> str:
        # Absolute from SITE_URL, like the links in mail, whatever host or scheme the request had.
        return settings.SITE_URL + version.get_absolute_url()

    def item_guid(self, version: Version) -> str:
        # Stable across edits of the title and moves of the site: a tag URI.
        return f"tag:mlmw,2026:{version.guide.slug}/{version.number}"

    item_guid_is_permalink = False

    def item_pubdate(self, version: Version):
        return version.published_at

    def item_updateddate(self, version: Version):
        return version.published_at

    def item_author_name(self, version: Version) -> str:
        return settings.DEFAULT_FROM_EMAIL.split("<")[0].strip() or "MLMW"


class ReleasesAtom(ReleasesRss):
    feed_type = Atom1Feed
    subtitle = ReleasesRss.description
