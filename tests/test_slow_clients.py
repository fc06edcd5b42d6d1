"""The production web server (the command docker-compose.yml runs, on 127.0.0.1) keeps answering
while slow clients hold connections open, and believes X-Forwarded-Proto only when told to.

Twenty clients each start a POST and never finish its body; the home page still answers at once. The
server is the real gunicorn with its production configuration, on the test database.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.workers import database_url_of_test_db

ROOT = Path(__file__).resolve().parent.parent
SLOW_CLIENTS = 20


def web_command() -> list[str]:
    """The web service's command in docker-compose.yml, ${VAR:-default} read as its default."""
    compose = (ROOT / "docker-compose.yml").read_text()
    web = compose[compose.index("\n  web:") :]
    line = re.search(r"^\s+command: (\[.*?\])\s*$", web, re.M | re.S).group(1)
    line = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", line)
    return json.loads(line)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def start_web(transactional_db, tmp_path) -> Iterator:
    started: list[subprocess.Popen] = []
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115 - closed after the servers

    def start(**env: str) -> int:
        port = free_port()
        command = web_command()
        command[command.index("--bind") + 1] = f"127.0.0.1:{port}"
        command[0] = str(Path(sys.executable).parent / "gunicorn")
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "mlmw.test_settings",
                "DATABASE_URL": database_url_of_test_db(),
                **env,
            },
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
        started.append(process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return port
            except OSError:
                assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
                time.sleep(0.2)
        raise AssertionError("gunicorn did not start")

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
    log.close()


def get(port: str, path: str = "/", **headers: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers={"Host": "127.0.0.1", **headers})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def test_the_home_page_answers_while_twenty_slow_clients_hold_their_connections(start_web, guide):
    port = start_web()
    assert get(port).status == 200  # warmed up
    slow = []
    for _ in range(SLOW_CLIENTS):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(
            b"POST /subscribe/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 2000\r\n\r\nemail="
        )  # and the rest of the body never comes
        slow.append(s)
    time.sleep(1)  # every slow request has reached a worker

    began = time.monotonic()
    answer = get(port)
    took = time.monotonic() - began

    assert answer.status == 200
    assert took < 5
    for s in slow:
        s.close()


def test_a_forwarded_https_claim_is_ignored_unless_the_proxy_is_trusted(start_web, guide):
    untrusted = start_web(SECURE_SSL_REDIRECT="true", TRUST_X_FORWARDED_PROTO="false")
    trusted = start_web(SECURE_SSL_REDIRECT="true", TRUST_X_FORWARDED_PROTO="true")

    claimed = get(untrusted, **{"X-Forwarded-Proto": "https"})
    behind_proxy = get(trusted, **{"X-Forwarded-Proto": "https"})

    assert claimed.status == 301
    assert claimed.getheader("Location") == "https://127.0.0.1/"
    assert behind_proxy.status == 200
