"""One connection to taktd: preface + HELLO, pipelined calls matched by call id, server streams,
keepalive PINGs and GOAWAY (docs/PROTOCOL.md).

A reader thread owns the receiving side; any thread may start calls (sending is serialized by a
lock). Replies are matched to calls by call id, so many calls may be in flight at once.
"""
from __future__ import annotations

import itertools
import math
import queue
import socket
import threading
import time
from typing import Callable, Optional

from takt.v1 import rpc_pb2

from .errors import ConnectionClosedError, DeadlineExceededError, ProtocolError, StatusCode, TaktError, error_for
from .wire import (
    DEFAULT_MAX_FRAME_SIZE,
    HEADER_SIZE,
    MAX_U32,
    PREFACE,
    PREFACE_SIZE,
    FrameType,
    check_preface,
    decode_header,
    encode_frame,
)

DEFAULT_PORT = 7411


def _timeout_ms(timeout: Optional[float]) -> int:
    """REQUEST `param`: the timeout in whole ms, at least 1 for a positive timeout, 0 for none."""
    if timeout is None:
        return 0
    return min(MAX_U32, max(1, math.ceil(timeout * 1000)))


class _Call:
    """State of one call in flight. Results arrive on `inbox` as (kind, value) pairs:
    ("response", bytes), ("message", bytes), ("status", RpcStatus) or ("error", TaktError)."""

    __slots__ = ("call_id", "method", "stream", "inbox", "deadline", "timeout")

    def __init__(self, call_id: int, method: int, stream: bool, timeout: Optional[float]):
        self.call_id = call_id
        self.method = method
        self.stream = stream
        self.inbox: "queue.Queue" = queue.Queue()
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout


class PendingCall:
    """A unary call in flight (pipelining): `result()` waits for its answer until the call's
    deadline; at the deadline it sends CANCEL and raises DeadlineExceededError."""

    def __init__(self, conn: "Connection", call: _Call, decode: Callable[[bytes], object]):
        self._conn = conn
        self._call = call
        self._decode = decode
        self._outcome = None  # ("ok", value) or ("error", exc)

    @property
    def call_id(self) -> int:
        return self._call.call_id

    def done(self) -> bool:
        return self._outcome is not None or not self._call.inbox.empty()

    def result(self):
        if self._outcome is None:
            self._outcome = self._wait()
        kind, value = self._outcome
        if kind == "error":
            raise value
        return value

    def cancel(self) -> None:
        """Stops waiting: sends CANCEL (the server sends nothing more for this call)."""
        if self._outcome is None:
            self._conn._cancel(self._call)
            self._outcome = ("error", TaktError(StatusCode.CANCELLED, "cancelled by the client"))

    def _wait(self):
        call = self._call
        remaining = None if call.deadline is None else call.deadline - time.monotonic()
        try:
            if remaining is not None and remaining <= 0:
                raise queue.Empty
            kind, value = call.inbox.get(timeout=remaining)
        except queue.Empty:
            self._conn._cancel(call)
            return ("error", DeadlineExceededError(f"no answer within the client deadline of {_timeout_ms(call.timeout)} ms"))
        if kind == "response":
            try:
                return ("ok", self._decode(value))
            except Exception as e:  # undecodable response
                return ("error", ProtocolError(f"undecodable response to method {call.method}: {e}"))
        if kind == "status":
            if value.code == StatusCode.OK:
                return ("error", ProtocolError(f"unary call {call.call_id} ended with STATUS OK and no RESPONSE"))
            return ("error", error_for(value.code, value.message, value.retry_after_ms))
        if kind == "error":
            return ("error", value)
        return ("error", ProtocolError(f"unexpected {kind} for unary call {call.call_id}"))


class Stream:
    """A server stream (e.g. Subscribe). Iterate to receive messages; iteration ends at STATUS OK
    and raises TaktError at an error status. `next(timeout)` raises TimeoutError when nothing
    arrived in time (the stream stays open). `cancel()`/`close()` sends CANCEL."""

    def __init__(self, conn: "Connection", call: _Call, decode: Callable[[bytes], object]):
        self._conn = conn
        self._call = call
        self._decode = decode
        self._finished = False

    @property
    def call_id(self) -> int:
        return self._call.call_id

    def __iter__(self):
        return self

    def __next__(self):
        return self.next()

    def next(self, timeout: Optional[float] = None):
        if self._finished:
            raise StopIteration
        try:
            kind, value = self._call.inbox.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no stream message within {timeout} s") from None
        if kind == "message":
            return self._decode(value)
        self._finished = True
        if kind == "status":
            if value.code == StatusCode.OK:
                raise StopIteration
            raise error_for(value.code, value.message, value.retry_after_ms)
        if kind == "error":
            raise value
        raise ProtocolError(f"unexpected {kind} on stream {self._call.call_id}")

    def cancel(self) -> None:
        if not self._finished:
            self._finished = True
            self._conn._cancel(self._call)

    close = cancel

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cancel()


class Connection:
    """A connection to taktd. Blocks in the constructor until the server's HELLO_ACK arrived
    (or raises TaktError/OSError). Thread-safe; use as a context manager or call close()."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        client_name: str = "takt-python/0.1",
        auth_token: str = "",
        connect_timeout: float = 10.0,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        keepalive: bool = True,
    ):
        self.server_hello: Optional[rpc_pb2.ServerHello] = None
        self.goaway: Optional[rpc_pb2.Goaway] = None
        self._max_frame_size = max_frame_size
        self._calls: dict = {}
        self._lock = threading.Lock()  # guards _calls, _closed, _ids
        self._send_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._closed = False
        self._close_reason: Optional[str] = None
        self._hello_done = threading.Event()
        self._hello_error: Optional[BaseException] = None
        self._last_send = time.monotonic()
        self._in_flight: Optional[threading.BoundedSemaphore] = None
        self._stop = threading.Event()

        self._sock = socket.create_connection((host, port), timeout=connect_timeout)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.settimeout(None)
        hello = rpc_pb2.ClientHello(
            protocol_version=1, client_name=client_name, auth_token=auth_token, max_frame_size=max_frame_size
        )
        self._send(PREFACE + encode_frame(FrameType.HELLO, hello.SerializeToString()))
        self._reader = threading.Thread(target=self._read_loop, name=f"takt-reader-{host}:{port}", daemon=True)
        self._reader.start()
        if not self._hello_done.wait(connect_timeout):
            self.close()
            raise DeadlineExceededError(f"no HELLO_ACK within {connect_timeout} s")
        if self._hello_error is not None:
            self.close()
            raise self._hello_error
        sh = self.server_hello
        self._in_flight = threading.BoundedSemaphore(sh.max_in_flight_calls or 256)
        self._keepalive_ms = sh.keepalive_interval_ms
        if keepalive and self._keepalive_ms > 0:
            threading.Thread(target=self._keepalive_loop, name="takt-keepalive", daemon=True).start()

    # ---- public ----

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def max_frame_size(self) -> int:
        """The largest REQUEST payload the server accepts."""
        return self.server_hello.max_frame_size or DEFAULT_MAX_FRAME_SIZE

    def start_unary(self, method: int, request, decode: Callable[[bytes], object], timeout: Optional[float]) -> PendingCall:
        call = self._start(method, request, timeout, stream=False)
        return PendingCall(self, call, decode)

    def unary(self, method: int, request, decode: Callable[[bytes], object], timeout: Optional[float]):
        return self.start_unary(method, request, decode, timeout).result()

    def stream(self, method: int, request, decode: Callable[[bytes], object], timeout: Optional[float] = None) -> Stream:
        call = self._start(method, request, timeout, stream=True)
        return Stream(self, call, decode)

    def ping(self, value: int = 0) -> None:
        self._send(encode_frame(FrameType.PING, param=value & MAX_U32))

    def close(self, goaway: bool = False) -> None:
        """Closes the connection; calls still in flight fail with ConnectionClosedError.
        With goaway=True, sends GOAWAY first (the server answers the calls in flight, then closes)
        and waits up to 10 s for the server to close."""
        if goaway and not self._closed:
            g = rpc_pb2.Goaway(last_call_id=0, code=StatusCode.OK, reason="client closing")
            try:
                self._send(encode_frame(FrameType.GOAWAY, g.SerializeToString()))
                self._reader.join(10)
            except (OSError, TaktError):
                pass
        self._shutdown("connection closed by the client")
        if threading.current_thread() is not self._reader and self._reader.is_alive():
            self._reader.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- calls ----

    def _start(self, method: int, request, timeout: Optional[float], stream: bool) -> _Call:
        payload = request.SerializeToString()
        if len(payload) > self.max_frame_size:
            raise TaktError(
                StatusCode.INVALID_ARGUMENT,
                f"request of {len(payload)} bytes exceeds the server's max_frame_size {self.max_frame_size}",
            )
        if self.goaway is not None:
            raise ConnectionClosedError(f"server sent GOAWAY: {self.goaway.reason}", processed=False, goaway=self.goaway)
        if not self._in_flight.acquire(timeout=None if timeout is None else max(timeout, 0)):
            raise DeadlineExceededError("deadline passed while waiting for a free call slot (max_in_flight_calls)")
        call = _Call(0, method, stream, timeout)
        with self._lock:
            if self._closed:
                self._in_flight.release()
                raise ConnectionClosedError(self._close_reason or "connection closed")
            while True:
                cid = next(self._ids) & MAX_U32
                if cid != 0 and cid not in self._calls:
                    break
                if cid == 0:  # wrapped
                    self._ids = itertools.count(1)
            call.call_id = cid
            self._calls[cid] = call
        try:
            self._send(
                encode_frame(FrameType.REQUEST, payload, method=method, call_id=cid, param=_timeout_ms(timeout))
            )
        except BaseException:
            self._finish(cid)
            raise
        return call

    def _finish(self, call_id: int) -> Optional[_Call]:
        """Removes a call from the in-flight table (exactly once) and frees its slot."""
        with self._lock:
            call = self._calls.pop(call_id, None)
        if call is not None:
            self._in_flight.release()
        return call

    def _cancel(self, call: _Call) -> None:
        if self._finish(call.call_id) is not None and not self._closed:
            try:
                self._send(encode_frame(FrameType.CANCEL, call_id=call.call_id))
            except (OSError, TaktError):
                pass

    # ---- sending ----

    def _send(self, data: bytes) -> None:
        with self._send_lock:
            if self._closed:
                raise ConnectionClosedError(self._close_reason or "connection closed")
            try:
                self._sock.sendall(data)
            except OSError as e:
                self._shutdown(f"send failed: {e}")
                raise ConnectionClosedError(f"send failed: {e}") from e
            self._last_send = time.monotonic()

    def _keepalive_loop(self) -> None:
        half = self._keepalive_ms / 2000.0
        n = 0
        while not self._stop.wait(min(half / 2, 1.0)):
            if time.monotonic() - self._last_send >= half:
                n += 1
                try:
                    self.ping(n)
                except (OSError, TaktError):
                    return

    # ---- receiving (reader thread) ----

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self._sock.recv(min(n - len(buf), 1 << 20))
            if not chunk:
                raise EOFError
            buf += chunk
        return bytes(buf)

    def _read_loop(self) -> None:
        reason = "connection closed by the server"
        try:
            try:
                check_preface(self._recv_exact(PREFACE_SIZE))
            except ValueError as e:
                raise ProtocolError(f"server preface: {e}") from e
            while True:
                length, ftype, flags, method, call_id, param = decode_header(self._recv_exact(HEADER_SIZE))
                if length > self._max_frame_size:
                    raise ProtocolError(f"server frame of {length} bytes exceeds our max_frame_size {self._max_frame_size}")
                payload = self._recv_exact(length) if length else b""
                self._dispatch(ftype, call_id, param, payload)
        except EOFError:
            pass
        except ProtocolError as e:
            reason = e.message
            self._protocol_goaway(e.message)
        except OSError as e:
            reason = f"connection error: {e}"
        except Exception as e:  # undecodable connection-level payload etc.
            reason = f"protocol error: {e}"
            self._protocol_goaway(reason)
        finally:
            if not self._hello_done.is_set():
                if self.goaway is not None:
                    self._hello_error = error_for(self.goaway.code or StatusCode.UNAVAILABLE, self.goaway.reason)
                else:
                    self._hello_error = ConnectionClosedError(f"no HELLO_ACK: {reason}")
                self._hello_done.set()
            self._shutdown(reason)

    def _protocol_goaway(self, reason: str) -> None:
        g = rpc_pb2.Goaway(last_call_id=0, code=StatusCode.INVALID_ARGUMENT, reason=reason[:200])
        try:
            self._send(encode_frame(FrameType.GOAWAY, g.SerializeToString()))
        except (OSError, TaktError):
            pass

    def _dispatch(self, ftype: int, call_id: int, param: int, payload: bytes) -> None:
        if ftype == FrameType.HELLO_ACK:
            if self._hello_done.is_set():
                raise ProtocolError("second HELLO_ACK")
            self.server_hello = rpc_pb2.ServerHello.FromString(payload)
            self._hello_done.set()
        elif ftype == FrameType.RESPONSE:
            call = self._finish(call_id)
            if call is not None:  # None: cancelled or timed out; the late answer is dropped
                call.inbox.put(("response", payload))
        elif ftype == FrameType.STREAM_MESSAGE:
            with self._lock:
                call = self._calls.get(call_id)
            if call is not None:
                call.inbox.put(("message", payload))
        elif ftype == FrameType.STATUS:
            status = rpc_pb2.RpcStatus.FromString(payload)
            call = self._finish(call_id)
            if call is not None:
                call.inbox.put(("status", status))
        elif ftype == FrameType.PING:
            try:
                self._send(encode_frame(FrameType.PONG, param=param))
            except TaktError:
                pass
        elif ftype == FrameType.PONG:
            pass
        elif ftype == FrameType.GOAWAY:
            g = rpc_pb2.Goaway.FromString(payload)
            self.goaway = g
            # Calls above last_call_id were not processed: fail them now (retryable on a new
            # connection); calls at or below it are still answered before the server closes.
            with self._lock:
                unprocessed = [cid for cid in self._calls if cid > g.last_call_id]
            for cid in unprocessed:
                call = self._finish(cid)
                if call is not None:
                    call.inbox.put(
                        ("error", ConnectionClosedError(f"GOAWAY ({g.reason}): call not processed", processed=False, goaway=g))
                    )
        else:
            raise ProtocolError(f"unexpected frame type {ftype} from the server")

    def _shutdown(self, reason: str) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._close_reason = reason
            calls = list(self._calls.values())
            self._calls.clear()
        self._stop.set()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        g = self.goaway
        for call in calls:
            self._in_flight.release() if self._in_flight is not None else None
            processed = None
            if g is not None and call.call_id > g.last_call_id:
                processed = False
            call.inbox.put(("error", ConnectionClosedError(reason, processed=processed, goaway=g)))
