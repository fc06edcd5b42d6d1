"""`make run`'s process: the development server and the periodic-job clock, stopped together by Ctrl-C.

Run as `python -m mlmw.devserver PORT`. Ctrl-C is sent to the terminal's whole foreground process
group, `make` included, and make then dies of it with an error line. So when attached to a terminal
this process moves itself and its children into a process group of their own and makes it the
terminal's foreground group (what a job-control shell does): Ctrl-C reaches only them, they stop,
the terminal is handed back, and make sees a clean exit 0.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from types import FrameType


def _take_terminal() -> tuple[int, int] | None:
    """Become the terminal's foreground process group; (tty fd, previous group) to give it back."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR)
    except OSError:
        return None  # no terminal: a test or a service manager sends its signals to us directly
    try:
        previous = os.tcgetpgrp(fd)
        os.setpgid(0, 0)
        # A background group changing the foreground group is sent SIGTTOU; ignore it meanwhile.
        old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            os.tcsetpgrp(fd, os.getpgrp())
        finally:
            signal.signal(signal.SIGTTOU, old)
    except OSError:
        os.close(fd)
        return None
    return fd, previous


def _give_back(terminal: tuple[int, int] | None) -> None:
    if terminal is None:
        return
    fd, previous = terminal
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.tcsetpgrp(fd, previous)
    signal.signal(signal.SIGTTOU, old)
    os.close(fd)


def main(argv: list[str]) -> int:
    port = argv[0] if argv else "8000"
    terminal = _take_terminal()
    python = sys.executable
    children = [
        subprocess.Popen([python, "manage.py", "clock"]),  # noqa: S603 - our own interpreter
        subprocess.Popen([python, "manage.py", "runserver", f"127.0.0.1:{int(port)}"]),  # noqa: S603
    ]
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        # Either child ending on its own (a port in use, a crash) ends the other: half a demo is
        # worse than an error on screen.
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.2)
        ended_alone = not stopping
        failed = [child.returncode for child in children if child.poll() not in (None, 0)]
        stop(signal.SIGTERM, None)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    finally:
        _give_back(terminal)
    if ended_alone and failed:
        return failed[0] if failed[0] > 0 else 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
