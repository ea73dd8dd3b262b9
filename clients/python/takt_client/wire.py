"""Framing of the Takt wire protocol v1 (docs/PROTOCOL.md sections 1-2)."""
from __future__ import annotations

import enum
import struct

MAGIC = b"TAKT"
PROTOCOL_VERSION = 1
PREFACE = MAGIC + struct.pack(">HH", PROTOCOL_VERSION, 0)
PREFACE_SIZE = 8
HEADER = struct.Struct(">IBBHII")  # length, type, flags, method, call_id, param
HEADER_SIZE = HEADER.size  # 16
DEFAULT_MAX_FRAME_SIZE = 4 * 1024 * 1024
MAX_U32 = 0xFFFFFFFF


class FrameType(enum.IntEnum):
    HELLO = 1
    HELLO_ACK = 2
    REQUEST = 3
    RESPONSE = 4
    STREAM_MESSAGE = 5
    STATUS = 6
    CANCEL = 7
    PING = 8
    PONG = 9
    GOAWAY = 10


class Method(enum.IntEnum):
    """Stable method ids (`takt.v1.MethodId`)."""

    HEALTH_CHECK = 1
    STATS = 2
    SUBMIT_EVENT = 10
    SUBMIT_BATCH = 11
    QUERY_METRICS = 20
    LIST_EVENTS = 21
    SUBSCRIBE = 22
    UPSERT_WORKERS = 30
    LIST_WORKERS = 31
    UPSERT_WORKSTATIONS = 32
    LIST_WORKSTATIONS = 33
    LIST_SITES = 34


def encode_frame(ftype: int, payload: bytes = b"", *, method: int = 0, call_id: int = 0, param: int = 0) -> bytes:
    return HEADER.pack(len(payload), ftype, 0, method, call_id, param) + payload


def decode_header(data: bytes):
    """Returns (length, type, flags, method, call_id, param)."""
    return HEADER.unpack(data)


def check_preface(data: bytes) -> None:
    """Raises ValueError naming what is wrong with a peer's 8-byte preface."""
    if data[:4] != MAGIC:
        raise ValueError(f"bad preface magic {data[:4]!r}")
    version, reserved = struct.unpack(">HH", data[4:8])
    if version != PROTOCOL_VERSION:
        raise ValueError(f"unsupported protocol version {version}")
    if reserved != 0:
        raise ValueError(f"non-zero reserved preface bytes {reserved:#06x}")
