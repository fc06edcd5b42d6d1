from django.urls import path, register_converter

from guide import feeds, views
from guide.converters import VersionNumberConverter

register_converter(VersionNumberConverter, "version")

app_name = "guide"

urlpatterns = [
    path("", views.home, name="home"),
    path("changelog/", views.changelog, name="changelog"),
    path("feeds/", views.feeds, name="feeds"),
    path("search/", views.search_page, name="search"),
    path("feeds/releases.atom", feeds.ReleasesAtom(), name="feed_atom"),
    path("feeds/releases.rss", feeds.ReleasesRss(), name="feed_rss"),
    path("guides/<slug:slug>/", views.guide_page, name="guide"),
    path("guides/<slug:slug>/changelog/", views.changelog, name="guide_changelog"),
    path("guides/<slug:slug>/badge.svg", views.badge, name="badge"),
    path("guides/<slug:slug>/releases.atom", feeds.ReleasesAtom(), name="guide_feed_atom"),
    path("guides/<slug:slug>/releases.rss", feeds.ReleasesRss(), name="guide_feed_rss"),
    path("guides/<slug:slug>/compare/", views.compare_form, name="compare_form"),
    path(
        "guides/<slug:slug>/compare/<version:old>...<version:new>/",
        views.compare,
        name="compare",
    ),
    path("guides/<slug:slug>/<version:number>/", views.version_page, name="version"),
]
