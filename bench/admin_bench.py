"""The subscriber admin at scale: how long each page an admin opens takes with N subscribers.

    .venv/bin/python bench/admin_bench.py --subscribers 1000000 [--keep] [--database NAME]

Makes a database of its own (mlmw_admin_bench on 127.0.0.1, or --database, dropped and made again
unless --keep and it is already seeded), migrates it, loads the demo guides, seeds N confirmed
subscribers (two guides, three cadences, their events) and one mailing of the latest version with a
delivery per subscriber (one in a hundred failed), then times in-process, as a superuser through
Django's test client: the subscriber list, the list filtered by status and guide, a search by a
whole address and by the start of one, page 2,000 of the list, a subscriber's page, the mailing's
page (with the count a resend would reach), its live progress bar, its failed deliveries and an
address searched among them, the delivery list and the first MB of the CSV export.
Each figure is the median of 3 requests after one warm-up. Target: ≤ 1 s each at 1M.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "mlmw_admin_bench"  # --database replaces it
PG = ["-h", "127.0.0.1", "-U", "postgres"]


def psql(sql: str) -> str:
    return subprocess.run(
        ["psql", *PG, "-d", DATABASE, "-v", "ON_ERROR_STOP=1", "-qAtX", "-c", sql],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


def prepare(n: int, keep: bool) -> None:
    if keep:
        try:
            if int(psql("SELECT count(*) FROM subscriptions_subscriber").strip() or 0) >= n:
                return
        except subprocess.CalledProcessError:
            pass
    subprocess.run(["dropdb", *PG, "--if-exists", DATABASE], check=True)
    subprocess.run(["createdb", *PG, DATABASE], check=True)
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
    }
    for args in (["migrate", "-v0"], ["load_demo"]):
        subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True
        )
    started = time.perf_counter()
    psql(f"""
        BEGIN;
        INSERT INTO subscriptions_subscriber
            (uid, email, email_key, status, cadence, created_at, confirmed_at, confirm_nonce,
             consent_at, consent_user_agent, source, soft_bounces)
        SELECT gen_random_uuid(), 'reader.' || g || '@domain' || (g % 397) || '.example',
               'reader.' || g || '@domain' || (g % 397) || '.example',
               CASE WHEN g % 50 = 0 THEN 'unsubscribed' WHEN g % 40 = 0 THEN 'pending' ELSE 'confirmed' END,
               CASE g % 10 WHEN 0 THEN 'major' WHEN 1 THEN 'minor' ELSE 'every' END,
               now() - (g % 365) * interval '1 day', now() - (g % 365) * interval '1 day',
               '', now(), '', 'bench', 0
        FROM generate_series(1, {n}) g;
        INSERT INTO subscriptions_subscriber_guides (subscriber_id, guide_id)
        SELECT s.id, g.id FROM subscriptions_subscriber s
        JOIN guide_guide g ON g.slug = CASE WHEN s.id % 3 = 0 THEN 'mdtp' ELSE 'mlmw' END;
        INSERT INTO subscriptions_subscriberevent (subscriber_id, kind, detail, created_at)
        SELECT id, 'confirmed', '', confirmed_at FROM subscriptions_subscriber;
        INSERT INTO subscriptions_mailing (kind, version_id, status, audience_size, audience_end,
            audience_cursor, audience_complete, created_at, started_at, finished_at)
        SELECT 'release', v.id, 'done', {n}, {n}, {n}, true, now(), now(), now()
        FROM guide_version v JOIN guide_guide g ON g.id = v.guide_id
        WHERE g.slug = 'mlmw' AND v.number = '0.10.1';
        INSERT INTO subscriptions_delivery (mailing_id, subscriber_id, status, esp_message_id, error, sent_at)
        SELECT m.id, s.id, CASE WHEN s.id % 100 = 7 THEN 'failed' ELSE 'sent' END,
               '<' || s.id || '@mg.example>', '', now()
        FROM subscriptions_mailing m, subscriptions_subscriber s;
        COMMIT;
        ANALYZE;
    """)  # noqa: S608 - integers only
    print(f"seeded {n:,} subscribers in {time.perf_counter() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="reuse an already seeded database")
    parser.add_argument("--database", default=DATABASE, help="the database to make and use")
    args = parser.parse_args()
    globals()["DATABASE"] = args.database
    prepare(args.subscribers, args.keep)

    os.environ.update(
        DEBUG="true",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",  # the resend's mail
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlmw.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.test import Client

    from subscriptions.models import Mailing, Subscriber

    admin, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(admin)
    some = Subscriber.objects.order_by("pk")[args.subscribers // 2]
    mailing = Mailing.objects.first()
    base = "/admin/subscriptions/"
    pages = {
        "subscriber list": base + "subscriber/",
        "filtered (confirmed, mlmw)": base
        + "subscriber/?status__exact=confirmed&guides__id__exact=1",
        "search: whole address": base + f"subscriber/?q={some.email}",
        "search: start of an address": base + "subscriber/?q=reader.4242",
        "page 2,000": base + "subscriber/?p=2000",
        "a subscriber's page": base + f"subscriber/{some.pk}/change/",
        "the mailing's page": base + f"mailing/{mailing.pk}/change/",
        "the mailing's progress bar": base + f"mailing/{mailing.pk}/progress/",
        "the mailing's failed deliveries": base
        + f"delivery/?mailing={mailing.pk}&status__exact=failed",
        "an address among them": base
        + f"delivery/?mailing={mailing.pk}&status__exact=failed&q=reader.4207@",
        "delivery list": base + "delivery/",
    }

    def first_mb_of_export() -> None:
        response = client.get(base + "subscriber/export/")
        got = 0
        for chunk in response.streaming_content:
            got += len(chunk)
            if got >= 1_000_000:
                break
        response.close()

    def timed(fn) -> float:
        fn()  # warm-up
        samples = []
        for _ in range(3):
            started = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - started)
        return statistics.median(samples)

    print(f"{args.subscribers:,} subscribers, PostgreSQL, in-process (median of 3):")
    for name, url in pages.items():

        def get(url=url):
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        print(f"  {name:32} {timed(get):6.2f} s")
    print(f"  {'first MB of the export':32} {timed(first_mb_of_export):6.2f} s")

    # A resend to the failed (once: it changes the ledger), then the pages that count latest attempts.
    from django.db import transaction

    from subscriptions import resend

    with transaction.atomic():  # its batches are sent on commit (in-process, to locmem)
        started = time.perf_counter()
        again = resend.resend(mailing.pk)
        took = time.perf_counter() - started
    if again is not None:
        print(f"  {f'resend to {again.audience_size:,}':32} {took:6.2f} s")
    for name, url in {
        "the mailing's page, resent": base + f"mailing/{mailing.pk}/change/",
        "its progress bar, resent": base + f"mailing/{mailing.pk}/progress/",
        "latest attempts, failed": base + f"delivery/?latest_of={mailing.pk}&status__exact=failed",
    }.items():

        def get(url=url):
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        print(f"  {name:32} {timed(get):6.2f} s")


if __name__ == "__main__":
    main()
