"""Tokens (README "Authentication and limits") through the Python and C clients."""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time

import pytest
from conftest import TaktServer, c_program, taktd_path

from takt_client import Client, StatusCode, TaktError, make_event


def hash_line(token: str) -> str:
    out = subprocess.run([taktd_path(), "--hash-token"], input=token + "\n", capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.fixture(scope="module")
def auth_server():
    d = tempfile.mkdtemp(prefix="takt-auth-")
    path = os.path.join(d, "auth.json")
    tokens = [
        {"name": "gw", "hash": hash_line("py-ingest-token"), "role": "ingest", "sites": ["north"]},
        {"name": "ops", "hash": hash_line("py-admin-token"), "role": "admin", "sites": ["*"]},
    ]
    with open(path, "w") as f:
        json.dump({"tokens": tokens}, f)
    s = TaktServer("--auth-file", path)
    yield s
    s.stop()


def event(site: str, i: int = 0):
    return make_event(int(time.time() * 1000) - 60_000 + i, "W1", "S1", "working", 0.9, site_id=site)


def test_python_token_roles_and_sites(auth_server):
    with Client(auth_server.host, auth_server.port, auth_token="py-ingest-token") as c:
        ack = c.submit_batch([event("north", 1), event("north", 2)])
        assert ack.accepted == 2
        with pytest.raises(TaktError) as e:
            c.submit_batch([event("south")])
        assert e.value.code == StatusCode.PERMISSION_DENIED and "south" in e.value.message
        with pytest.raises(TaktError) as e:
            c.query_metrics("factory", site_id="north")
        assert e.value.code == StatusCode.PERMISSION_DENIED
    with Client(auth_server.host, auth_server.port, auth_token="py-admin-token") as c:
        assert c.query_metrics("factory").factory.active_workers >= 1


@pytest.mark.parametrize("token", ["", "wrong-token"])
def test_python_missing_or_wrong_token(auth_server, token):
    with pytest.raises(TaktError) as e:
        with Client(auth_server.host, auth_server.port, auth_token=token) as c:
            c.health()
    assert e.value.code == StatusCode.UNAUTHENTICATED


def test_c_client_token_from_environment(auth_server):
    line = json.dumps({"event_time_ms": int(time.time() * 1000) - 30_000, "worker_id": "W2", "workstation_id": "S1",
                       "kind": "idle", "confidence": 0.9, "site_id": "north"}) + "\n"
    ok = subprocess.run([c_program("takt-send"), "--port", str(auth_server.port), "--retries", "0"], input=line,
                        capture_output=True, text=True, timeout=60, env={**os.environ, "TAKT_TOKEN": "py-ingest-token"})
    assert ok.returncode == 0, ok.stderr
    assert "accepted=1" in ok.stdout
    env = {k: v for k, v in os.environ.items() if k != "TAKT_TOKEN"}
    bad = subprocess.run([c_program("takt-send"), "--port", str(auth_server.port), "--retries", "0"], input=line,
                         capture_output=True, text=True, timeout=60, env=env)
    assert bad.returncode != 0
    assert "UNAUTHENTICATED" in (bad.stderr + bad.stdout) or "token" in (bad.stderr + bad.stdout)
