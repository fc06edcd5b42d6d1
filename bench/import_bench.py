"""Benchmark of `manage.py import_subscribers` on a large CSV: rows per second and peak memory.

Generates a CSV of --rows rows (default 100,000) in a temporary directory: unique addresses over a few
hundred domains, a third with an empty guides column, a third with one guide, a third with two,
mixed cadences, and 1% repeats of an earlier address in other case (merged). Then runs the import
command in a subprocess against the configured database (DATABASE_URL) and prints its wall time,
rows/s and peak RSS (the child's own ru_maxrss, from os.wait4). Memory should be the same at 100k
and at 1M rows: the import streams the file twice and keeps only one chunk in memory.

    createdb -h 127.0.0.1 -U postgres mlmw_import_bench
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/mlmw_import_bench
    DEBUG=true python manage.py migrate
    python bench/import_bench.py                   # 100k rows, --consented
    python bench/import_bench.py --rows 1000000
    python bench/import_bench.py --pending         # new addresses pending (mail rendered, not sent)

Addresses carry a per-run tag, so repeated runs on one database each create their rows (the table
grows; recreate the database for comparable figures). `manage.py load_demo` is run first so the
guides the file names exist. --pending runs the confirmation mails in-process unless
CELERY_BROKER_URL is set (EMAIL_BACKEND defaults to the dummy backend here): it measures rendering
100k mails as much as the import.

On this machine (2 cores, Python 3.11.7, PostgreSQL on localhost, a fresh database each time),
--consented, 1% of rows merged:

    rows         wall      rows/s    peak RSS
    100,000      29 s      3,400     78 MiB
    1,000,000    318 s     3,150     78 MiB

Memory is flat. Time per row is too: about a third goes to validating addresses twice (once per
pass; most of it in idna.encode of the domain), the rest to the database writes.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = 20261125
GUIDE_COLUMNS = ["", "mlmw", "mlmw;mdtp"]
CADENCES = ["", "every", "minor", "major"]


def write_csv(path: Path, rows: int, tag: str) -> None:
    rng = random.Random(SEED)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("email,guides,cadence\n")
        for n in range(rows):
            if n > 100 and rng.random() < 0.01:
                m = rng.randrange(n)  # an earlier address again, in other case: merged
                address = f"Reader.{m}.{tag}@Domain{m % 397}.example"
            else:
                address = f"reader.{n}.{tag}@domain{n % 397}.example"
            out.write(f"{address},{rng.choice(GUIDE_COLUMNS)},{rng.choice(CADENCES)}\n")


def run(command: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Run a manage.py command; return (wall seconds, peak RSS in KiB of that process, stdout)."""
    # Output goes to files, not pipes: nothing has to read them while the child runs.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, stdout=out, stderr=err
        )
        # wait4 gives this child's own rusage (RUSAGE_CHILDREN would mix in every earlier child).
        _pid, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode:
            sys.exit(f"manage.py {' '.join(command)} failed ({process.returncode}):\n{err.read()}")
        return wall, usage.ru_maxrss, out.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--pending", action="store_true", help="import without --consented (confirmation mails)"
    )
    args = parser.parse_args()

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if env.get("DEBUG", "").lower() != "true":
        env.setdefault("SECRET_KEY", "bench-only-not-a-secret")
    env.setdefault("EMAIL_BACKEND", "django.core.mail.backends.dummy.EmailBackend")
    database = env.get("DATABASE_URL", "sqlite (db.sqlite3)")
    print(f"database: {database.split('@')[-1]}")

    run(["load_demo"], env)
    with tempfile.TemporaryDirectory(prefix="mlmw-import-bench-") as tmp:
        path = Path(tmp) / "subscribers.csv"
        start = time.perf_counter()
        write_csv(path, args.rows, secrets.token_hex(3))
        print(
            f"generated {args.rows:,} rows ({path.stat().st_size / 1e6:.1f} MB) "
            f"in {time.perf_counter() - start:.1f} s"
        )
        command = ["import_subscribers", str(path)] + ([] if args.pending else ["--consented"])
        wall, peak_kib, output = run(command, env)
    print(output.strip())
    print(
        f"import: {wall:.1f} s, {args.rows / wall:,.0f} rows/s, peak RSS {peak_kib / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
