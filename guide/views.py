"""Public pages: home, changelogs, guide and version pages, the compare page and the badge.

Views only fetch and hand over; the diff comes from guide.catchup, rendering from guide.markdown and
guide.diff_render.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.safestring import mark_safe
from django.views.decorators.http import etag, require_safe

from guide import search
from guide.badge import badge_svg
from guide.catchup import catch_up
from guide.diff_render import render_html, section_context
from guide.markdown import render_markdown
from guide.models import Guide, Version
from guide.versioning import VersionNumber


def _published(guide: Guide | None = None):
    qs = Version.objects.published().select_related("guide").prefetch_related("entries")
    return qs.filter(guide=guide) if guide is not None else qs


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    guides = []
    for guide in Guide.objects.all():
        latest = _published(guide).newest_first().first()
        guides.append({"guide": guide, "latest": latest})
    return render(request, "guide/home.html", {"guides": guides})


@require_safe
def search_page(request: HttpRequest) -> HttpResponse:
    """/search/?q=…: sections of the guides and changelog entries, best first."""
    query = " ".join(request.GET.get("q", "").split())[: search.MAX_QUERY_CHARS]
    hits = search.search(query) if query else []
    return render(request, "guide/search.html", {"query": query, "hits": hits})


@require_safe
def feeds(request: HttpRequest) -> HttpResponse:
    """What a feed is and where each one is: the nav's "Feeds" opens this, not raw XML."""
    return render(request, "guide/feeds.html", {"guides": Guide.objects.all()})


@require_safe
def changelog(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    guide = get_object_or_404(Guide, slug=slug) if slug else None
    versions = _published(guide).order_by("-published_at", "-major", "-minor", "-patch")
    page = Paginator(versions, 25).get_page(request.GET.get("page"))
    return render(request, "guide/changelog.html", {"guide": guide, "page": page})


@require_safe
def guide_page(request: HttpRequest, slug: str) -> HttpResponse:
    guide = get_object_or_404(Guide, slug=slug)
    versions = list(_published(guide).newest_first())
    latest = versions[0] if versions else None
    context = {
        "guide": guide,
        "latest": latest,
        "versions": versions,
        "content_html": render_markdown(latest.content) if latest else "",
        # A guide's text usually opens with its own title and intro: the page then shows them once.
        "content_has_title": bool(latest) and latest.content.lstrip().startswith("# "),
    }
    return render(request, "guide/guide.html", context)


def _published_version(guide: Guide, number: str) -> Version:
    try:
        return _published(guide).get(number=str(VersionNumber.parse(number)))
    except Version.DoesNotExist:
        raise Http404(f"{guide.slug} has no published version {number}") from None


@require_safe
def version_page(request: HttpRequest, slug: str, number: str) -> HttpResponse:
    guide = get_object_or_404(Guide, slug=slug)
    version = _published_version(guide, number)
    versions = list(_published(guide).newest_first().only("number", "title", "guide"))
    context = {
        "guide": guide,
        "version": version,
        "previous": version.previous(),
        "versions": versions,
        # An old version's page says so at the top, with the way to the newest and to the change.
        "newest": versions[0] if versions and versions[0].pk != version.pk else None,
        "content_html": render_markdown(version.content),
    }
    return render(request, "guide/version.html", context)


@require_safe
def compare(request: HttpRequest, slug: str, old: str, new: str) -> HttpResponse:
    guide = get_object_or_404(Guide, slug=slug)
    older, newer = _published_version(guide, old), _published_version(guide, new)
    if older.number_parts > newer.number_parts:
        # One canonical address per pair: older...newer.
        return redirect("guide:compare", slug=slug, old=newer.number, new=older.number)
    changes = catch_up(older, newer)
    # The mail's rendering, plus what only a page can have: "Next change" links and each changed
    # section as it reads now, collapsed.
    diff_html = render_html(
        changes.diff,
        navigation=True,
        context=section_context(changes.diff, newer.content, render_markdown),
    )
    context = {
        "guide": guide,
        "older": older,
        "newer": newer,
        "catchup": changes,
        "diff_html": mark_safe(diff_html),  # noqa: S308 - render_html escapes all content
        "versions": list(_published(guide).newest_first().only("number", "guide")),
    }
    return render(request, "guide/compare.html", context)


@require_safe
def compare_form(request: HttpRequest, slug: str) -> HttpResponse:
    """The no-JavaScript version picker: ?from=0.9.0&to=0.10.1 → the compare page; without a
    choice (or with a bad one) the picker itself, as a page."""
    guide = get_object_or_404(Guide, slug=slug)
    versions = list(_published(guide).newest_first().only("number", "title", "guide"))
    old, new = request.GET.get("from", ""), request.GET.get("to", "")
    error = ""
    if "from" in request.GET or "to" in request.GET:
        try:
            old, new = str(VersionNumber.parse(old)), str(VersionNumber.parse(new))
        except ValidationError:
            error = "Pick two versions from the lists."
        else:
            known = {v.number for v in versions}
            if old in known and new in known and old != new:
                kwargs = {"slug": guide.slug, "old": old, "new": new}
                return redirect(reverse("guide:compare", kwargs=kwargs))
            error = (
                "Pick two different versions."
                if old == new
                else "Pick two published versions from the lists."
            )
    context = {
        "guide": guide,
        "versions": versions,
        "error": error,
        "from_number": versions[1].number if len(versions) > 1 else "",
        "to_number": versions[0].number if versions else "",
    }
    return render(request, "guide/compare_pick.html", context, status=400 if error else 200)


def _badge_etag(request: HttpRequest, slug: str) -> str | None:
    latest = Version.objects.filter(guide__slug=slug).latest()
    return f"badge-{slug}-{latest.number if latest else 'none'}"


@require_safe
@etag(_badge_etag)
def badge(request: HttpRequest, slug: str) -> HttpResponse:
    guide = get_object_or_404(Guide, slug=slug)
    latest = guide.latest_version()
    svg = badge_svg(guide.slug, f"v{latest.number}" if latest else "unreleased", bool(latest))
    response = HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")
    # Short enough that README badges follow a release within minutes, long enough to spare us.
    patch_cache_control(response, public=True, max_age=settings.MLMW_BADGE_MAX_AGE)
    return response
