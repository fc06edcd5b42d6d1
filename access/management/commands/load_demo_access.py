"""manage.py load_demo_access: the seed's "Get access and download" table (idempotent).

The MDTP topic list (on request: a Markdown file made from the demo topic list), the MLMW guide (on
request: two PDFs of the demo guide's text, the earlier one public) and the website (a public link).
With DEBUG on, the demo editor reviews requests for both guides. Run after load_demo.
"""

from __future__ import annotations

import re
import textwrap

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction

from access import uploads
from access.models import Artifact, Reviewer
from guide.management.commands.load_demo import DEMO_DIR
from guide.models import Guide

_MARKDOWN_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def _pdf_string(line: str) -> str:
    line = line.encode("latin-1", "replace").decode("latin-1")
    return "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def guide_pdf(title: str, markdown: str) -> bytes:
    """A valid multi-page PDF of a guide's text (Helvetica, wrapped, page numbers): a real small
    document for the demo download, without a PDF library."""
    lines: list[str] = []
    for raw in markdown.splitlines():
        text = _MARKDOWN_LINK.sub(r"\1 (\2)", raw.strip().lstrip("#>*- ").replace("**", ""))
        lines.extend(textwrap.wrap(text, 95) or [""])
    per_page = 50
    pages = [lines[i : i + per_page] for i in range(0, len(lines), per_page)] or [[]]
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]  # Pages filled in below
    font = 3
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    kids = []
    for number, page in enumerate(pages, start=1):
        body = [f"BT /F1 16 Tf 56 760 Td {_pdf_string(title)} Tj ET"] if number == 1 else []
        body.append("BT /F1 10 Tf 56 730 Td 13 TL " + " ".join(f"{_pdf_string(x)} '" for x in page))
        body.append(f"ET BT /F1 8 Tf 290 30 Td {_pdf_string(f'{number} / {len(pages)}')} Tj ET")
        stream = "\n".join(body).encode("latin-1")
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (len(objects), font)
        )
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % kid for kid in kids),
        len(kids),
    )
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body_bytes in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body_bytes)
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
        guide_document, created = Artifact.objects.get_or_create(
            guide=mlmw,
            title="The MLMW guide",
            defaults={
                "intent": "A collection of topics with links and quotes.",
                "policy": Artifact.Policy.ON_REQUEST,
                "order": 2,
            },
        )
        if created:
            for number, public in (("0.9.0", True), ("0.10.1", False)):
                text = (DEMO_DIR / "mlmw" / f"{number}.md").read_text()
                document = guide_pdf(f"The MLMW guide {number}", text)
                self._revision(guide_document, f"mlmw-{number}.pdf", document, public=public)
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
