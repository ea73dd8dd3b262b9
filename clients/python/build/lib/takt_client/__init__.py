"""Python client of the Takt service (docs/PROTOCOL.md): connection preface and HELLO, pipelined
unary calls with deadlines, server streams, statuses as exceptions.

    from takt_client import Client, make_event
    with Client("127.0.0.1", 7411) as c:
        ack = c.submit_batch([make_event(t, "W1", "S1", "working", 0.9)])
        print(c.worker_metrics(from_ms=t0, to_ms=t1))
"""
from takt.v1 import events_pb2, metrics_pb2, registry_pb2, rpc_pb2  # noqa: F401  (re-exported)

from .client import Client, call_with_retry, event_kind, make_event, result_code_name
from .connection import Connection, PendingCall, Stream
from .errors import ConnectionClosedError, DeadlineExceededError, ProtocolError, StatusCode, TaktError
from .wire import FrameType, Method

__version__ = "0.1.0"
__all__ = [
    "Client", "Connection", "PendingCall", "Stream", "make_event", "event_kind", "result_code_name", "call_with_retry",
    "TaktError", "DeadlineExceededError", "ConnectionClosedError", "ProtocolError", "StatusCode", "FrameType", "Method",
    "events_pb2", "metrics_pb2", "registry_pb2", "rpc_pb2",
]
