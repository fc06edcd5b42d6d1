"""manage.py load_demo_access: the seed's "Get access and download" table (idempotent).

The MDTP topic list (on request: a Markdown file made from the demo topic list), the MLMW guide (on
request: two small generated PDFs, the earlier one public) and the website (a public link). With
DEBUG on, the demo editor reviews requests for both guides. Run after load_demo.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction

from access import uploads
from access.models import Artifact, Reviewer
from guide.management.commands.load_demo import DEMO_DIR
from guide.models import Guide


def tiny_pdf(lines: list[str]) -> bytes:
    """A valid one-page PDF showing `lines` in Helvetica: enough for a demo download."""
    text = (
        "BT /F1 14 Tf 72 720 Td 18 TL "
        + " ".join(
            "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '"
            for line in lines
        )
        + " ET"
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text.encode("latin-1")),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


class Command(BaseCommand):
    help = "Load the demo artifacts of the access table (safe to run again)."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        mlmw = Guide.objects.get(slug="mlmw")
        mdtp = Guide.objects.get(slug="mdtp")
        topic_list, created = Artifact.objects.get_or_create(
            guide=mdtp,
            title="MDTP topic list",
            defaults={
                "intent": "A slim list of topics I wish I knew well (models, tools and "
                "productisation)",
                "policy": Artifact.Policy.ON_REQUEST,
                "order": 1,
            },
        )
        if created:
            text = (DEMO_DIR / "mdtp" / "1.1.0.md").read_bytes()
            self._revision(topic_list, "mdtp-topic-list.md", text)
        guide_pdf, created = Artifact.objects.get_or_create(
            guide=mlmw,
            title="The MLMW guide",
            defaults={
                "intent": "A collection of topics with links and quotes.",
                "policy": Artifact.Policy.ON_REQUEST,
                "order": 2,
            },
        )
        if created:
            earlier = tiny_pdf(["The MLMW guide", "Version 0.9.0 (earlier public edition)"])
            self._revision(guide_pdf, "mlmw-0.9.0.pdf", earlier, public=True)
            latest = tiny_pdf(["The MLMW guide", "Version 0.10.1"])
            self._revision(guide_pdf, "mlmw-0.10.1.pdf", latest)
        Artifact.objects.get_or_create(
            guide=mlmw,
            title="Website",
            defaults={
                "intent": "Best of MLMW",
                "kind": Artifact.Kind.LINK,
                "url": "https://trics.me",
                "policy": Artifact.Policy.PUBLIC,
                "order": 3,
            },
        )
        self.stdout.write(f"demo access: {Artifact.objects.count()} artifacts")
        editor = get_user_model().objects.filter(username="editor").first()
        if settings.DEBUG and editor is not None:
            for guide in (mlmw, mdtp):
                Reviewer.objects.get_or_create(guide=guide, user=editor)

    def _revision(self, artifact: Artifact, name: str, data: bytes, public: bool = False) -> None:
        uploads.store(artifact, ContentFile(data, name=name), public=public)
