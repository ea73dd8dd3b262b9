"""The Python client against real taktd processes (issue 8)."""
from __future__ import annotations

import math
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest
from conftest import (
    REPO,
    WORKED_EVENTS,
    WORKED_FACTORY,
    WORKED_WINDOW,
    WORKED_WORKER,
    WORKED_WORKSTATION,
    assert_metrics_equal,
    c_program,
    sigstop,
)

from takt_client import (
    Client,
    ConnectionClosedError,
    DeadlineExceededError,
    Method,
    StatusCode,
    TaktError,
    events_pb2,
    make_event,
    result_code_name,
    rpc_pb2,
)
from takt_client.wire import PREFACE, FrameType, encode_frame

H = 3_600_000


def now_ms() -> int:
    return int(time.time() * 1000)


def names(codes) -> list:
    return [result_code_name(c) for c in codes]


def fields(msg, keys) -> dict:
    return {k: getattr(msg, k) for k in keys}


def test_hello_and_health(server):
    with Client(server.host, server.port) as c:
        sh = c.server_hello
        assert sh.protocol_version == 1
        assert sh.max_frame_size == 4 * 1024 * 1024
        assert sh.max_batch_events == 10000
        assert sh.max_in_flight_calls == 256
        assert c.health() == rpc_pb2.HealthCheckResponse.SERVING


def test_protocol_example_bytes(server):
    """Section 8 of PROTOCOL.md, byte by byte, over a raw socket."""
    with socket.create_connection((server.host, server.port), timeout=5) as s:
        s.sendall(bytes.fromhex("54414B5400010000" "00000005010000000000000000000000" "0801120178"))
        s.sendall(bytes.fromhex("00000000030000010000000700" "0003E8"))
        data = b""
        while True:
            chunk = s.recv(4096)
            assert chunk, "server closed"
            data += chunk
            # preface + HELLO_ACK + RESPONSE(7) = 8 + (16 + n) + 18
            if len(data) >= 8 + 16:
                (n,) = struct.unpack(">I", data[8:12])
                if len(data) >= 8 + 16 + n + 18:
                    break
        assert data[:8] == PREFACE
        assert data[12] == FrameType.HELLO_ACK
        (n,) = struct.unpack(">I", data[8:12])
        resp = data[8 + 16 + n:]
        assert resp == bytes.fromhex("00000002" "04" "00" "0000" "00000007" "00000000" "0801")


def test_batch_codes_duplicates_and_invalid(server):
    t0 = now_ms() - H
    site = "py-ingest"
    events = [
        make_event(t0, "PW1", "PS1", "working", 0.9, site_id=site),  # 0 ACCEPTED
        make_event(t0 + 60_000, "PW1", "PS1", "product_count", 0.95, count=2, site_id=site),  # 1 ACCEPTED
        make_event(t0, "PW1", "PS1", "working", 0.9, site_id=site),  # 2 DUPLICATE of 0 (same identity)
        make_event(t0 + 1, "", "PS1", "idle", 0.9, site_id=site),  # 3 INVALID: worker_id
        make_event(t0 + 2, "PW1", "PS1", "idle", 1.5, site_id=site),  # 4 INVALID: confidence
        make_event(t0 + 3, "PW1", "PS1", 0, 0.9, site_id=site),  # 5 INVALID: kind unspecified
        make_event(t0 + 4, "P W1", "PS1", "idle", 0.9, site_id=site),  # 6 INVALID: id alphabet
        make_event(now_ms() + H, "PW1", "PS1", "idle", 0.9, site_id=site),  # 7 INVALID: future
        make_event(t0 + 5, "PW1", "PS1", "idle", float("nan"), site_id=site),  # 8 INVALID: NaN
        make_event(t0 + 6, "PW1", "PS1", "idle", 0.5, site_id=site),  # 9 LOW_CONFIDENCE
        make_event(t0 + 7, "PW1", "PS1", "idle", 0.8, site_id=site, gateway_id="gw-py", sequence=1),  # 10 ACCEPTED
        make_event(t0 + 8, "PW1", "PS1", "idle", 0.8, site_id=site, gateway_id="gw-py", sequence=1),  # 11 ACCEPTED (identity decides)
    ]
    with Client(server.host, server.port) as c:
        ack = c.submit_batch(events)
        assert names(ack.codes) == [
            "ACCEPTED", "ACCEPTED", "DUPLICATE", "INVALID", "INVALID", "INVALID", "INVALID", "INVALID",
            "INVALID", "LOW_CONFIDENCE", "ACCEPTED", "ACCEPTED",
        ]
        assert (ack.accepted, ack.duplicate, ack.invalid, ack.low_confidence, ack.unknown_entity) == (4, 1, 6, 1, 0)
        rej = {r.index: r for r in ack.rejections}
        assert sorted(rej) == [2, 3, 4, 5, 6, 7, 8, 9]
        assert "worker_id" in rej[3].message
        assert "confidence" in rej[4].message
        assert "kind" in rej[5].message
        assert "worker_id" in rej[6].message
        assert "event_time_ms" in rej[7].message
        assert "confidence" in rej[8].message

        # Resubmitting: every stored event is now a DUPLICATE; the rejected ones are rejected again.
        again = c.submit_batch(events)
        assert names(again.codes) == [
            "DUPLICATE", "DUPLICATE", "DUPLICATE", "INVALID", "INVALID", "INVALID", "INVALID", "INVALID",
            "INVALID", "LOW_CONFIDENCE", "DUPLICATE", "DUPLICATE",
        ]
        # The batch-level gateway_id is the default for events without one; the key is stored with the event.
        b1 = c.submit_batch([make_event(t0 + 9, "PW1", "PS1", "idle", 0.8, site_id=site, sequence=7)], gateway_id="gw-b")
        assert names(b1.codes) == ["ACCEPTED"]
        stored = c.list_events(site_id=site, from_ms=t0 + 9, to_ms=t0 + 10).events
        assert [(e.event.event_time_ms, e.event.gateway_id, e.event.sequence) for e in stored] == [(t0 + 9, "gw-b", 7)]


def test_submit_event(server):
    t = now_ms() - 2 * H
    with Client(server.host, server.port) as c:
        e = make_event(t, "PW2", "PS2", "working", 0.91, site_id="py-single")
        assert c.submit_event(e).code == events_pb2.RESULT_CODE_ACCEPTED
        dup = c.submit_event(e)
        assert dup.code == events_pb2.RESULT_CODE_DUPLICATE and dup.message
        bad = c.submit_event({"event_time_ms": t, "worker_id": "PW2", "workstation_id": "", "kind": "idle", "confidence": 0.9})
        assert bad.code == events_pb2.RESULT_CODE_INVALID and "workstation_id" in bad.message


def _ingest_worked_example(c: Client, site: str):
    evs = [make_event(t, w, s, k, conf, count=n, site_id=site) for (t, w, s, k, conf, n) in WORKED_EVENTS]
    ack = c.submit_batch(evs)
    assert names(ack.codes) == ["ACCEPTED"] * len(evs)


def test_metrics_match_spec_and_c_client(server):
    """Factory, worker and workstation metrics of the spec's worked example: the Python client's
    numbers equal the spec's expected values and the C client's numbers for the same query."""
    site = "py-worked"
    frm, to = WORKED_WINDOW
    with Client(server.host, server.port) as c:
        _ingest_worked_example(c, site)
        r = c.query_metrics("all", from_ms=frm, to_ms=to, site_id=site)
        assert (r.from_ms, r.to_ms) == (frm, to)
        workers = c.worker_metrics(from_ms=frm, to_ms=to, site_id=site)
        stations = c.workstation_metrics(from_ms=frm, to_ms=to, site_id=site)
        factory = c.factory_metrics(from_ms=frm, to_ms=to, site_id=site)
    assert len(workers) == 1 and workers[0].site_id == site
    w = fields(workers[0], WORKED_WORKER)
    assert_metrics_equal(w, WORKED_WORKER, "worker")
    assert len(stations) == 1
    assert_metrics_equal(fields(stations[0], WORKED_WORKSTATION), WORKED_WORKSTATION, "workstation")
    f = fields(factory, WORKED_FACTORY)
    assert_metrics_equal(f, WORKED_FACTORY, "factory")
    # ALL returns the same numbers as the single scopes
    assert fields(r.workers[0], WORKED_WORKER) == w and fields(r.factory, WORKED_FACTORY) == f

    # The C client, same server and query
    import json

    out = subprocess.run(
        [c_program("takt-client-test"), server.host, str(server.port), "metrics", site, str(frm), str(to)],
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    cm = json.loads(out.stdout)
    assert cm["factory"] == f  # %.17g round-trips doubles exactly
    assert len(cm["workers"]) == 1 and {k: cm["workers"][0][k] for k in WORKED_WORKER} == w


def test_timeline_and_model_health(server):
    site = "py-timeline"
    frm, to = WORKED_WINDOW
    with Client(server.host, server.port) as c:
        _ingest_worked_example(c, site)
        rows = c.timeline("worker", from_ms=frm, to_ms=to, site_id=site, bucket_ms=60_000)
        assert len(rows) == 1 and rows[0].entity_id == "W1" and len(rows[0].buckets) == 12
        assert sum(b.working_ms for b in rows[0].buckets) == WORKED_WORKER["working_ms"]
        assert sum(b.idle_ms for b in rows[0].buckets) == WORKED_WORKER["idle_ms"]
        assert sum(b.units for b in rows[0].buckets) == WORKED_WORKER["units"]
        mh = c.model_health(from_ms=frm, to_ms=to + 1, site_id=site)
        assert mh.model_health_overall.overall


def test_pipelining_matches_replies_by_call_id(server):
    """Many calls in flight on one connection; each answer belongs to its own call."""
    t0 = now_ms() - 3 * H
    with Client(server.host, server.port) as c:
        pending = []
        for i in range(60):
            if i % 3 == 0:
                ev = make_event(t0 + i, f"PP{i}", "PPS", "idle", 0.9, site_id="py-pipe")  # ACCEPTED
            elif i % 3 == 1:
                ev = make_event(t0 + i, f"PP{i}", "", "idle", 0.9, site_id="py-pipe")  # INVALID workstation_id
            else:
                ev = make_event(t0 + i, "", f"PPS{i}", "idle", 0.9, site_id="py-pipe")  # INVALID worker_id
            pending.append((i, c.submit_event_async(ev)))
            if i % 10 == 5:
                pending.append((-1, c.query_metrics_async(rpc_like_query())))
        ids = [p.call_id for _, p in pending]
        assert len(set(ids)) == len(ids)
        for i, p in pending:
            r = p.result()
            if i < 0:
                assert r.from_ms > 0
            elif i % 3 == 0:
                assert r.code == events_pb2.RESULT_CODE_ACCEPTED
            elif i % 3 == 1:
                assert r.code == events_pb2.RESULT_CODE_INVALID and "workstation_id" in r.message
            else:
                assert r.code == events_pb2.RESULT_CODE_INVALID and "worker_id" in r.message
        # Many batches pipelined through submit_many
        codes = c.submit_many([make_event(t0 + 1000 + i, "PPM", "PPMS", "idle", 0.9, site_id="py-pipe") for i in range(250)], batch_size=40)
        assert names(codes) == ["ACCEPTED"] * 250


def rpc_like_query():
    from takt_client import metrics_pb2

    return metrics_pb2.MetricsQuery(scope=metrics_pb2.METRICS_SCOPE_FACTORY)


def test_deadline_expires_while_server_stopped(own_server):
    with Client(own_server.host, own_server.port, keepalive=False) as c:
        assert c.health() == 1
        sigstop(own_server.pid)
        try:
            start = time.monotonic()
            with pytest.raises(DeadlineExceededError) as ei:
                c.health(timeout=0.3)
            took = time.monotonic() - start
            assert ei.value.code == StatusCode.DEADLINE_EXCEEDED and ei.value.retryable
            assert 0.29 <= took < 3.0
            # two pipelined calls started while stopped time out independently, each at its deadline
            p1 = c.submit_event_async(make_event(now_ms() - H, "PD1", "PDS", "idle", 0.9), timeout=0.2)
            p2 = c.query_metrics_async(rpc_like_query(), timeout=0.4)
            for p in (p1, p2):
                with pytest.raises(DeadlineExceededError):
                    p.result()
            assert 0.39 <= time.monotonic() - start - took < 3.0
        finally:
            os.kill(own_server.pid, signal.SIGCONT)
        # The connection still works; a late answer to the cancelled call is dropped.
        assert c.health(timeout=5) == 1
        assert c.stats(timeout=5).uptime_ms >= 0


def test_deadline_tiny_timeout_on_big_query(server):
    """A 1 ms deadline on a large timeline query: the client gives up (DEADLINE_EXCEEDED, local or
    from the server) and the connection stays usable."""
    t0 = now_ms() - 20 * H
    with Client(server.host, server.port) as c:
        evs = [make_event(t0 + i * 7_000, f"PBIG{i % 50}", f"PBS{i % 20}", ("working", "idle", "product_count")[i % 3], 0.9,
                          count=1, site_id="py-big") for i in range(9000)]
        assert names(c.submit_many(evs, batch_size=3000)).count("ACCEPTED") == 9000
        hits = 0
        for _ in range(5):
            try:
                c.query_metrics("timeline", timeline_subject="worker", bucket_ms=60_000, site_id="py-big", timeout=0.001)
            except DeadlineExceededError:
                hits += 1
        assert hits >= 1
        assert c.health(timeout=5) == 1


def test_status_errors_are_exceptions(server, limited_server):
    with Client(server.host, server.port) as c:
        t = now_ms()
        with pytest.raises(TaktError) as ei:
            c.query_metrics("workers", from_ms=t - 1000, to_ms=t - 2000)
        assert ei.value.code == StatusCode.INVALID_ARGUMENT and "from_ms" in ei.value.message
        assert not ei.value.retryable
        with pytest.raises(TaktError) as ei:
            c.query_metrics(0)
        assert ei.value.code == StatusCode.INVALID_ARGUMENT
        with pytest.raises(TaktError) as ei:
            c.connection.unary(999, rpc_pb2.HealthCheckRequest(), rpc_pb2.HealthCheckResponse.FromString, 5)
        assert ei.value.code == StatusCode.UNIMPLEMENTED
        assert c.health() == 1  # the connection stays
    with Client(limited_server.host, limited_server.port) as c:
        assert c.server_hello.max_batch_events == 10
        evs = [make_event(now_ms() - H + i, "PL1", "PLS", "idle", 0.9) for i in range(11)]
        with pytest.raises(TaktError) as ei:
            c.submit_batch(evs)
        assert ei.value.code == StatusCode.INVALID_ARGUMENT and "10" in ei.value.message
        assert names(c.submit_batch(evs[:10]).codes) == ["ACCEPTED"] * 10
        # submit_many splits by the server's max_batch_events
        assert names(c.submit_many(evs)) == ["DUPLICATE"] * 10 + ["ACCEPTED"]


def test_strict_mode_unknown_entity_and_registry(strict_server):
    t = now_ms() - H
    with Client(strict_server.host, strict_server.port) as c:
        assert c.stats().strict
        ack = c.submit_batch([make_event(t, "PSW1", "PSS1", "working", 0.9, site_id="py-strict")])
        assert names(ack.codes) == ["UNKNOWN_ENTITY"] and ack.unknown_entity == 1
        assert ack.rejections[0].message
        up = c.upsert_workers([{"site_id": "py-strict", "worker_id": "PSW1", "name": "Ada", "shift": "A"}])
        assert up.created == 1
        up = c.upsert_workstations([{"site_id": "py-strict", "workstation_id": "PSS1", "name": "Press 1"}])
        assert up.created == 1
        assert c.upsert_workers([{"site_id": "py-strict", "worker_id": "PSW1", "name": "Ada L."}]).updated == 1
        ws = c.list_workers("py-strict")
        assert [(w.worker_id, w.name) for w in ws] == [("PSW1", "Ada L.")]
        assert [s.workstation_id for s in c.list_workstations("py-strict")] == ["PSS1"]
        assert any(s.site_id == "py-strict" and s.workers == 1 and s.workstations == 1 for s in c.list_sites())
        ack = c.submit_batch([
            make_event(t, "PSW1", "PSS1", "working", 0.9, site_id="py-strict"),
            make_event(t, "PSW2", "PSS1", "working", 0.9, site_id="py-strict"),
        ])
        assert names(ack.codes) == ["ACCEPTED", "UNKNOWN_ENTITY"]


def _wait_for(cond, timeout=10.0, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return False


def test_live_subscription(server):
    site = "py-live"
    with Client(server.host, server.port) as c, Client(server.host, server.port) as other:
        before = c.stats().subscribers
        with c.subscribe(site_id=site, kinds=["working", "idle"]) as sub:
            # The server sends nothing when a subscription starts: wait until it is registered.
            assert _wait_for(lambda: other.stats().subscribers > before)
            t = now_ms()
            other.submit_batch([
                make_event(t - 1000, "PLV2", "PLVS", "working", 0.9, site_id="elsewhere"),  # other site
                make_event(t - 1000, "PLV1", "PLVS", "product_count", 0.9, site_id=site),  # other kind
                make_event(t - 1000, "PLV1", "PLVS", "working", 0.93, site_id=site),
            ])
            msg = sub.next(timeout=5)
            assert [(e.event.worker_id, e.event.kind, e.event.site_id) for e in msg.events] == [
                ("PLV1", events_pb2.EVENT_KIND_WORKING, site)
            ]
            assert msg.dropped == 0 and msg.events[0].sequence > 0 and msg.events[0].received_at_ms > 0
            # and a second commit, as a single event
            other.submit_event(make_event(t - 500, "PLV1", "PLVS", "idle", 0.91, site_id=site))
            msg = sub.next(timeout=5)
            assert [e.event.kind for e in msg.events] == [events_pb2.EVENT_KIND_IDLE]
            with pytest.raises(TimeoutError):
                sub.next(timeout=0.2)
        # CANCEL ended the subscription on the server
        assert _wait_for(lambda: other.stats().subscribers == before)
        assert c.health() == 1


def test_list_events_and_stats(server):
    t = now_ms() - 5 * H
    with Client(server.host, server.port) as c:
        c.submit_batch([make_event(t + i * 1000, "PLE1", "PLES", "idle", 0.9, site_id="py-list") for i in range(5)])
        page = c.list_events(site_id="py-list", page_size=3)
        assert [e.event.event_time_ms for e in page.events] == [t + 4000, t + 3000, t + 2000]
        assert page.next_page_token
        rest = c.list_events(site_id="py-list", page_size=3, page_token=page.next_page_token)
        assert [e.event.event_time_ms for e in rest.events] == [t + 1000, t]
        st = c.stats()
        assert st.events_stored >= 5 and st.connections_open >= 1
        assert any(m.method == Method.SUBMIT_BATCH and m.calls > 0 for m in st.methods)


def test_goaway_on_server_shutdown(own_server):
    with Client(own_server.host, own_server.port) as c:
        assert c.health() == 1
        own_server.proc.terminate()  # SIGTERM: GOAWAY(OK), then close
        assert _wait_for(lambda: c.connection.closed, timeout=15)
        g = c.connection.goaway
        assert g is not None and g.code == StatusCode.OK
        with pytest.raises(ConnectionClosedError) as ei:
            c.health(timeout=2)
        assert ei.value.code == StatusCode.UNAVAILABLE and ei.value.retryable
        own_server.proc.wait(15)


def test_bad_preface_gets_goaway(server):
    with socket.create_connection((server.host, server.port), timeout=5) as s:
        s.sendall(b"TAKX\x00\x01\x00\x00" + encode_frame(FrameType.HELLO, rpc_pb2.ClientHello(protocol_version=1).SerializeToString()))
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    assert data[:8] == PREFACE
    assert data[12] == FrameType.GOAWAY
    (n,) = struct.unpack(">I", data[8:12])
    g = rpc_pb2.Goaway.FromString(data[24:24 + n])
    assert g.code == StatusCode.INVALID_ARGUMENT and g.reason


def test_example_script(server):
    env = dict(os.environ, PYTHONPATH=str(REPO / "clients" / "python"))
    out = subprocess.run([sys.executable, "-m", "takt_client.example", "--port", str(server.port), "--site", "py-example"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "DUPLICATE" in out.stdout and "INVALID" in out.stdout and "live:" in out.stdout


def test_package_installs(tmp_path):
    """The package (client + generated takt.v1 modules) installs and imports outside the tree."""
    import shutil

    target = tmp_path / "site"
    src = tmp_path / "src"  # a copy: setuptools writes build/ and *.egg-info next to the sources
    shutil.copytree(REPO / "clients" / "python", src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                        "--no-index", "--target", str(target), str(src)],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    if r.returncode != 0 and ("No module named pip" in r.stderr or "setuptools" in r.stderr):
        pytest.skip(f"pip/setuptools unusable here: {r.stderr[-300:]}")
    assert r.returncode == 0, r.stderr
    check = "import takt_client, takt.v1.service_pb2 as s; print(takt_client.Client.__name__, s.DESCRIPTOR.name)"
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=tmp_path,
                         env=dict(os.environ, PYTHONPATH=str(target)), timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["Client", "takt/v1/service.proto"]


def test_keepalive_pings_keep_an_idle_connection_open():
    """With --keepalive-ms 400 the server closes connections silent for 800 ms (GOAWAY
    UNAVAILABLE); the client's PINGs every half interval keep its connection open."""
    from conftest import TaktServer

    s = TaktServer("--keepalive-ms", "400")
    try:
        with Client(s.host, s.port) as pinging, Client(s.host, s.port, keepalive=False) as silent:
            assert pinging.server_hello.keepalive_interval_ms == 400
            assert _wait_for(lambda: silent.connection.closed, timeout=10)
            assert silent.connection.goaway is not None and silent.connection.goaway.code == StatusCode.UNAVAILABLE
            with pytest.raises(ConnectionClosedError):
                silent.health(timeout=1)
            assert not pinging.connection.closed
            assert pinging.health(timeout=2) == 1
    finally:
        s.stop()


def _takt_cli():
    import shutil as _sh

    cli = os.environ.get("TAKT_CLI") or (os.path.join(os.path.dirname(os.environ["TAKTD"]), "takt") if os.environ.get("TAKTD") else None)
    if not cli or not os.path.exists(cli):
        cli = _sh.which("takt")
    if not cli:
        pytest.skip("takt CLI not built")
    probe = subprocess.run([cli, "metrics", "workers", "--help"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0 or "--json" not in probe.stdout + probe.stderr:
        pytest.skip("takt CLI has no `metrics workers --json` yet")
    return cli


def test_metrics_match_takt_cli_json(server):
    """The Python client's worker and factory metrics equal what `takt metrics ... --json` reports
    for the same window (the CLI uses the spec's field names)."""
    import json

    cli = _takt_cli()
    site = "py-cli"
    frm, to = WORKED_WINDOW
    with Client(server.host, server.port) as c:
        _ingest_worked_example(c, site)
        workers = c.worker_metrics(from_ms=frm, to_ms=to, site_id=site)
        factory = c.factory_metrics(from_ms=frm, to_ms=to, site_id=site)
    common = ["--json", "--server", f"{server.host}:{server.port}", "--from", str(frm), "--to", str(to), "--site", site]
    out = subprocess.run([cli, "metrics", "workers", *common], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    cli_workers = json.loads(out.stdout)["workers"]
    assert len(cli_workers) == len(workers) == 1
    assert_metrics_equal(cli_workers[0], fields(workers[0], WORKED_WORKER), "takt --json worker")
    out = subprocess.run([cli, "metrics", "factory", *common], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    assert_metrics_equal(json.loads(out.stdout)["factory"], fields(factory, WORKED_FACTORY), "takt --json factory")


def test_pipelining_respects_max_in_flight_calls():
    """With --max-in-flight 4 the client holds extra calls back instead of drawing
    RESOURCE_EXHAUSTED: 40 pipelined calls all succeed."""
    from conftest import TaktServer

    s = TaktServer("--max-in-flight", "4")
    try:
        with Client(s.host, s.port) as c:
            assert c.server_hello.max_in_flight_calls == 4
            results = []

            def worker(k):
                t0 = now_ms() - H
                for i in range(10):
                    results.append(c.submit_event(make_event(t0 + k * 100 + i, f"PIF{k}", "PIFS", "idle", 0.9), timeout=None).code)

            threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
            pending = [c.query_metrics_async(rpc_like_query(), timeout=None) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert all(p.result().from_ms > 0 for p in pending)
            assert results == [events_pb2.RESULT_CODE_ACCEPTED] * 40
    finally:
        s.stop()
