"""Typed API of the Takt service over one Connection."""
from __future__ import annotations

import time
from typing import Iterable, Optional, Sequence, Union

from takt.v1 import events_pb2, metrics_pb2, registry_pb2, rpc_pb2

from .connection import DEFAULT_PORT, Connection, PendingCall, Stream
from .errors import TaktError
from .wire import Method

EventKind = events_pb2.EventKind
ResultCode = events_pb2.ResultCode
MetricsScope = metrics_pb2.MetricsScope
TimelineSubject = metrics_pb2.TimelineSubject

_KIND_ALIASES = {
    "absent": events_pb2.EVENT_KIND_ABSENT,
    "idle": events_pb2.EVENT_KIND_IDLE,
    "working": events_pb2.EVENT_KIND_WORKING,
    "product_count": events_pb2.EVENT_KIND_PRODUCT_COUNT,
    "unspecified": events_pb2.EVENT_KIND_UNSPECIFIED,
}


def event_kind(kind: Union[int, str]) -> int:
    """EventKind from an int, a spec name ("working", "product_count") or an enum name
    ("EVENT_KIND_WORKING")."""
    if isinstance(kind, int):
        return kind
    k = kind.strip().lower()
    if k.startswith("event_kind_"):
        k = k[len("event_kind_"):]
    if k not in _KIND_ALIASES:
        raise ValueError(f"unknown event kind {kind!r}")
    return _KIND_ALIASES[k]


def result_code_name(code: int) -> str:
    """"ACCEPTED", "DUPLICATE", ... for a ResultCode."""
    return events_pb2.ResultCode.Name(code)[len("RESULT_CODE_"):]


def make_event(
    event_time_ms: int,
    worker_id: str,
    workstation_id: str,
    kind: Union[int, str],
    confidence: float,
    *,
    count: int = 0,
    site_id: str = "",
    model_version: str = "",
    gateway_id: str = "",
    sequence: int = 0,
) -> events_pb2.Event:
    return events_pb2.Event(
        event_time_ms=event_time_ms,
        worker_id=worker_id,
        workstation_id=workstation_id,
        kind=event_kind(kind),
        confidence=confidence,
        count=count,
        site_id=site_id,
        model_version=model_version,
        gateway_id=gateway_id,
        sequence=sequence,
    )


def _as_event(e) -> events_pb2.Event:
    if isinstance(e, events_pb2.Event):
        return e
    if isinstance(e, dict):
        return make_event(**e)
    raise TypeError(f"expected takt.v1.Event or dict, got {type(e).__name__}")


class Client:
    """A Takt client. Every method takes `timeout` (seconds; None: the client's default, which is
    sent to the server as the REQUEST timeout and also bounds the local wait; at the deadline the
    call is cancelled and DeadlineExceededError raised). Failed calls raise TaktError carrying
    `code`, `message` and `retry_after_ms`.

    The `*_async` variants return a PendingCall immediately, so several calls can be pipelined
    on the one connection: `[c.submit_batch_async(b) for b in batches]`, then `.result()` each.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        client_name: str = "takt-python/0.1",
        auth_token: str = "",
        timeout: Optional[float] = 30.0,
        connect_timeout: float = 10.0,
        keepalive: bool = True,
    ):
        self.default_timeout = timeout
        self.connection = Connection(
            host, port, client_name=client_name, auth_token=auth_token, connect_timeout=connect_timeout, keepalive=keepalive
        )

    @property
    def server_hello(self) -> rpc_pb2.ServerHello:
        return self.connection.server_hello

    def close(self, goaway: bool = False) -> None:
        self.connection.close(goaway=goaway)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    _DEFAULT = object()

    def _t(self, timeout):
        return self.default_timeout if timeout is Client._DEFAULT else timeout

    def _unary_async(self, method, request, response_cls, timeout) -> PendingCall:
        return self.connection.start_unary(method, request, response_cls.FromString, self._t(timeout))

    def _unary(self, method, request, response_cls, timeout):
        return self._unary_async(method, request, response_cls, timeout).result()

    # ---- Health ----

    def health(self, service: str = "", *, timeout=_DEFAULT) -> int:
        """HealthCheckResponse.ServingStatus (1 = SERVING)."""
        return self._unary(Method.HEALTH_CHECK, rpc_pb2.HealthCheckRequest(service=service), rpc_pb2.HealthCheckResponse, timeout).status

    def stats(self, *, timeout=_DEFAULT) -> rpc_pb2.StatsResponse:
        return self._unary(Method.STATS, rpc_pb2.StatsRequest(), rpc_pb2.StatsResponse, timeout)

    # ---- Ingest ----

    def submit_event_async(self, event, *, timeout=_DEFAULT) -> PendingCall:
        return self._unary_async(Method.SUBMIT_EVENT, _as_event(event), events_pb2.EventAck, timeout)

    def submit_event(self, event, *, timeout=_DEFAULT) -> events_pb2.EventAck:
        """One event (a takt.v1.Event or a dict of make_event arguments) → EventAck."""
        return self.submit_event_async(event, timeout=timeout).result()

    def submit_batch_async(self, events: Iterable, *, gateway_id: str = "", timeout=_DEFAULT) -> PendingCall:
        batch = events_pb2.Batch(events=[_as_event(e) for e in events], gateway_id=gateway_id)
        return self._unary_async(Method.SUBMIT_BATCH, batch, events_pb2.BatchAck, timeout)

    def submit_batch(self, events: Iterable, *, gateway_id: str = "", timeout=_DEFAULT) -> events_pb2.BatchAck:
        """A batch of events → BatchAck with one result code per event (never all-or-nothing)."""
        return self.submit_batch_async(events, gateway_id=gateway_id, timeout=timeout).result()

    def submit_many(self, events: Sequence, *, batch_size: Optional[int] = None, gateway_id: str = "", timeout=_DEFAULT) -> list:
        """Splits `events` into batches of at most `batch_size` (default: the server's
        max_batch_events), pipelines them and returns the result codes in order."""
        size = batch_size or self.server_hello.max_batch_events or 10000
        events = list(events)
        pending = [self.submit_batch_async(events[i:i + size], gateway_id=gateway_id, timeout=timeout) for i in range(0, len(events), size)]
        codes = []
        for p in pending:
            codes.extend(p.result().codes)
        return codes

    # ---- Query ----

    def query_metrics_async(self, query: metrics_pb2.MetricsQuery, *, timeout=_DEFAULT) -> PendingCall:
        return self._unary_async(Method.QUERY_METRICS, query, metrics_pb2.MetricsResponse, timeout)

    def query_metrics(
        self,
        scope: Union[int, str, metrics_pb2.MetricsQuery] = metrics_pb2.METRICS_SCOPE_ALL,
        *,
        from_ms: int = 0,
        to_ms: int = 0,
        site_id: str = "",
        worker_ids: Sequence[str] = (),
        workstation_ids: Sequence[str] = (),
        bucket_ms: int = 0,
        utc_offset_minutes: int = 0,
        timeline_subject: Union[int, str] = 0,
        timeout=_DEFAULT,
    ) -> metrics_pb2.MetricsResponse:
        """MetricsResponse for a scope ("factory", "workers", "workstations", "timeline",
        "model_health", "all", a MetricsScope value, or a whole MetricsQuery)."""
        if isinstance(scope, metrics_pb2.MetricsQuery):
            query = scope
        else:
            if isinstance(scope, str):
                scope = metrics_pb2.MetricsScope.Value("METRICS_SCOPE_" + scope.upper())
            if isinstance(timeline_subject, str):
                timeline_subject = metrics_pb2.TimelineSubject.Value("TIMELINE_SUBJECT_" + timeline_subject.upper())
            query = metrics_pb2.MetricsQuery(
                scope=scope,
                from_ms=from_ms,
                to_ms=to_ms,
                site_id=site_id,
                worker_ids=list(worker_ids),
                workstation_ids=list(workstation_ids),
                bucket_ms=bucket_ms,
                utc_offset_minutes=utc_offset_minutes,
                timeline_subject=timeline_subject,
            )
        return self.query_metrics_async(query, timeout=timeout).result()

    def factory_metrics(self, **kw) -> metrics_pb2.FactoryMetrics:
        return self.query_metrics("factory", **kw).factory

    def worker_metrics(self, **kw) -> list:
        return list(self.query_metrics("workers", **kw).workers)

    def workstation_metrics(self, **kw) -> list:
        return list(self.query_metrics("workstations", **kw).workstations)

    def timeline(self, subject: Union[int, str] = "factory", **kw) -> list:
        return list(self.query_metrics("timeline", timeline_subject=subject, **kw).timeline)

    def model_health(self, **kw) -> metrics_pb2.MetricsResponse:
        """MetricsResponse with model_health_overall and model_health (one row per version)."""
        return self.query_metrics("model_health", **kw)

    def list_events(
        self,
        *,
        site_id: str = "",
        worker_ids: Sequence[str] = (),
        workstation_ids: Sequence[str] = (),
        kinds: Sequence[Union[int, str]] = (),
        from_ms: int = 0,
        to_ms: int = 0,
        page_size: int = 0,
        page_token: str = "",
        timeout=_DEFAULT,
    ) -> events_pb2.ListEventsResponse:
        req = events_pb2.ListEventsRequest(
            site_id=site_id,
            worker_ids=list(worker_ids),
            workstation_ids=list(workstation_ids),
            kinds=[event_kind(k) for k in kinds],
            from_ms=from_ms,
            to_ms=to_ms,
            page_size=page_size,
            page_token=page_token,
        )
        return self._unary(Method.LIST_EVENTS, req, events_pb2.ListEventsResponse, timeout)

    def subscribe(
        self,
        *,
        site_id: str = "",
        worker_ids: Sequence[str] = (),
        workstation_ids: Sequence[str] = (),
        kinds: Sequence[Union[int, str]] = (),
        timeout: Optional[float] = None,
    ) -> Stream:
        """Live events as they are committed: an iterator of SubscribeResponse (each the matching
        events of one commit). Only events committed after the server registered the
        subscription are delivered. Close it with `.cancel()` or a `with` block. `timeout` bounds
        only the start of the stream (default: none)."""
        req = events_pb2.SubscribeRequest(
            site_id=site_id, worker_ids=list(worker_ids), workstation_ids=list(workstation_ids), kinds=[event_kind(k) for k in kinds]
        )
        return self.connection.stream(Method.SUBSCRIBE, req, events_pb2.SubscribeResponse.FromString, timeout)

    # ---- Registry ----

    def upsert_workers(self, workers: Iterable, *, timeout=_DEFAULT) -> registry_pb2.UpsertResponse:
        ws = [w if isinstance(w, registry_pb2.Worker) else registry_pb2.Worker(**w) for w in workers]
        return self._unary(Method.UPSERT_WORKERS, registry_pb2.UpsertWorkersRequest(workers=ws), registry_pb2.UpsertResponse, timeout)

    def upsert_workstations(self, workstations: Iterable, *, timeout=_DEFAULT) -> registry_pb2.UpsertResponse:
        ws = [w if isinstance(w, registry_pb2.Workstation) else registry_pb2.Workstation(**w) for w in workstations]
        return self._unary(
            Method.UPSERT_WORKSTATIONS, registry_pb2.UpsertWorkstationsRequest(workstations=ws), registry_pb2.UpsertResponse, timeout
        )

    def list_workers(self, site_id: str = "", *, timeout=_DEFAULT) -> list:
        r = self._unary(Method.LIST_WORKERS, registry_pb2.ListRegistryRequest(site_id=site_id), registry_pb2.ListWorkersResponse, timeout)
        return list(r.workers)

    def list_workstations(self, site_id: str = "", *, timeout=_DEFAULT) -> list:
        r = self._unary(
            Method.LIST_WORKSTATIONS, registry_pb2.ListRegistryRequest(site_id=site_id), registry_pb2.ListWorkstationsResponse, timeout
        )
        return list(r.workstations)

    def list_sites(self, *, timeout=_DEFAULT) -> list:
        r = self._unary(Method.LIST_SITES, registry_pb2.ListRegistryRequest(), registry_pb2.ListSitesResponse, timeout)
        return list(r.sites)


def call_with_retry(fn, *args, attempts: int = 5, base_delay: float = 0.05, **kwargs):
    """Calls fn until it succeeds or fails with a non-retryable status; waits at least the
    server's retry_after_ms between attempts (exponential back-off otherwise). Safe because every
    Takt method is idempotent. A ConnectionClosedError needs a new Client, so it is re-raised."""
    from .errors import ConnectionClosedError

    delay = base_delay
    for attempt in range(attempts):
        try:
            return fn(*args, **kwargs)
        except ConnectionClosedError:
            raise
        except TaktError as e:
            if not e.retryable or attempt == attempts - 1:
                raise
            time.sleep(max(delay, e.retry_after_ms / 1000.0))
            delay *= 2
