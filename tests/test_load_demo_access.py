"""manage.py load_demo_access: the seed's three artifacts with small generated files, once."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from access.models import Artifact, ArtifactRevision, Reviewer
from tests.pages import links, text


@pytest.fixture
def demo(db, media_root, settings) -> None:
    settings.DEBUG = True  # the demo accounts exist only with DEBUG
    call_command("load_demo", stdout=StringIO())
    call_command("load_demo_access", stdout=StringIO())
    call_command("load_demo_access", stdout=StringIO())  # again: nothing new


def test_the_seed_table_is_on_the_home_page_with_files_behind_it(demo, client):
    assert list(Artifact.objects.values_list("title", "policy", "kind")) == [
        ("MDTP topic list", "on_request", "file"),
        ("The MLMW guide", "on_request", "file"),
        ("Website", "public", "link"),
    ]
    assert ArtifactRevision.objects.count() == 3  # topic list 1, guide PDF 2 (earlier public)
    page = client.get("/")
    assert "Get access and download" in text(page)
    found = dict(links(page))
    assert found["trics.me"] == "https://trics.me"
    public = client.get(found["Earlier public PDF"])
    assert b"".join(public.streaming_content).startswith(b"%PDF-1.4")
    assert Reviewer.objects.filter(user__username="editor").count() == 2
