"""Fixtures: real taktd processes on 127.0.0.1 port 0 with temporary data directories.

The server binary is $TAKTD, else `taktd` in `swift build --show-bin-path` (scripts/test-clients.sh
sets TAKTD). The C programs are taken from $TAKT_C_BUILD (default clients/c/build).
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "clients" / "python"))

C_BUILD = Path(os.environ.get("TAKT_C_BUILD", REPO / "clients" / "c" / "build"))


def taktd_path() -> str:
    if os.environ.get("TAKTD"):
        return os.environ["TAKTD"]
    bin_path = subprocess.run(
        ["swift", "build", "--show-bin-path"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.strip()
    return os.path.join(bin_path, "taktd")


class TaktServer:
    """One taktd process. `port`, `pid`; stop() sends SIGTERM and waits (SIGKILL after 15 s)."""

    def __init__(self, *flags: str):
        self.data_dir = tempfile.mkdtemp(prefix="takt-clients-")
        self.log_path = os.path.join(self.data_dir, "taktd.log")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [taktd_path(), "--listen", "127.0.0.1:0", "--data-dir", self.data_dir, *flags],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.port = self._wait_for_port(30)
        self.host = "127.0.0.1"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _wait_for_port(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log_path) as f:
                for line in f:
                    m = re.search(r"\bport=(\d+)", line)
                    if m and "listening" in line:
                        return int(m.group(1))
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"taktd did not report its port; log:\n{open(self.log_path).read()}")

    def log(self) -> str:
        with open(self.log_path) as f:
            return f.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGCONT)
                self.proc.terminate()
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def server():
    s = TaktServer()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def strict_server():
    s = TaktServer("--strict")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def limited_server():
    s = TaktServer("--max-batch", "10")
    yield s
    s.stop()


@pytest.fixture
def own_server():
    """A server for one test (SIGSTOP, shutdown)."""
    s = TaktServer()
    yield s
    s.stop()


# The spec's worked example (shared/vectors/worked-example.json, spec/metrics.md): events and the
# metrics any correct service returns for the window.
WORKED_WINDOW = (1764151200000, 1764151920000)
WORKED_EVENTS = [
    (1764151200000, "W1", "S1", "working", 0.9, 0),
    (1764151320000, "W1", "S1", "product_count", 0.9, 3),
    (1764151500000, "W1", "S1", "product_count", 0.9, 2),
    (1764151620000, "W1", "S1", "idle", 0.9, 0),
    (1764151800000, "W1", "S1", "product_count", 0.9, 1),
    (1764151920000, "W1", "S1", "working", 0.9, 0),
]
WORKED_WORKER = {
    "worker_id": "W1", "working_ms": 420000, "idle_ms": 300000, "absent_ms": 0,
    "utilization_pct": 58.333333333333336, "units": 5, "units_outside_working": 1,
    "units_per_hour": 42.857142857142854, "last_seen_ms": 1764151800000,
}
WORKED_WORKSTATION = {
    "workstation_id": "S1", "occupancy_ms": 720000, "working_ms": 420000, "utilization_pct": 100.0,
    "units": 5, "throughput_per_hour": 25.0, "last_activity_ms": 1764151800000,
}
WORKED_FACTORY = {
    "active_workers": 1, "active_workstations": 1, "total_working_ms": 420000, "total_units": 5,
    "avg_utilization_pct": 58.333333333333336, "avg_units_per_hour": 42.857142857142854,
}


def assert_metrics_equal(got: dict, want: dict, what: str) -> None:
    """Integers exactly, doubles to 1e-9 relative (the vectors' rule)."""
    for k, v in want.items():
        assert k in got, f"{what}: missing {k}"
        if isinstance(v, float):
            assert got[k] == pytest.approx(v, rel=1e-9, abs=1e-12), f"{what}.{k}: {got[k]} != {v}"
        else:
            assert got[k] == v, f"{what}.{k}: {got[k]!r} != {v!r}"


def valgrind_cmd() -> list:
    return ["valgrind", "--quiet", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect,possible",
            "--error-exitcode=99", "--track-fds=no"]


@pytest.fixture(params=["plain", "valgrind"])
def c_runner(request):
    """Prefix for running the C programs: directly, and under valgrind (exit 99 = memory errors/leaks)."""
    if request.param == "valgrind":
        if shutil.which("valgrind") is None:
            pytest.skip("valgrind not installed")
        return valgrind_cmd()
    return []


def c_program(name: str) -> str:
    p = C_BUILD / name
    if not p.exists():
        pytest.fail(f"{p} not built (make -C clients/c)")
    return str(p)


def _all_threads_stopped(pid: int) -> bool:
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            if state not in ("T", "t"):
                return False
        return True
    except FileNotFoundError:
        return False


def sigstop(pid: int, timeout: float = 5.0) -> None:
    """SIGSTOP and wait until every thread of the process is stopped (kill() returns before)."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + timeout
    while not _all_threads_stopped(pid):
        if time.monotonic() > deadline:
            raise RuntimeError(f"process {pid} did not stop")
        time.sleep(0.005)
