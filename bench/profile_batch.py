"""Profile the worker's side of the fan-out in one process: send() of every batch of a kept bench
mailing, under cProfile, against the fake Mailgun. Run `bench/fanout.py --keep-db` first.

    .venv/bin/python bench/profile_batch.py [--database mlmw_bench] [--top 30]

Each run resets the mailing's batches and deliveries to queued, so it can be repeated. It prints the
CPU seconds per 1000 recipients of this process (the worker's share) and the profile's top entries.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import fanout  # noqa: E402


def time_start(mailing, audience) -> int:
    """start() of the kept mailing again, from scratch, each statement timed."""
    from django.db import connection

    from subscriptions.models import Batch, Delivery, Mailing

    restore_baselines(mailing)
    Batch.objects.filter(mailing=mailing).delete()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM subscriptions_delivery WHERE mailing_id = %s", [mailing.pk])
        cursor.execute("VACUUM subscriptions_delivery")
    Mailing.objects.filter(pk=mailing.pk).update(
        status=Mailing.Status.PENDING, audience_complete=False, audience_size=0
    )
    timings: list[tuple[float, str]] = []

    def timed(execute, sql, params, many, context):
        begin = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append((time.perf_counter() - begin, " ".join(sql.split())[:100]))

    cpu, wall = time.process_time(), time.perf_counter()
    with connection.execute_wrapper(timed):
        audience.start(mailing.pk)
    wall = time.perf_counter() - wall
    count = Delivery.objects.filter(mailing=mailing).count()
    print(
        f"start(): {count} deliveries in {wall:.2f} s ({time.process_time() - cpu:.2f} s CPU here)"
    )
    for spent, sql in sorted(timings, reverse=True)[:8]:
        print(f"{spent * 1000:9.1f} ms  {sql}")
    return 0


def restore_baselines(mailing) -> None:
    """Put each recipient's baseline back where the audience found it: a sent batch moved it to the
    release, and a batch skips readers whose baseline moved since (delivery.OVERTAKEN)."""
    from django.db import connection

    guide_id = mailing.version.guide_id
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM subscriptions_baseline b USING subscriptions_delivery d "
            "WHERE d.mailing_id = %s AND d.subscriber_id = b.subscriber_id AND b.guide_id = %s "
            "AND d.since_version_id IS NULL",
            [mailing.pk, guide_id],
        )
        cursor.execute(
            "UPDATE subscriptions_baseline b SET version_id = d.since_version_id "
            "FROM subscriptions_delivery d WHERE d.mailing_id = %s "
            "AND d.subscriber_id = b.subscriber_id AND b.guide_id = %s",
            [mailing.pk, guide_id],
        )
        cursor.execute("VACUUM ANALYZE subscriptions_baseline")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default="mlmw_bench")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--queries", action="store_true", help="time each SQL statement instead")
    parser.add_argument(
        "--start", action="store_true", help="time start() (fixing the audience) instead of sending"
    )
    args = parser.parse_args()
    children = fanout.Children()
    try:
        _esp, port = fanout.start_esp(children)
        os.environ.update(fanout.bench_env(args.database, port, 1000))
        os.environ.pop("CELERY_BROKER_URL")  # in-process: nothing is enqueued
        import django

        django.setup()
        from subscriptions import audience, delivery
        from subscriptions.models import Batch, Delivery, Mailing

        mailing = Mailing.objects.order_by("-pk").first()
        if args.start:
            return time_start(mailing, audience)
        Mailing.objects.filter(pk=mailing.pk).update(status=Mailing.Status.SENDING)
        Batch.objects.filter(mailing=mailing).update(status=Batch.Status.QUEUED, attempts=0)
        Delivery.objects.filter(mailing=mailing).update(
            status=Delivery.Status.QUEUED, esp_message_id="", sent_at=None
        )
        ids = list(Batch.objects.filter(mailing=mailing).values_list("pk", flat=True))
        restore_baselines(mailing)
        delivery.send(ids[0])  # warm: templates, variant cache, connections
        Batch.objects.filter(pk=ids[0]).update(status=Batch.Status.QUEUED, attempts=0)
        Delivery.objects.filter(mailing=mailing).update(status=Delivery.Status.QUEUED)
        restore_baselines(mailing)
        from django.db import connection

        timings: dict[str, list[float]] = {}

        def timed(execute, sql, params, many, context):
            start = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                key = " ".join(sql.split())[:110]
                timings.setdefault(key, []).append(time.perf_counter() - start)

        profile = cProfile.Profile()
        cpu, wall = time.process_time(), time.perf_counter()
        if args.queries:
            with connection.execute_wrapper(timed):
                for batch_id in ids:
                    delivery.send(batch_id)
        else:
            profile.enable()
            for batch_id in ids:
                delivery.send(batch_id)
            profile.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        sent = Delivery.objects.filter(mailing=mailing, status=Delivery.Status.SENT).count()
        print(f"{sent} sent in {len(ids)} batches: {wall:.2f} s wall, {cpu:.2f} s CPU "
              f"= {cpu / sent * 1000:.3f} CPU s per 1000 (profiled)")  # fmt: skip
        if args.queries:
            for key, spent in sorted(timings.items(), key=lambda kv: -sum(kv[1])):
                print(f"{sum(spent) * 1000:8.1f} ms {len(spent):4d}x  {key}")
        else:
            pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)
    finally:
        for process in children.processes:
            children.stop(process)
    return 0


if __name__ == "__main__":
    sys.exit(main())
