"""The fake Mailgun (fakes/mailgun.py) as a process of its own, for bench/fanout.py.

From the repository root:

    .venv/bin/python bench/fake_esp_server.py --port 8025 [--api-key KEY] [--domain D]
        [--latency-ms N] [--record-dir DIR | --count-only]

It prints `FakeMailgun listening on http://127.0.0.1:PORT/v3` once it accepts requests (`--port 0`
picks a free port), serves `GET /stats` (JSON counters) and stops on SIGTERM/SIGINT, printing the
final counters. The process keeps only counters in memory (--count-only, the default), so memory
stays flat for a million recipients; requests are still validated. --record-dir also appends
every accepted batch to DIR/batches.jsonl and every request to DIR/attempts.jsonl (read them
back with `fakes.mailgun.read_record_dir(DIR)`).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fakes.mailgun import HOST, MAX_RECIPIENTS, FakeMailgun


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/fake_esp_server.py", description="A fake Mailgun messages API on 127.0.0.1."
    )
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    parser.add_argument("--api-key", default="key-test", help="the accepted key ('' = any)")
    parser.add_argument("--domain", action="append", help="accepted sender domain (default any)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="wait before every answer")
    parser.add_argument("--max-recipients", type=int, default=MAX_RECIPIENTS)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--record-dir", help="append batches.jsonl and attempts.jsonl here")
    mode.add_argument(
        "--count-only", action="store_true", help="keep only counters (GET /stats); the default"
    )
    args = parser.parse_args(argv)

    esp = FakeMailgun(
        api_key=args.api_key or None,
        domains=args.domain,
        host=args.host,
        port=args.port,
        count_only=True,  # a long-running process keeps counters, or records to disk
        record_dir=args.record_dir,
        latency=args.latency_ms / 1000,
        max_recipients=args.max_recipients,
        keep_events=False,  # flat memory at a million recipients: no events API as a process
    )
    done = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with esp:
        print(f"FakeMailgun listening on {esp.api_url}", flush=True)
        while not done.wait(0.5):
            pass
        print(f"FakeMailgun stats {json.dumps(esp.stats)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
