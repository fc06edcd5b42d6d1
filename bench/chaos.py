"""Chaos suite of the release fan-out: faults injected from outside, recovery measured from outside.

Each scenario runs on a fresh copy of one seeded PostgreSQL database (default `mlmw_chaos`, copied
from `<database>_template`) and a private Redis database (default 13, flushed), with a real worker
(`celery worker --concurrency 2 --beat`: the sweepers run as in production) and the fake Mailgun
(fakes/mailgun.py) in this process, answering after --latency-ms. The audience is N confirmed
subscribers of the mlmw guide, seeded as bench/fanout.py seeds them (plus 2% outside it), and
MLMW 1.0.0 is published in a child process (guide.publishing.publish, enqueue on commit).

Timings are shortened so a run takes minutes: CELERY_TASK_TIME_LIMIT 20 s, MAIL_BATCH_LEASE_SECONDS
30, MAIL_REQUEUE_AFTER_SECONDS 30, MAIL_SWEEP_INTERVAL 5, retries after 1 s doubling to at most 30 s
(production: 600, 660, 300, 60, 5-900 s). The faults keep their real length.

Scenarios (--scenarios, default all):

- baseline: nothing breaks.
- sigkill: the whole worker (main process and pool) SIGKILLed once 30% of the audience was taken by
  the ESP, with two ESP calls in flight; a new worker starts at once.
- flushall: the broker's Redis database flushed (FLUSHDB of the private db: every queued task and
  every unacked copy gone) at 30%.
- redis-down-at-publish: the publishing process cannot reach Redis (its broker URL refuses
  connections), so start_mailing is never enqueued; the worker and beat are up.
- pg-busy: every PostgreSQL backend of the worker terminated (pg_terminate_backend) at 30%.
- pg-idle: the same while the worker idles (after its sweeps opened connections), then the publish.
- 503-5min: the ESP answers 503 to everything for 300 s from the publish.
- 429-2min: the ESP answers 429 "Retry-After: 5" to everything for 120 s from the publish.
- dropped: the ESP takes a batch and drops the connection without an answer, every other request
  for the first 10.

Printed per scenario: audience, unique recipients the ESP took, duplicates (copies beyond the first),
missing (audience members the ESP never took), the deliveries' final statuses, seconds from the
publish to the mailing `done` (and from the fault). Reconciliation is on (the fake serves Mailgun's
events API); --no-reconcile runs with MAIL_RECONCILE=off (what an ESP that cannot tell gives).

    .venv/bin/python bench/chaos.py --subscribers 20000 [--scenarios baseline sigkill ...]
        [--database mlmw_chaos] [--redis-db 13] [--latency-ms 300] [--no-reconcile]

Needs PostgreSQL (createdb/dropdb/psql -h 127.0.0.1 -U postgres) and Redis on 127.0.0.1:6379.
The figures are in docs/delivery.md ("What the chaos suite measures").
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fanout
import redis

from fakes.mailgun import FakeMailgun

PG = fanout.PG
SCENARIOS = [
    "baseline", "sigkill", "flushall", "redis-down-at-publish", "pg-busy", "pg-idle",
    "503-5min", "429-2min", "dropped",
]  # fmt: skip
TIMINGS = {
    "CELERY_TASK_TIME_LIMIT": "20",
    "MAIL_BATCH_LEASE_SECONDS": "30",
    "MAIL_REQUEUE_AFTER_SECONDS": "30",
    "MAIL_SWEEP_INTERVAL": "5",
    "MAIL_RETRY_BASE_SECONDS": "1",
    "MAIL_RETRY_MAX_SECONDS": "30",
    "SCHEDULED_PUBLISH_INTERVAL": "3600",
    "ACCESS_PURGE_INTERVAL": "3600",
}


@dataclass
class Outcome:
    scenario: str
    audience: int = 0
    unique: int = 0
    duplicates: int = 0
    missing: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    mailing: str = "?"
    to_done: float | None = None  # seconds from the publish
    after_fault: float | None = None  # seconds from the fault


class Run:
    """One scenario's world: database copy, Redis db, fake ESP, worker, and the publish."""

    def __init__(self, args: argparse.Namespace, children: fanout.Children, tmp: Path) -> None:
        self.args = args
        self.children = children
        self.tmp = tmp
        self.esp = FakeMailgun(
            api_key=fanout.API_KEY,
            domains=[fanout.SENDER_DOMAIN],
            count_only=True,
            latency=args.latency_ms / 1000,
        ).start()
        self.broker = f"redis://127.0.0.1:6379/{args.redis_db}"
        self.env = fanout.bench_env(args.database, self.esp.port, args.batch_size)
        self.env.update(CELERY_BROKER_URL=self.broker, **TIMINGS)
        if args.no_reconcile:
            self.env["MAIL_RECONCILE"] = "off"
        self.worker: subprocess.Popen | None = None
        self.workers = 0
        self.published_at = 0.0
        self.fault_at: float | None = None

    def start_worker(self) -> None:
        self.workers += 1
        log = self.tmp / f"worker-{self.workers}.log"
        with log.open("w") as out:
            self.worker = self.children.start(
                [fanout.CELERY, "-A", "mlmw.celery:app", "worker", "--pool", "prefork",
                 "--concurrency", "2", "--without-heartbeat", "--without-mingle",
                 "--without-gossip", "-Q", "mlmw", "--loglevel", "INFO",
                 "-n", f"chaos{self.workers}@%h", "--beat",
                 f"--schedule={self.tmp / f'beat-{self.workers}'}"],
                env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while " ready." not in log.read_text(errors="replace"):
            if self.worker.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)

    def kill_worker(self) -> None:
        assert self.worker is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait()
        self.children.stop(self.worker)

    def publish(self, broker: str | None = None) -> None:
        env = {**self.env, **({"CELERY_BROKER_URL": broker} if broker else {})}
        self.published_at = time.monotonic()
        self.children.start(
            [fanout.PYTHON, fanout.__file__, "--child-publish"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def fault(self) -> None:
        self.fault_at = time.monotonic()

    def received(self) -> collections.Counter:
        return collections.Counter(e["recipient"] for e in self.esp.events)

    def wait_received(self, share: float) -> None:
        want = int(self.args.subscribers * share)
        deadline = time.monotonic() + 300
        while sum(self.received().values()) < want:
            if time.monotonic() > deadline:
                sys.exit(f"the ESP never got {want:,} recipients")
            time.sleep(0.05)

    def mailing_status(self) -> str:
        rows = fanout.psql(
            self.args.database, "SELECT status FROM subscriptions_mailing ORDER BY id DESC LIMIT 1"
        )
        return rows[0][0] if rows else "none"

    def wait_done(self) -> Outcome:
        deadline = time.monotonic() + self.args.timeout
        status = "?"
        while time.monotonic() < deadline:
            status = self.mailing_status()
            if status in ("done", "cancelled"):
                break
            time.sleep(0.25)
        done_at = time.monotonic()
        time.sleep(2)  # a late answer or a second copy would arrive meanwhile
        return self.measure(status, done_at if status == "done" else None)

    def measure(self, status: str, done_at: float | None) -> Outcome:
        audience = [
            row[0]
            for row in fanout.psql(
                self.args.database,
                "SELECT s.email FROM subscriptions_delivery d "
                "JOIN subscriptions_subscriber s ON s.id = d.subscriber_id",
            )
        ]
        statuses = dict(
            (row[0], int(row[1]))
            for row in fanout.psql(
                self.args.database,
                "SELECT status, count(*) FROM subscriptions_delivery GROUP BY status",
            )
        )
        received = self.received()
        return Outcome(
            scenario="",
            audience=len(audience),
            unique=len(received),
            duplicates=sum(received.values()) - len(received),
            missing=len(set(audience) - set(received)),
            statuses=statuses,
            mailing=status,
            to_done=None if done_at is None else done_at - self.published_at,
            after_fault=None
            if done_at is None or self.fault_at is None
            else done_at - self.fault_at,
        )

    def terminate_backends(self) -> int:
        # Connected to the bench database itself: every other session of it is the worker's.
        rows = fanout.psql(
            self.args.database,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        return int(rows[0][0])

    def close(self) -> None:
        self.children.stop_all()
        self.esp.stop()


# --- Scenarios ---------------------------------------------------------------------------------------


def baseline(run: Run) -> None:
    run.publish()


def sigkill(run: Run) -> None:
    run.publish()
    run.wait_received(0.3)
    run.fault()
    run.kill_worker()
    run.start_worker()


def flushall(run: Run) -> None:
    run.publish()
    run.wait_received(0.3)
    run.fault()
    redis.Redis.from_url(run.broker).flushdb()


def redis_down_at_publish(run: Run) -> None:
    run.fault()
    run.publish(broker="redis://127.0.0.1:1/0")


def pg_busy(run: Run) -> None:
    run.publish()
    run.wait_received(0.3)
    run.fault()
    run.terminate_backends()


def pg_idle(run: Run) -> None:
    time.sleep(12)  # two sweeps: both pool processes hold a connection
    run.fault()
    run.terminate_backends()
    time.sleep(2)
    run.publish()


def outage_503(run: Run) -> None:
    run.fault()
    run.esp.outage(300, 503)
    run.publish()


def rate_limit_429(run: Run) -> None:
    run.fault()
    run.esp.outage(120, 429, {"Retry-After": "5"})
    run.publish()


def dropped(run: Run) -> None:
    run.fault()
    run.esp.script(["ok_then_drop", "ok"] * 5)
    run.publish()


RUNNERS: dict[str, Callable[[Run], None]] = {
    "baseline": baseline,
    "sigkill": sigkill,
    "flushall": flushall,
    "redis-down-at-publish": redis_down_at_publish,
    "pg-busy": pg_busy,
    "pg-idle": pg_idle,
    "503-5min": outage_503,
    "429-2min": rate_limit_429,
    "dropped": dropped,
}


def prepare_template(args: argparse.Namespace) -> str:
    """Migrate, load the demo guides and seed N subscribers once; each scenario copies it."""
    template = f"{args.database}_template"
    subprocess.run(["dropdb", *PG, "--if-exists", "--force", template], check=True)
    subprocess.run(["createdb", *PG, template], check=True)
    env = fanout.bench_env(template, 1, args.batch_size)
    fanout.manage(env, "migrate", "--verbosity", "0")
    fanout.manage(env, "load_demo")
    fanout.seed(template, args.subscribers)
    return template


def run_scenario(name: str, args: argparse.Namespace, template: str, tmp: Path) -> Outcome:
    subprocess.run(["dropdb", *PG, "--if-exists", "--force", args.database], check=True)
    subprocess.run(["createdb", *PG, "-T", template, args.database], check=True)
    redis.Redis(host="127.0.0.1", port=6379, db=args.redis_db).flushdb()
    children = fanout.Children()
    run = Run(args, children, tmp)
    try:
        run.start_worker()
        print(f"--- {name}", flush=True)
        RUNNERS[name](run)
        outcome = run.wait_done()
    finally:
        run.close()
    outcome.scenario = name
    print(f"{table([outcome])}\n", flush=True)
    return outcome


def table(outcomes: list[Outcome]) -> str:
    lines = [
        "scenario               audience  unique  dupl.  missing  final statuses"
        "                     mailing  to done s  after fault s"
    ]
    for o in outcomes:
        statuses = ", ".join(f"{k} {v:,}" for k, v in sorted(o.statuses.items()))
        to_done = "-" if o.to_done is None else f"{o.to_done:.1f}"
        after = "-" if o.after_fault is None else f"{o.after_fault:.1f}"
        lines.append(
            f"{o.scenario:<22} {o.audience:>8,} {o.unique:>7,} {o.duplicates:>6,} "
            f"{o.missing:>8,}  {statuses:<34} {o.mailing:<8} {to_done:>9} {after:>14}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=SCENARIOS)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--database", default="mlmw_chaos")
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument("--latency-ms", type=float, default=300)
    parser.add_argument("--timeout", type=float, default=900, help="seconds per scenario")
    parser.add_argument("--no-reconcile", action="store_true", help="MAIL_RECONCILE=off")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, fanout._interrupt)
    outcomes: list[Outcome] = []
    template = prepare_template(args)
    try:
        with tempfile.TemporaryDirectory(prefix="mlmw-chaos-") as tmp:
            for name in args.scenarios:
                outcomes.append(run_scenario(name, args, template, Path(tmp)))
    except KeyboardInterrupt:
        sys.exit("interrupted")
    finally:
        for name in (args.database, template):
            subprocess.run(["dropdb", *PG, "--if-exists", "--force", name], capture_output=True)
        redis.Redis(host="127.0.0.1", port=6379, db=args.redis_db).flushdb()
    print(
        f"{args.subscribers:,} subscribers, batches of {args.batch_size}, worker --concurrency 2, "
        f"ESP latency {args.latency_ms:.0f} ms, reconcile {'off' if args.no_reconcile else 'on'}"
    )
    print(table(outcomes))


if __name__ == "__main__":
    main()
