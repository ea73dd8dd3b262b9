"""The C client (libtakt_client, takt-send, takt-client-test) against real taktd processes,
each run directly and under valgrind (issue 8)."""
from __future__ import annotations

import json
import re
import subprocess
import time

import pytest
from conftest import (
    WORKED_EVENTS,
    WORKED_FACTORY,
    WORKED_WINDOW,
    WORKED_WORKER,
    assert_metrics_equal,
    c_program,
)

from takt_client import Client, result_code_name

H = 3_600_000


def run(cmd, stdin=None, timeout=60):
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)


def check_scenario(out):
    text = out.stdout + out.stderr
    assert out.returncode != 99, f"valgrind found errors:\n{text}"
    assert "not ok" not in out.stdout, text
    assert out.returncode == 0, text
    assert "ok - " in out.stdout, text


def counts(stdout: str) -> dict:
    line = [l for l in stdout.splitlines() if l.startswith("accepted=")][-1]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


def test_c_ingest_codes(server, c_runner):
    out = run(c_runner + [c_program("takt-client-test"), server.host, str(server.port), "ingest", f"c-ingest-{len(c_runner)}"])
    check_scenario(out)


def test_c_status_errors(limited_server, c_runner):
    # the scenario's events are timed from the wall clock, so a second run does not see DUPLICATEs
    out = run(c_runner + [c_program("takt-client-test"), limited_server.host, str(limited_server.port), "status"])
    check_scenario(out)


def test_c_deadline(own_server, c_runner):
    out = run(c_runner + [c_program("takt-client-test"), own_server.host, str(own_server.port), "deadline", str(own_server.pid)])
    check_scenario(out)


def test_c_strict_unknown_entity(strict_server, c_runner):
    out = run(c_runner + [c_program("takt-client-test"), strict_server.host, str(strict_server.port), "strict", f"c-strict-{len(c_runner)}"])
    check_scenario(out)


def _jsonl(site: str) -> str:
    lines = []
    for (t, w, s, k, conf, n) in WORKED_EVENTS:
        obj = {"event_time_ms": t, "worker_id": w, "workstation_id": s, "kind": k, "confidence": conf, "site_id": site}
        if n:
            obj["count"] = n
        lines.append(json.dumps(obj))
    return "\n".join(lines) + "\n"


def test_c_send_jsonl_and_metrics_match(server, c_runner):
    """takt-send ingests the spec's worked example as JSON Lines (in batches of 4, plus duplicates
    and invalid lines); the C client's metrics equal the spec's values and the Python client's."""
    site = f"c-worked-{len(c_runner)}"
    extra = [
        json.dumps({"event_time_ms": WORKED_EVENTS[0][0], "worker_id": "W1", "workstation_id": "S1", "kind": "working",
                    "confidence": 0.9, "site_id": site}),  # duplicate
        json.dumps({"event_time_ms": WORKED_EVENTS[0][0], "worker_id": "W1", "workstation_id": "S1", "kind": "EVENT_KIND_IDLE",
                    "confidence": 1.2, "site_id": site}),  # invalid confidence
        '{"event_time_ms": 1764151300000, "worker_id": "W\\u00e9", "workstation_id": "S1", "kind": 2, "confidence": 0.9}',  # invalid id
        json.dumps({"event_time_ms": 1764151300000, "worker_id": "W1", "workstation_id": "S1", "confidence": 0.9,
                    "site_id": site}),  # no kind: invalid
        json.dumps({"event_time_ms": 1764151310000, "worker_id": "W1", "workstation_id": "S1", "kind": "idle",
                    "confidence": 0.2, "site_id": site, "model_version": "m1"}),  # low confidence
    ]
    stdin = _jsonl(site) + "\n".join(extra) + "\n"
    out = run(c_runner + [c_program("takt-send"), "--port", str(server.port), "--batch", "4", "--verbose"], stdin=stdin)
    assert out.returncode != 99, out.stderr
    assert out.returncode == 0, out.stdout + out.stderr
    assert counts(out.stdout) == {"accepted": 6, "duplicate": 1, "low_confidence": 1, "invalid": 3, "unknown_entity": 0,
                                  "unparsed": 0, "batches": 3}
    assert "line 9: INVALID" in out.stderr and "confidence" in out.stderr

    frm, to = WORKED_WINDOW
    m = run(c_runner + [c_program("takt-client-test"), server.host, str(server.port), "metrics", site, str(frm), str(to)])
    assert m.returncode == 0, m.stdout + m.stderr
    cm = json.loads(m.stdout.strip().splitlines()[-1])
    assert (cm["from_ms"], cm["to_ms"]) == (frm, to)
    assert_metrics_equal(cm["factory"], WORKED_FACTORY, "C factory")
    assert len(cm["workers"]) == 1
    assert_metrics_equal(cm["workers"][0], WORKED_WORKER, "C worker")
    with Client(server.host, server.port) as c:
        pw = c.worker_metrics(from_ms=frm, to_ms=to, site_id=site)[0]
        pf = c.factory_metrics(from_ms=frm, to_ms=to, site_id=site)
    assert {k: getattr(pw, k) for k in WORKED_WORKER} == {k: cm["workers"][0][k] for k in WORKED_WORKER}
    assert {k: getattr(pf, k) for k in WORKED_FACTORY} == cm["factory"]


def test_c_send_csv(server, c_runner):
    site = f"c-csv-{len(c_runner)}"
    t = int(time.time() * 1000) - H
    csv = "\n".join([
        "event_time_ms,worker_id,workstation_id,kind,confidence,count,site_id,gateway_id,sequence",
        f"{t},CW1,CS1,working,0.9,,{site},,",
        f'{t + 1000},"CW1",CS1,product_count,0.95,3,{site},gw-csv-{len(c_runner)},1',
        f"{t + 1000},CW1,CS1,product_count,0.95,5,{site},gw-csv-{len(c_runner)},2",  # duplicate by identity (first count wins)
        f"{t},CW1,CS1,working,0.9,,{site},,",  # duplicate by identity
        f"{t + 3000},,CS1,idle,0.9,,{site},,",  # invalid: no worker
        f"{t + 4000},CW1,CS1,idle,0.1,,{site},,",  # low confidence
        f"{t + 5000},CW1,CS1,sleeping,0.9,,{site},,",  # unparsed: unknown kind
        f"{t + 6000},CW1,CS1,idle,0.9,{site}",  # unparsed: too few cells
        "",
    ])
    out = run(c_runner + [c_program("takt-send"), "--port", str(server.port), "--batch", "3", "--gateway", "gw-x"], stdin=csv)
    assert out.returncode != 99, out.stderr
    assert out.returncode == 1, out.stdout + out.stderr  # unparsed lines make the exit status 1
    assert counts(out.stdout) == {"accepted": 2, "duplicate": 2, "low_confidence": 1, "invalid": 1, "unknown_entity": 0,
                                  "unparsed": 2, "batches": 2}
    assert "line 8: kind: unknown kind" in out.stderr and "line 9: bad CSV line" in out.stderr
    with Client(server.host, server.port) as c:
        ev = c.list_events(site_id=site).events
        assert sorted((e.event.kind, e.event.count) for e in ev) == [(3, 0), (4, 3)]


def test_c_send_connection_refused():
    out = run([c_program("takt-send"), "--port", "1", "--retries", "0"], stdin='{"event_time_ms": 1, "worker_id": "a"}\n')
    assert out.returncode == 1 and "cannot connect" in out.stderr
    assert counts(out.stdout)["batches"] == 0
