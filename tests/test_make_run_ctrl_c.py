"""`make run PORT=…` in a real terminal (a pseudo-terminal): it serves on that port, its links follow
the port, and Ctrl-C stops the server and the clock with exit 0 and no error line."""

from __future__ import annotations

import fcntl
import os
import select
import shutil
import socket
import subprocess
import sys
import termios
import time
import urllib.request
from pathlib import Path

from tests.conftest import ROOT

MAKE = shutil.which("make") or "/usr/bin/make"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_until(fd: int, proc: subprocess.Popen, seconds: float, done) -> str:
    out = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not done(out):
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
        elif proc.poll() is not None:
            break
    return out.decode(errors="replace")


def test_ctrl_c_stops_make_run_with_exit_0_and_its_links_follow_the_port(tmp_path):
    port = free_port()
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "TERM": "dumb",
    }
    master, slave = os.openpty()

    def as_a_terminal_session() -> None:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [MAKE, "--no-print-directory", "run", f"PORT={port}"],
        cwd=ROOT, env=env, stdin=slave, stdout=slave, stderr=slave,
        preexec_fn=as_a_terminal_session, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    try:
        started = read_until(master, proc, 240, lambda out: b"Quit the server with" in out)
        assert f"mlmw: http://127.0.0.1:{port}/" in started, started[-3000:]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/feeds/releases.atom") as response:
            feed = response.read().decode()
        # Entries are built from SITE_URL, the self link from the request: both say this port.
        assert f"http://127.0.0.1:{port}/guides/" in feed
        assert "http://127.0.0.1:8000/" not in feed

        os.write(master, b"\x03")  # Ctrl-C, as typed: the terminal signals its foreground group
        stopped = read_until(master, proc, 30, lambda out: proc.poll() is not None)
        assert proc.wait(timeout=30) == 0, stopped
        assert "Traceback" not in stopped, stopped
        assert "make: ***" not in stopped, stopped
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, "the server still answers"
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
