"""Call statuses as exceptions (docs/PROTOCOL.md section 4)."""
from __future__ import annotations

import enum


class StatusCode(enum.IntEnum):
    """gRPC's status codes, as in `takt.v1.StatusCode`."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


# Codes after which an idempotent call may be retried (every Takt method is idempotent).
RETRYABLE = frozenset(
    {StatusCode.CANCELLED, StatusCode.DEADLINE_EXCEEDED, StatusCode.RESOURCE_EXHAUSTED, StatusCode.UNAVAILABLE}
)


def _code(code: int):
    try:
        return StatusCode(code)
    except ValueError:
        return code


class TaktError(Exception):
    """A call ended with a non-OK status.

    `code` is a StatusCode (or the raw int for a code this client does not know), `message` the
    server's (or the client's) explanation, `retry_after_ms` the server's back-off hint (0: none).
    """

    def __init__(self, code: int, message: str = "", retry_after_ms: int = 0):
        self.code = _code(code)
        self.message = message
        self.retry_after_ms = retry_after_ms
        name = self.code.name if isinstance(self.code, StatusCode) else str(self.code)
        text = f"{name}: {message}" if message else name
        if retry_after_ms:
            text += f" (retry after {retry_after_ms} ms)"
        super().__init__(text)

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE


class DeadlineExceededError(TaktError):
    """The call's deadline passed: the server answered DEADLINE_EXCEEDED, or the client stopped
    waiting at the deadline (and sent CANCEL)."""

    def __init__(self, message: str = "deadline exceeded", retry_after_ms: int = 0):
        super().__init__(StatusCode.DEADLINE_EXCEEDED, message, retry_after_ms)


class ConnectionClosedError(TaktError):
    """The connection ended (EOF, I/O error, GOAWAY) before the call was answered.

    `processed` tells whether the server may have processed the call: False when a GOAWAY said
    the call id was above `last_call_id` (safe to retry on a new connection), None when unknown.
    Every Takt method is idempotent, so a retry never double-counts either way.
    """

    def __init__(self, message: str, processed=None, goaway=None):
        super().__init__(StatusCode.UNAVAILABLE, message)
        self.processed = processed
        self.goaway = goaway


class ProtocolError(TaktError):
    """The server broke the protocol (bad preface, oversized frame, unexpected frame)."""

    def __init__(self, message: str):
        super().__init__(StatusCode.INTERNAL, message)


def error_for(code: int, message: str, retry_after_ms: int = 0) -> TaktError:
    if code == StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceededError(message, retry_after_ms)
    return TaktError(code, message, retry_after_ms)
