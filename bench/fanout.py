"""Benchmark of the release fan-out: a real Celery worker mails N subscribers through the fake Mailgun.

For each N given to --subscribers, on a fresh PostgreSQL database (default `mlmw_bench`) and Redis
db 14 (flushed; BENCH_REDIS_DB names another):

1. `migrate`, `load_demo` (the demo guides; MLMW 1.0.0 is a draft, a major release), then N confirmed
   subscribers of the mlmw guide are seeded in SQL (generate_series; ~80 s for 1M, most of it
   index upkeep): 80% cadence "every", 10% "minor", 10% "major" (1.0.0 is a major: all of them get
   it); by id, a third have 0.10.1 as their baseline, a third 0.10.0, a third none, so the mailing
   has 3 variants. Also N/100 pending subscribers of mlmw and N/100 confirmed subscribers of mdtp
   only, who must get nothing.
2. The fake ESP (bench/fake_esp_server.py, count-only, a separate process) and a real worker (`celery
   worker --pool prefork --concurrency C -Q mlmw`, no beat) are started; EMAIL_BACKEND is anymail's
   real Mailgun backend pointed at the fake. The fake answers with Nagle's algorithm off on its
   sockets, as a real ESP's front end does (else every request waits ~40 ms for a delayed ACK).
3. Naive baseline, before publishing (so on the same baselines): a Python loop over the first
   --naive-sample subscribers of the audience that looks up each one's baseline, runs catch_up,
   renders the release mail with Django templates (subscriptions.emails.build) and sends one
   EmailMessage per subscriber through the same backend and fake (one connection, kept open: the
   kindest naive loop). It is sampled to keep the run short; its rate does not depend on N.
4. Fan-out: MLMW 1.0.0 is published by guide.publishing.publish() in a child process; the clock
   starts right before that call and stops when the mailing is "done" and the fake has received N
   recipients. Printed: recipients/s, total time, the stages (publish → start task running →
   audience fixed and first batch claimed → last batch finished), the worker's peak RSS (the sum of
   the main process and its pool children: the max of the summed VmRSS polled every 0.1-0.5 s, and the
   sum of each process's VmHWM at the end), ESP requests, duplicates (received - N, must be 0), the
   deliveries by status, and CPU seconds per 1000 recipients of the worker, the bench database's
   PostgreSQL backends and the fake, with the share of the machine other work took meanwhile (the
   rates depend on it; CPU per recipient much less).

    .venv/bin/python bench/fanout.py --subscribers 10000 100000 1000000
    .venv/bin/python bench/fanout.py --subscribers 100000 --variants   # 3 variants, then 80

With --variants each N runs twice on fresh databases: the 3-variant run above, then one whose
audience is spread over 20 baselines (none, and 19 published versions: the demo's 0.9.0-0.10.1 and
16 patch releases 0.10.2-0.10.17 seeded with a line each) x 4 kind filters ("", "removed",
"added,changed", "changed,removed,security"; 1.0.0 has Added, Changed and Removed entries, so each
variant has something to send): 80 variants, each rendered once per worker process.
    .venv/bin/python bench/fanout.py --subscribers 10000 --naive-sample 2000 --concurrency 2 \\
        --batch-size 1000 [--keep-db] [--database mlmw_bench]

With --digest each N runs once, on one database holding the N release readers spread over the 80
variants and N more readers of a weekly digest of mlmw, due now (their slot is this hour of this
weekday, UTC; seeded after the others, so their ids follow), spread over the same 20 baselines x 4
kind filters. The release of 1.0.0 is timed on a fresh worker, then, on another fresh worker, the
digest from digests.open_due() (what beat's task calls) until its mailing is done and the fake has N
recipients: each reader's digest folds the releases from their baseline (none, or one of the 19
before 1.0.0) up to 1.0.0, so up to 20 versions, in one mail. The naive loop is skipped.
    .venv/bin/python bench/fanout.py --subscribers 100000 1000000 --digest

Needs PostgreSQL (createdb/dropdb -h 127.0.0.1 -U postgres) and Redis on 127.0.0.1:6379. Every child
process gets its settings from the environment (see bench_env); nothing is read from .env. Ctrl-C
stops the children and drops the database.

Figures (2 cores, Python 3.11.7, PostgreSQL 15 with default settings, Redis 7, all on localhost; the
worker, the fake ESP and PostgreSQL share the 2 cores), worker --concurrency 2, batches of 1000,
`--subscribers 100000 1000000 --variants` (the naive loop ran at ~46-80/s on this machine):

    N          variants  recipients/s  total s  start s  worker RSS MiB  ESP calls  dupl.  CPU s/1000
                                                          idle / peak
    100,000           3        19,124      5.2     0.71     253 / 287         102      0       0.037, 0.081
    100,000          80        13,820      7.2     0.86     253 / 294         160      0       0.058, 0.122
    1,000,000         3        19,819     50.5     1.02     253 / 287       1,020      0       0.038, 0.089
    1,000,000        80        14,228     70.3     1.57     253 / 300       1,600      0       0.048, 0.125

("start s": from the start task running to the first batch claimed: the first window of the audience.
"CPU s/1000": the worker's, then all of it (worker, PostgreSQL, fake ESP), per 1000 recipients.
"variants": 3 baselines, or 20 baselines x 4 kind filters.) Rates depend on what else the machine
does; CPU seconds per 1000 recipients much less, so compare runs by those. Memory is flat: +34 MiB
over idle with 3 variants, +41-47 MiB with 80 (the variant cache holds up to 128 rendered mails,
the catch-ups they are rendered from only the last 4 baselines'). No recipient got two mails.

`--digest` (same machine; "other load": the share of the machine other work took meanwhile):

    N          mailing  recipients/s  total s  start s  worker RSS MiB  ESP calls  dupl.  CPU s/1000     other
                                                         idle / peak                                    load
    100,000    release        12,142      8.2     0.96     253 / 294         160      0  0.064, 0.137      6%
    100,000    digest          9,217     10.8     1.62     253 / 306         240      0  0.082, 0.168      7%
    1,000,000  release        14,536     68.8     1.31     253 / 302       1,600      0  0.047, 0.121      4%
    1,000,000  digest         12,896     77.5     2.04     253 / 312       1,680      0  0.056, 0.136      4%

The digest took 1.32x the release's time at 100k and 1.13x at 1M (1.23x and 1.12x its CPU). Each
window moves every reader's digest_after; the subscriber table's fillfactor (60, migration 0017)
leaves room on each page for that new row version, so most moves are HOT updates with no index
writes. A sent digest's key (Delivery.digest_parts, for its page) is written by the ledger's own
UPDATE. The digest's start s and its extra ESP calls come from the layout: its readers' ids follow
the release readers', so its first windows are empty and its last window is a small one, cut per
digest key like the others. Memory is flat: +53-60 MiB over idle; a digest keeps the catch-ups of
its parts (digests.changes_of), which the release no longer does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CELERY = str(Path(PYTHON).parent / "celery")
PG = ["-h", "127.0.0.1", "-U", "postgres"]
# Its own Redis database, flushed at each run (BENCH_REDIS_DB beside another session).
REDIS_DB = os.environ.get("BENCH_REDIS_DB", "14")
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
API_KEY = "key-bench"
SENDER_DOMAIN = "mg.example"
GUIDE = "mlmw"
RELEASE = "1.0.0"


# --- Environment and child processes -----------------------------------------------------------------


def database_url(name: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def bench_env(database: str, esp_port: int, batch_size: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "PGPASSWORD"}
    }
    env.update(
        PYTHONUNBUFFERED="1",
        DATABASE_URL=database_url(database),
        CELERY_BROKER_URL=REDIS_URL,
        SECRET_KEY="bench-only-not-a-secret",  # noqa: S106 - a throwaway database
        DEBUG="false",
        SECURE_SSL_REDIRECT="false",
        ALLOWED_HOSTS="localhost",
        SITE_URL="https://mlmw.example",
        EMAIL_BACKEND="subscriptions.esp.MailgunBatchBackend",
        ANYMAIL_MAILGUN_API_KEY=API_KEY,
        ANYMAIL_MAILGUN_SENDER_DOMAIN=SENDER_DOMAIN,
        ANYMAIL_MAILGUN_API_URL=f"http://127.0.0.1:{esp_port}/v3",
        MAIL_BATCH_SIZE=str(batch_size),
        LOG_LEVEL="INFO",  # the worker says " ready." at INFO (one more line per task: negligible)
        DJANGO_SETTINGS_MODULE="mlmw.settings",
    )
    return env


class Children:
    """Child processes started in their own session, ended by process group on exit (Ctrl-C too)."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen] = []

    def start(self, command: list[str], **kwargs) -> subprocess.Popen:
        process = subprocess.Popen(command, cwd=ROOT, start_new_session=True, **kwargs)
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen, timeout: float = 15) -> None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        # Pool children left behind by a killed main process are in the same group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        if process in self.processes:
            self.processes.remove(process)

    def stop_all(self) -> None:
        for process in reversed(list(self.processes)):
            self.stop(process)


def run(command: list[str], env: dict[str, str], **kwargs) -> str:
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, **kwargs)
    if result.returncode:
        sys.exit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


def manage(env: dict[str, str], *args: str) -> str:
    return run([PYTHON, "manage.py", *args], env)


def psql(database: str, sql: str) -> list[list[str]]:
    out = run(
        ["psql", *PG, "-d", database, "-v", "ON_ERROR_STOP=1", "-qAtX", "-c", sql], {**os.environ}
    )
    return [line.split("|") for line in out.splitlines() if line]


# --- Worker memory from /proc ------------------------------------------------------------------------


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """pid and every process below it (psutil is not a dependency: /proc/*/stat has the ppid)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def rss_mib(pids: list[int], field: str = "VmRSS") -> float:
    return sum(_status_kib(pid, field) for pid in pids) / 1024


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids) -> dict[int, float]:
    """utime + stime of each process that is still there."""
    times = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        times[pid] = (int(fields[11]) + int(fields[12])) / TICKS
    return times


def postgres_backends(database: str) -> list[int]:
    """Server processes serving `database` (their title names it), e.g. the worker's connections."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                title = (
                    (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                )
                if title.startswith("postgres: ") and f" {database} " in title:
                    found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU seconds used by the worker tree, the fake ESP and the bench database's backends, and by
    the whole machine (so other work on the machine shows). Polled: a backend that lives for one
    task (Celery closes the worker's connections after each task) counts up to its last poll."""

    def __init__(self, worker: int, esp: int, database: str) -> None:
        self.worker, self.esp, self.database = worker, esp, database
        self.first: dict[str, dict[int, float]] = self._sample()
        self.last: dict[str, dict[int, float]] = {k: dict(v) for k, v in self.first.items()}
        self.machine_start = self._machine()

    def _sample(self) -> dict[str, dict[int, float]]:
        return {
            "worker": cpu_seconds(descendants(self.worker)),
            "esp": cpu_seconds([self.esp]),
            "postgres": cpu_seconds(postgres_backends(self.database)),
        }

    @staticmethod
    def _machine() -> tuple[float, float]:
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return (sum(ticks) - ticks[3] - ticks[4]) / TICKS, sum(ticks) / TICKS

    def poll(self) -> None:
        for name, times in self._sample().items():
            self.last[name].update(times)

    def stop(self) -> dict[str, float]:
        self.poll()
        used = {
            name: sum(t - self.first[name].get(pid, 0.0) for pid, t in self.last[name].items())
            for name in self.last
        }
        end = self._machine()
        used["machine_busy"] = end[0] - self.machine_start[0]
        used["machine_capacity"] = end[1] - self.machine_start[1]
        ours = used["worker"] + used["esp"] + used["postgres"]
        used["others"] = max(0.0, used["machine_busy"] - ours)
        return used


# --- Seeding -----------------------------------------------------------------------------------------


def seed(database: str, n: int) -> float:
    """N confirmed subscribers of mlmw with 3 baselines, plus 2% who are not in the audience."""
    extra = max(1, n // 100)
    started = time.perf_counter()
    psql(
        database,
        f"""
        BEGIN;
        INSERT INTO subscriptions_subscriber
            (uid, email, email_key, status, cadence, created_at, confirmed_at, confirm_nonce,
             consent_at, consent_user_agent, source, soft_bounces)
        SELECT gen_random_uuid(),
               'reader.' || g || '@domain' || (g % 397) || '.example',
               'reader.' || g || '@domain' || (g % 397) || '.example',
               CASE WHEN g <= {n} OR g > {n + extra} THEN 'confirmed' ELSE 'pending' END,
               CASE g % 10 WHEN 0 THEN 'major' WHEN 1 THEN 'minor' ELSE 'every' END,
               now(),
               CASE WHEN g <= {n} OR g > {n + extra} THEN now() END,
               '', now(), '', 'bench', 0
        FROM generate_series(1, {n + 2 * extra}) g;
        INSERT INTO subscriptions_subscriber_guides (subscriber_id, guide_id)
        SELECT s.id, g.id FROM subscriptions_subscriber s
        JOIN guide_guide g ON g.slug = CASE WHEN s.id <= {n + extra} THEN 'mlmw' ELSE 'mdtp' END
        WHERE s.source = 'bench';
        INSERT INTO subscriptions_baseline (subscriber_id, guide_id, version_id, updated_at)
        SELECT s.id, v.guide_id, v.id, now()
        FROM subscriptions_subscriber s
        JOIN guide_version v ON v.number = CASE s.id % 3 WHEN 0 THEN '0.10.1' ELSE '0.10.0' END
        JOIN guide_guide g ON g.id = v.guide_id AND g.slug = 'mlmw'
        WHERE s.source = 'bench' AND s.id <= {n} AND s.id % 3 <> 2;
        COMMIT;
        ANALYZE;
        """,  # noqa: S608 - integers only
    )
    return time.perf_counter() - started


def seed_digest_readers(database: str, n: int) -> float:
    """N confirmed weekly-digest readers of mlmw (source 'bench-digest', ids after the others),
    due now: their slot is this weekday at this hour, UTC, and they were last mailed days ago."""
    started = time.perf_counter()
    psql(
        database,
        f"""
        BEGIN;
        INSERT INTO subscriptions_subscriber
            (uid, email, email_key, status, cadence, created_at, confirmed_at, confirm_nonce,
             consent_at, consent_user_agent, source, soft_bounces, digest_weekday, digest_hour,
             time_zone, digest_after)
        SELECT gen_random_uuid(),
               'digest.' || g || '@domain' || (g % 397) || '.example',
               'digest.' || g || '@domain' || (g % 397) || '.example',
               'confirmed', 'weekly', now() - interval '30 days', now() - interval '30 days', '',
               now(), '', 'bench-digest', 0,
               EXTRACT(ISODOW FROM now() AT TIME ZONE 'UTC')::int - 1,
               EXTRACT(HOUR FROM now() AT TIME ZONE 'UTC')::int, 'UTC', now() - interval '3 days'
        FROM generate_series(1, {n}) g;
        INSERT INTO subscriptions_subscriber_guides (subscriber_id, guide_id)
        SELECT s.id, g.id FROM subscriptions_subscriber s JOIN guide_guide g ON g.slug = 'mlmw'
        WHERE s.source = 'bench-digest';
        COMMIT;
        ANALYZE;
        """,  # noqa: S608 - integers only
    )
    return time.perf_counter() - started


def seed_variants(database: str, n: int) -> float:
    """Spread the audience (and the digest readers, if any) over 20 baselines x 4 kind filters
    (see the module docstring)."""
    started = time.perf_counter()
    psql(
        database,
        f"""
        BEGIN;
        INSERT INTO guide_version
            (guide_id, number, major, minor, patch, title, content, status, published_at, bump,
             created_at, updated_at)
        SELECT v.guide_id, '0.10.' || k, 0, 10, k, 'Bench release 0.10.' || k,
               v.content || E'\n\nBench note ' || k || E'.\n', 'published',
               v.published_at + k * interval '1 hour', 'patch', now(), now()
        FROM guide_version v JOIN guide_guide g ON g.id = v.guide_id AND g.slug = 'mlmw',
             generate_series(2, 17) k
        WHERE v.number = '0.10.1';
        DELETE FROM subscriptions_baseline b USING subscriptions_subscriber s
        WHERE s.id = b.subscriber_id AND s.source = 'bench';
        INSERT INTO subscriptions_baseline (subscriber_id, guide_id, version_id, updated_at)
        SELECT s.id, v.guide_id, v.id, now()
        FROM subscriptions_subscriber s
        JOIN (SELECT v.id, v.guide_id,
                     ROW_NUMBER() OVER (ORDER BY v.major, v.minor, v.patch) AS r
              FROM guide_version v JOIN guide_guide g ON g.id = v.guide_id AND g.slug = 'mlmw'
              WHERE v.status = 'published') v ON v.r = s.id % 20
        WHERE (s.source = 'bench' AND s.id <= {n}) OR s.source = 'bench-digest';
        UPDATE subscriptions_subscriber SET kinds = CASE (id / 20) % 4
            WHEN 0 THEN '' WHEN 1 THEN 'removed' WHEN 2 THEN 'added,changed'
            ELSE 'changed,removed,security' END
        WHERE (source = 'bench' AND id <= {n}) OR source = 'bench-digest';
        COMMIT;
        ANALYZE;
        """,  # noqa: S608 - integers only
    )
    return time.perf_counter() - started


# --- Children: naive loop and publish (run as `fanout.py --child-naive N` / `--child-publish`) -------


def _django() -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def child_naive(sample: int) -> None:
    """One render and one ESP call per subscriber: what the fan-out is compared against."""
    _django()
    from django.core.mail import get_connection

    from guide.models import Version
    from subscriptions import emails, release_mail
    from subscriptions.models import Baseline, Subscriber

    version = Version.objects.select_related("guide").get(guide__slug=GUIDE, number=RELEASE)
    subscribers = list(Subscriber.objects.audience_for(version).order_by("id")[:sample])
    started = time.perf_counter()
    with get_connection() as conn:
        for subscriber in subscribers:
            row = (
                Baseline.objects.filter(subscriber=subscriber, guide_id=version.guide_id)
                .select_related("version")
                .first()
            )
            since = row.version if row else None
            # The same context the fan-out renders from, built per subscriber (the naive way).
            context = release_mail.release_context(since, version)
            message = emails.build("release", subscriber, context)
            message.connection = conn
            message.send()
    elapsed = time.perf_counter() - started
    print(json.dumps({"sent": len(subscribers), "seconds": elapsed}))


def child_digest() -> None:
    """Open the due digest mailing, as beat's task does; its start is enqueued on commit."""
    _django()
    from subscriptions import digests

    started = time.time()
    mailing = digests.open_due()
    if mailing is None:
        sys.exit("no digest reader is due")
    print(json.dumps({"started": started, "committed": time.time()}))


def child_publish() -> None:
    _django()
    from guide import publishing
    from guide.models import Version

    version = Version.objects.get(guide__slug=GUIDE, number=RELEASE)
    started = time.time()
    publishing.publish(version)
    print(json.dumps({"started": started, "committed": time.time()}))


# --- One run -----------------------------------------------------------------------------------------


@dataclass
class Result:
    n: int
    seconds: float
    start_seconds: float
    rss_peak_mib: float
    rss_hwm_mib: float
    rss_idle_mib: float
    naive_rate: float
    naive_sample: int
    requests: int
    duplicates: int
    worker_cpu_per_k: float
    all_cpu_per_k: float  # worker + postgres + fake ESP
    others_share: float  # fraction of the machine used by other work during the run
    variants: int = 3
    kind: str = "release"  # or "digest"

    @property
    def rate(self) -> float:
        return self.n / self.seconds

    @property
    def ratio(self) -> float:
        return self.rate / self.naive_rate if self.naive_rate else float("nan")


def esp_stats(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as response:
        return json.loads(response.read())


def start_esp(children: Children) -> tuple[subprocess.Popen, int]:
    esp = children.start(
        [PYTHON, "bench/fake_esp_server.py", "--port", "0", "--count-only", "--api-key", API_KEY,
         "--domain", SENDER_DOMAIN],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    line = esp.stdout.readline() if esp.stdout else ""
    if "listening on" not in line:
        sys.exit(f"the fake ESP did not start: {line!r}")
    port = int(line.rsplit(":", 1)[1].split("/")[0])
    return esp, port


def start_worker(
    children: Children, env: dict[str, str], concurrency: int, log: Path
) -> subprocess.Popen:
    with log.open("w") as out:
        worker = children.start(
            [CELERY, "-A", "mlmw.celery:app", "worker", "--pool", "prefork",
             "--concurrency", str(concurrency), "--without-heartbeat", "--without-mingle",
             "--without-gossip", "-Q", "mlmw", "--loglevel", "INFO", "-n", "bench@%h"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while " ready." not in log.read_text(errors="replace"):
        if worker.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"the worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)
    return worker


def run_one(
    args: argparse.Namespace,
    n: int,
    children: Children,
    tmp: Path,
    spread: bool = False,
    digest: bool = False,
) -> list[Result]:
    """One database: the release of N (and with `digest`, then the digest of N readers beside it,
    each on a fresh worker, so each run's memory is its own)."""
    db = args.database
    label = ", 80 variants" if spread else ""
    label += f", then a digest to {n:,} weekly readers" if digest else ""
    print(f"\n=== {n:,} subscribers (database {db}, worker --concurrency {args.concurrency}, "
          f"batches of {args.batch_size}{label}) ===", flush=True)  # fmt: skip
    subprocess.run(["dropdb", *PG, "--if-exists", "--force", db], check=True)
    subprocess.run(["createdb", *PG, db], check=True)
    run(["redis-cli", "-n", REDIS_DB, "flushdb"], {**os.environ})

    esp, port = start_esp(children)
    env = bench_env(db, port, args.batch_size)
    started = time.perf_counter()
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "load_demo")
    print(f"migrate + load_demo: {time.perf_counter() - started:.1f} s", flush=True)
    seconds = seed(db, n)
    print(f"seeded {n:,} confirmed subscribers (+{2 * max(1, n // 100):,} outside the audience) "
          f"in {seconds:.1f} s", flush=True)  # fmt: skip
    if digest:
        seconds = seed_digest_readers(db, n)
        print(f"seeded {n:,} weekly digest readers, due now, in {seconds:.1f} s", flush=True)
    if spread or digest:
        seconds = seed_variants(db, n)
        print(f"spread over 20 baselines x 4 kind filters in {seconds:.1f} s", flush=True)

    naive_rate, naive_sample = 0.0, 0
    if args.naive_sample and not digest:
        # Naive loop, before publishing: same subscribers, same baselines, same backend and fake.
        before = esp_stats(port)["recipients"]
        out = run([PYTHON, __file__, "--child-naive", str(args.naive_sample)], env)
        naive = json.loads(out.strip().splitlines()[-1])
        received = esp_stats(port)["recipients"] - before
        naive_rate, naive_sample = naive["sent"] / naive["seconds"], naive["sent"]
        print(f"naive loop: {naive['sent']:,} subscribers (a sample) in {naive['seconds']:.1f} s = "
              f"{naive_rate:,.0f} recipients/s; the fake received {received:,}", flush=True)  # fmt: skip

    results = []
    for kind, trigger in (("release", "--child-publish"), ("digest", "--child-digest"))[
        : 2 if digest else 1
    ]:
        worker = start_worker(children, env, args.concurrency, tmp / f"worker-{n}-{kind}.log")
        try:
            result = measure(args, n, children, db, worker, esp, port, env, kind, trigger)
        finally:
            children.stop(worker)
        result.naive_rate, result.naive_sample = naive_rate, naive_sample
        results.append(result)
    if digest:
        release, mailed = results
        print(
            f"digest / release time at {n:,}: {mailed.seconds / release.seconds:.2f}x", flush=True
        )
    return results


def measure(
    args: argparse.Namespace,
    n: int,
    children: Children,
    db: str,
    worker: subprocess.Popen,
    esp: subprocess.Popen,
    port: int,
    env: dict[str, str],
    kind: str,
    trigger: str,
) -> Result:
    """Time one mailing of `kind` to N, from `trigger` (publish, or opening the due digest) to done
    with N recipients at the fake."""
    digests = 0
    if kind == "digest":
        # A digest batch is not cut per variant: count the distinct digests of its readers (before
        # the mailing moves their baselines).
        ((count,),) = psql(
            db,
            """
            SELECT count(DISTINCT (COALESCE(b.version_id, 0), s.kinds))
            FROM subscriptions_subscriber s
            LEFT JOIN subscriptions_baseline b ON b.subscriber_id = s.id
            WHERE s.source = 'bench-digest'
            """,
        )
        digests = int(count)
    time.sleep(1)
    pids = descendants(worker.pid)
    idle = rss_mib(pids)
    print(f"{kind}: worker {len(pids)} processes, {idle:.0f} MiB RSS idle", flush=True)
    esp_before = esp_stats(port)
    meter = CpuMeter(worker.pid, esp.pid, db)
    opener = children.start([PYTHON, __file__, trigger], env=env, stdout=subprocess.PIPE, text=True)
    peak, last_db_check, done, status = idle, 0.0, False, "?"
    opened = time.monotonic()
    deadline = time.monotonic() + args.timeout
    mailing_of_kind = f"SELECT status FROM subscriptions_mailing WHERE kind = '{kind}'"  # noqa: S608
    while True:
        now = time.monotonic()
        if now > deadline:
            sys.exit(f"timed out after {args.timeout} s (mailing {status})")
        if worker.poll() is not None:
            sys.exit(f"the worker exited ({worker.returncode})")
        if now - last_db_check > 1:
            pids = descendants(worker.pid)  # in case the pool replaced a child
            last_db_check = now
        peak = max(peak, rss_mib(pids))
        meter.poll()
        got = esp_stats(port)["recipients"] - esp_before["recipients"]
        if got >= n:
            rows = psql(db, mailing_of_kind)
            status = rows[0][0] if rows else "?"
            done = status == "done"
        if done:
            finished = time.time()
            break
        # Polling costs CPU the fan-out shares (a scan of /proc for the database's backends,
        # a request to the fake): every 0.1 s it took a tenth of a core. Fine-grained only
        # at first, where it decides short runs' times; then every 0.5 s.
        time.sleep(0.1 if now - opened < 5 else 0.5)
    opener_out, _ = opener.communicate(timeout=30)
    children.processes.remove(opener)
    t0 = json.loads(opener_out.strip().splitlines()[-1])["started"]
    total = finished - t0
    cpu = meter.stop()
    time.sleep(0.5)  # anything late would show as a duplicate
    pids = descendants(worker.pid)
    peak = max(peak, rss_mib(pids))
    hwm = rss_mib(pids, "VmHWM")
    final = esp_stats(port)
    recipients = final["recipients"] - esp_before["recipients"]
    requests = final["requests"] - esp_before["requests"]

    (stages,) = psql(
        db,
        f"""
        SELECT extract(epoch FROM m.created_at), extract(epoch FROM m.started_at),
               extract(epoch FROM min(b.claimed_at)), extract(epoch FROM max(b.finished_at)),
               extract(epoch FROM m.finished_at), m.audience_size, count(b.id),
               count(DISTINCT (COALESCE(b.since_version_id, 0), b.filters)),
               sum(b.attempts)
        FROM subscriptions_mailing m JOIN subscriptions_batch b ON b.mailing_id = m.id
        WHERE m.kind = '{kind}'
        GROUP BY m.id
        """,  # noqa: S608 - a fixed word
    )
    created, begun, first_claim, last_batch, closed = (float(x) for x in stages[:5])
    audience, batches, variants, attempts = (int(x) for x in stages[5:])
    if kind == "digest":
        variants = digests
    by_status = dict(
        psql(
            db,
            "SELECT d.status, count(*) FROM subscriptions_delivery d "  # noqa: S608 - a fixed word
            f"JOIN subscriptions_mailing m ON m.id = d.mailing_id WHERE m.kind = '{kind}' GROUP BY 1",
        )
    )
    what = "publish" if kind == "release" else "open"
    print(f"{kind}: {n:,} recipients in {total:.1f} s = {n / total:,.0f} recipients/s", flush=True)
    print(f"  {what} committed → start task running   {begun - created:7.2f} s")
    print(f"  audience + batches fixed, first claimed  {first_claim - begun:7.2f} s "
          f"({audience:,} deliveries, {batches:,} batches, {variants} variants)")  # fmt: skip
    sending = last_batch - first_claim
    print(f"  sending (first claim → last batch done)  {sending:7.2f} s "
          f"({audience / sending if sending > 0 else 0:,.0f}/s)")  # fmt: skip
    print(f"  mailing closed at                         {closed - t0:7.2f} s after {what}")
    print(f"  deliveries by status: {by_status}; batch attempts {attempts:,}")
    print(f"  ESP: {requests:,} requests, {recipients:,} recipients, duplicates "
          f"{recipients - n:,}, rejected {final['rejected'] - esp_before['rejected']}, fake's "
          f"handling {final['handling_ms_total'] - esp_before['handling_ms_total']:,.0f} ms")  # fmt: skip
    per_k = 1000 / n
    print(f"  CPU s per 1000 recipients: worker {cpu['worker'] * per_k:.3f}, postgres (bench "
          f"database) {cpu['postgres'] * per_k:.3f}, fake ESP {cpu['esp'] * per_k:.3f}; the machine "
          f"was {cpu['machine_busy'] / cpu['machine_capacity']:.0%} busy, "
          f"{cpu['others'] / cpu['machine_capacity']:.0%} of it with other work")  # fmt: skip
    print(f"  worker RSS: idle {idle:.0f} MiB, peak {peak:.0f} MiB (sum of VmRSS polled), "
          f"sum of VmHWM {hwm:.0f} MiB", flush=True)  # fmt: skip
    return Result(
        n=n, variants=variants, seconds=total, start_seconds=first_claim - begun, rss_peak_mib=peak,
        rss_hwm_mib=hwm, rss_idle_mib=idle, naive_rate=0.0, naive_sample=0,
        requests=requests, duplicates=recipients - n,
        worker_cpu_per_k=cpu["worker"] * per_k,
        all_cpu_per_k=(cpu["worker"] + cpu["postgres"] + cpu["esp"]) * per_k,
        others_share=cpu["others"] / cpu["machine_capacity"], kind=kind,
    )  # fmt: skip


def table(results: list[Result]) -> str:
    lines = [
        "N          mailing  variants  recipients/s  total s  start s  worker RSS MiB  "
        "naive/s (sample)  ratio  ESP calls  dupl.  CPU s/1000 (worker, all)  other load",
        "                                                              idle / peak",
    ]
    for r in results:
        ratio = f"{r.ratio:.0f}x" if r.naive_rate else "-"
        lines.append(
            f"{r.n:<10,} {r.kind:<7}  {r.variants:>8}  {r.rate:>12,.0f}  {r.seconds:>7.1f}  "
            f"{r.start_seconds:>7.2f}  "
            f"{r.rss_idle_mib:>6.0f} / {r.rss_peak_mib:<5.0f}  "
            f"{r.naive_rate:>6.1f} ({r.naive_sample:>5,})  {ratio:>5}  {r.requests:>9,}  "
            f"{r.duplicates:>5,}  {r.worker_cpu_per_k:>10.3f}, {r.all_cpu_per_k:.3f}  "
            f"{r.others_share:>14.0%}"
        )
    return "\n".join(lines)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, nargs="+", default=[10_000])
    parser.add_argument("--naive-sample", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--database", default="mlmw_bench")
    parser.add_argument("--keep-db", action="store_true", help="leave the last database behind")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per fan-out")
    parser.add_argument(
        "--variants", action="store_true", help="each N also with 80 variants (20 x 4 filters)"
    )
    parser.add_argument(
        "--digest",
        action="store_true",
        help="each N: the release (80 variants), then a weekly digest to N readers beside it",
    )
    parser.add_argument("--child-naive", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-digest", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-publish", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_naive is not None:
        return child_naive(args.child_naive)
    if args.child_publish:
        return child_publish()
    if args.child_digest:
        return child_digest()

    # SIGTERM ends the run like Ctrl-C does: through the finally below.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started in the background (ignored there)
    children = Children()
    results: list[Result] = []
    try:
        with tempfile.TemporaryDirectory(prefix="mlmw-fanout-") as tmp:
            runs = [(n, spread) for n in args.subscribers for spread in (False, True)[
                : 2 if args.variants else 1]]  # fmt: skip
            if args.digest:  # 80 variants, as the digest's readers are spread
                runs = [(n, True) for n in args.subscribers]
            for n, spread in runs:
                try:
                    results += run_one(args, n, children, Path(tmp), spread, args.digest)
                finally:
                    children.stop_all()
                    if not args.keep_db or (n, spread) != runs[-1]:
                        subprocess.run(["dropdb", *PG, "--if-exists", "--force", args.database])
    except KeyboardInterrupt:
        sys.exit("interrupted: child processes stopped, database dropped (unless --keep-db)")
    finally:
        children.stop_all()
        subprocess.run(["redis-cli", "-n", REDIS_DB, "flushdb"], capture_output=True)
    print(f"\n{table(results)}")
    print(f"(naive: a sample of the first --naive-sample subscribers; load average "
          f"{os.getloadavg()[0]:.1f})")  # fmt: skip


if __name__ == "__main__":
    main()
