"""Migration access 0004 moves each grant's link hash to a GrantToken row, so links already mailed
keep working after the upgrade; going back restores each grant's newest link on the grant."""

from __future__ import annotations

import hashlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.utils import timezone

from tests.conftest import TOPIC_LIST_BYTES, add_revision

BEFORE = [("access", "0003_artifactrevision_notice")]
AFTER = [("access", "0004_granttoken")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@pytest.fixture
def back_to_latest():
    """Whatever happens, leave the database on the latest migrations for the tests after this one."""
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("back_to_latest", "media_root", "clear_cache")
def test_links_mailed_before_the_upgrade_keep_working_and_going_back_keeps_the_newest():
    old = migrate(BEFORE)
    guide = old.get_model("guide", "Guide").objects.create(slug="mlmw", title="MLMW")
    artifact = old.get_model("access", "Artifact").objects.create(
        guide=guide, title="MDTP topic list", intent="Topics", policy="on_request"
    )
    Request = old.get_model("access", "AccessRequest")
    Grant = old.get_model("access", "Grant")
    now = timezone.now()
    grants = {}
    for name, mailed in [("mailed", now), ("never-mailed", None)]:
        request = Request.objects.create(
            artifact=artifact, email=f"{name}@example.org", email_key=f"{name}@example.org",
            status="approved",
        )  # fmt: skip
        grants[name] = Grant.objects.create(
            request=request, artifact=artifact, token_hash=sha(name), link_sent_at=mailed,
            expires_at=now + timezone.timedelta(days=30), max_downloads=20,
        )  # fmt: skip

    new = migrate(AFTER)

    from access.models import Artifact

    add_revision(Artifact.objects.get(pk=artifact.pk), TOPIC_LIST_BYTES)
    response = Client().get("/access/mailed/file/")
    assert b"".join(response.streaming_content) == TOPIC_LIST_BYTES
    tokens = new.get_model("access", "GrantToken").objects.all()
    assert [(t.grant_id, t.token_hash, t.mailed_at) for t in tokens] == [
        (grants["mailed"].pk, sha("mailed"), now)
    ]  # the unknown placeholder of a grant never mailed is not a link
    tokens.create(grant_id=grants["mailed"].pk, token_hash=sha("newer"))

    old = migrate(BEFORE)

    restored = dict(old.get_model("access", "Grant").objects.values_list("pk", "token_hash"))
    assert restored[grants["mailed"].pk] == sha("newer")
    placeholder = restored[grants["never-mailed"].pk]
    assert len(placeholder) == 64 and placeholder != sha("never-mailed")
