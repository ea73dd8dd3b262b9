// events.proto: ingest (Event, Batch, EventAck, BatchAck) and event listing / subscription.
import TaktDomain
import TaktProtoC

// MARK: - Incoming events (server side)

/// An event as it arrived in `SubmitEvent` or `SubmitBatch`, before any acceptance rule ran.
///
/// Spec section 1: a bad event is rejected on its own, never the whole batch. So a wire event that maps
/// to no domain `Event` (kind unspecified or unknown, a string that is not UTF-8) decodes to its own
/// `INVALID` result instead of failing the decode; everything else becomes an `Event` that still has
/// to pass `AcceptancePolicy.precheck` (ids, lengths, confidence, count, clock skew, low confidence).
public enum IncomingEvent: Sendable, Hashable {
    case event(Event)
    /// Always `INVALID`, with a message naming the field.
    case malformed(EventResult)

    public var event: Event? {
        if case .event(let e) = self { return e }
        return nil
    }

    /// The rejection for this event from everything that does not need the store:
    /// the decode problem, or `policy.precheck`. nil means the event may go on to the store.
    public func precheck(_ policy: AcceptancePolicy, nowMs: Int64) -> EventResult? {
        switch self {
        case .event(let e): return policy.precheck(e, nowMs: nowMs)
        case .malformed(let r): return r
        }
    }
}

extension IncomingEvent: ProtoDecodable, ProtoDecoderBacked {
    public static var protoMessageName: String { "takt.v1.Event" }

    public init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try Self.protoDecoder.decode(bytes)
    }

    static let protoDecoder = ProtoDecoder<Takt__V1__Event, IncomingEvent>(
        protoMessageName, unpack: { takt__v1__event__unpack($0, $1, $2) },
        free: { takt__v1__event__free_unpacked($0, $1) },
        map: { (m: borrowing Takt__V1__Event) in IncomingEvent(mapEvent(m, defaultGatewayID: "")) })

    init(_ mapped: Result<Event, DecodeError>) {
        switch mapped {
        case .success(let e): self = .event(e)
        case .failure(let problem): self = .malformed(EventResult(.invalid, "\(problem.field ?? "event"): \(problem.reason)"))
        }
    }
}

/// `Batch` as the server reads it: one `IncomingEvent` per wire event, in order.
/// Only a payload that is not a `Batch` at all (or a `gateway_id` that is not UTF-8) fails the decode.
public struct IncomingBatch: Sendable, Hashable {
    public var events: [IncomingEvent]
    /// The batch's default gateway id (already applied to the events' idempotency keys).
    public var gatewayID: String
    public init(events: [IncomingEvent], gatewayID: String = "") {
        self.events = events
        self.gatewayID = gatewayID
    }
}

extension IncomingBatch: ProtoDecodable, ProtoDecoderBacked {
    public static var protoMessageName: String { "takt.v1.Batch" }

    public init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try Self.protoDecoder.decode(bytes)
    }

    static let protoDecoder = ProtoDecoder<Takt__V1__Batch, IncomingBatch>(
        protoMessageName, unpack: { takt__v1__batch__unpack($0, $1, $2) },
        free: { takt__v1__batch__free_unpacked($0, $1) },
        map: { (m: borrowing Takt__V1__Batch) throws(DecodeError) in
            let gateway = try string(m.gateway_id, "gateway_id")
            let events = try messages(m.events, m.n_events, "events") { (e: borrowing Takt__V1__Event, _) in
                IncomingEvent(mapEvent(e, defaultGatewayID: gateway))
            }
            return IncomingBatch(events: events, gatewayID: gateway)
        })
}

// MARK: - Event and Batch (client side, and strict decoding)

/// Maps one wire event. The idempotency key is `(gateway_id or else defaultGatewayID, sequence)`;
/// sequence 0 means the event has no key.
func mapEvent(_ m: borrowing Takt__V1__Event, defaultGatewayID: String) -> Result<Event, DecodeError> {
    guard let worker = readString(m.worker_id) else { return .failure(DecodeError(field: "worker_id", "not valid UTF-8")) }
    guard let station = readString(m.workstation_id) else {
        return .failure(DecodeError(field: "workstation_id", "not valid UTF-8"))
    }
    let kindValue = enumValue(m.kind)
    guard let kind = EventKind(rawValue: kindValue) else {
        return .failure(DecodeError(field: "kind", kindValue == 0 ? "required, got EVENT_KIND_UNSPECIFIED"
                                                                   : "unknown EventKind \(kindValue)"))
    }
    guard let site = readString(m.site_id) else { return .failure(DecodeError(field: "site_id", "not valid UTF-8")) }
    guard let model = readString(m.model_version) else {
        return .failure(DecodeError(field: "model_version", "not valid UTF-8"))
    }
    var key: IdempotencyKey?
    if m.sequence != 0 {
        guard let gateway = readString(m.gateway_id) else {
            return .failure(DecodeError(field: "gateway_id", "not valid UTF-8"))
        }
        key = IdempotencyKey(gatewayID: gateway.isEmpty ? defaultGatewayID : gateway, sequence: m.sequence)
    }
    return .success(Event(eventTimeMs: m.event_time_ms, workerID: worker, workstationID: station, kind: kind,
                          confidence: m.confidence, count: m.count, siteID: site, modelVersion: model,
                          idempotencyKey: key))
}

/// Fills a wire event. A key whose gateway equals the batch's default is sent without it (the receiver
/// puts it back); a key with sequence 0 cannot be sent (0 means "no key").
func fillEvent(_ p: UnsafeMutablePointer<Takt__V1__Event>, _ e: Event, defaultGatewayID: String,
               _ arena: inout PackArena) {
    takt__v1__event__init(p)
    p.pointee.event_time_ms = e.eventTimeMs
    arena.set(&p.pointee.worker_id, e.workerID)
    arena.set(&p.pointee.workstation_id, e.workstationID)
    p.pointee.kind = cEnum(e.kind.rawValue)
    p.pointee.confidence = e.confidence
    p.pointee.count = e.count
    arena.set(&p.pointee.site_id, e.siteID)
    arena.set(&p.pointee.model_version, e.modelVersion)
    if let key = e.idempotencyKey, key.sequence != 0 {
        p.pointee.sequence = key.sequence
        if key.gatewayID != defaultGatewayID { arena.set(&p.pointee.gateway_id, key.gatewayID) }
    }
}

/// Bytes an event's C struct, pointer and strings take in a `PackArena` (a sizing guess).
let packedEventEstimate = MemoryLayout<Takt__V1__Event>.stride + 8 + 96

/// `Event`: the payload of `SubmitEvent`. Decoding this type is strict (any problem throws); the server
/// decodes `IncomingEvent` instead.
extension Event: ProtoMessage, ProtoDecoderBacked {
    public static var protoMessageName: String { "takt.v1.Event" }

    public func appendProtobuf(to buffer: inout [UInt8]) {
        var arena = PackArena(expectedBytes: packedEventEstimate)
        var m = Takt__V1__Event()
        withUnsafeMutablePointer(to: &m) { fillEvent($0, self, defaultGatewayID: "", &arena) }
        appendPacked(&m, to: &buffer, size: takt__v1__event__get_packed_size, pack: takt__v1__event__pack)
    }

    public init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try Self.protoDecoder.decode(bytes)
    }

    static let protoDecoder = ProtoDecoder<Takt__V1__Event, Event>(
        protoMessageName, unpack: { takt__v1__event__unpack($0, $1, $2) },
        free: { takt__v1__event__free_unpacked($0, $1) },
        map: { (m: borrowing Takt__V1__Event) throws(DecodeError) in try mapEvent(m, defaultGatewayID: "").get() })
}

/// `Batch`: the payload of `SubmitBatch` (the hot path). Strict decoding; the server uses `IncomingBatch`.
extension EventBatch: ProtoMessage, ProtoDecoderBacked {
    public static var protoMessageName: String { "takt.v1.Batch" }

    public func appendProtobuf(to buffer: inout [UInt8]) {
        var arena = PackArena(expectedBytes: events.count * packedEventEstimate + 64)
        var m = Takt__V1__Batch()
        takt__v1__batch__init(&m)
        let gateway = gatewayID
        m.n_events = events.count
        m.events = arena.messages(events) { arena, p, e in fillEvent(p, e, defaultGatewayID: gateway, &arena) }
        arena.set(&m.gateway_id, gatewayID)
        appendPacked(&m, to: &buffer, size: takt__v1__batch__get_packed_size, pack: takt__v1__batch__pack)
    }

    public init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try Self.protoDecoder.decode(bytes)
    }

    static let protoDecoder = ProtoDecoder<Takt__V1__Batch, EventBatch>(
        protoMessageName, unpack: { takt__v1__batch__unpack($0, $1, $2) },
        free: { takt__v1__batch__free_unpacked($0, $1) },
        map: { (m: borrowing Takt__V1__Batch) throws(DecodeError) in
            let gateway = try string(m.gateway_id, "gateway_id")
            let events = try messages(m.events, m.n_events, "events") {
                (e: borrowing Takt__V1__Event, path) throws(DecodeError) in
                switch mapEvent(e, defaultGatewayID: gateway) {
                case .success(let event): return event
                case .failure(let problem): throw DecodeError(field: "\(path()).\(problem.field ?? "")", problem.reason)
                }
            }
            return EventBatch(events: events, gatewayID: gateway)
        })
}

// MARK: - Acknowledgements

/// `EventAck`: the answer to `SubmitEvent`.
extension EventResult: ProtoMessage, ProtoDecoderBacked {
    public static var protoMessageName: String { "takt.v1.EventAck" }

    public func appendProtobuf(to buffer: inout [UInt8]) {
        if message.isEmpty {
            buffer.append(contentsOf: Self.bareEncodings[code.rawValue])
        } else {
            Self.encode(self, to: &buffer)
        }
    }

    /// The encoding alone; a result without a message (every ACCEPTED) shares one cached array.
    public func protobufBytes() -> [UInt8] {
        if message.isEmpty { return Self.bareEncodings[code.rawValue] }
        var out: [UInt8] = []
        Self.encode(self, to: &out)
        return out
    }

    /// Each code's encoding without a message, made once by the encoder below, indexed by raw value: most
    /// acknowledgements of single events are exactly these bytes, so they skip packing and an allocation.
    private static let bareEncodings: [[UInt8]] = (0...(ResultCode.allCases.map(\.rawValue).max() ?? 0)).map { raw in
        guard let code = ResultCode(rawValue: raw) else { return [] }
        var bytes: [UInt8] = []
        encode(EventResult(code), to: &bytes)
        return bytes
    }

    private static func encode(_ result: EventResult, to buffer: inout [UInt8]) {
        var arena = PackArena(expectedBytes: result.message.utf8.count + 1)
        var m = Takt__V1__EventAck()
        takt__v1__event_ack__init(&m)
        m.code = cEnum(result.code.rawValue)
        arena.set(&m.message, result.message)
        appendPacked(&m, to: &buffer, size: takt__v1__event_ack__get_packed_size, pack: takt__v1__event_ack__pack)
    }

    public init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try Self.protoDecoder.decode(bytes)
    }

    static let protoDecoder = ProtoDecoder<Takt__V1__EventAck, EventResult>(
        protoMessageName, unpack: { takt__v1__event_ack__unpack($0, $1, $2) },
        free: { takt__v1__event_ack__free_unpacked($0, $1) },
        map: { (m: borrowing Takt__V1__EventAck) throws(DecodeError) in
            EventResult(try ResultCode(wire: enumValue(m.code), "code"), try string(m.message, "message"))
        })
}

/// `BatchAck`: the answer to `SubmitBatch` (the other half of the hot path). The per-code counts are
/// derived from `codes` when encoding and not read back when decoding (`BatchAck.count(_:)` recomputes them).
extension BatchAck: ProtoMessage, ProtoDecoderBacked {
    public static var protoMessageName: String { "takt.v1.BatchAck" }

    public func appendProtobuf(to buffer: inout [UInt8]) {
        var arena = PackArena(expectedBytes: codes.count * MemoryLayout<Takt__V1__ResultCode>.stride
                                  + rejections.count * (MemoryLayout<Takt__V1__Rejection>.stride + 8 + 64) + 64)
        var m = Takt__V1__BatchAck()
        takt__v1__batch_ack__init(&m)
        if !codes.isEmpty {
            let c = arena.allocate(Takt__V1__ResultCode.self, count: codes.count)
            var counts = (accepted: UInt32(0), duplicate: UInt32(0), low: UInt32(0), invalid: UInt32(0), unknown: UInt32(0))
            for (i, code) in codes.enumerated() {
                c[i] = cEnum(code.rawValue)
                switch code {
                case .accepted: counts.accepted &+= 1
                case .duplicate: counts.duplicate &+= 1
                case .lowConfidence: counts.low &+= 1
                case .invalid: counts.invalid &+= 1
                case .unknownEntity: counts.unknown &+= 1
                }
            }
            m.n_codes = codes.count
            m.codes = c
            m.accepted = counts.accepted
            m.duplicate = counts.duplicate
            m.low_confidence = counts.low
            m.invalid = counts.invalid
            m.unknown_entity = counts.unknown
        }
        m.n_rejections = rejections.count
        m.rejections = arena.messages(rejections) { arena, p, r in
            takt__v1__rejection__init(p)
            p.pointee.index = UInt32(clamping: r.index)
            p.pointee.code = cEnum(r.result.code.rawValue)
            arena.set(&p.pointee.message, r.result.message)
        }
        appendPacked(&m, to: &buffer, size: takt__v1__batch_ack__get_packed_size, pack: takt__v1__batch_ack__pack)
    }

    public init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try Self.protoDecoder.decode(bytes)
    }

    static let protoDecoder = ProtoDecoder<Takt__V1__BatchAck, BatchAck>(
        protoMessageName, unpack: { takt__v1__batch_ack__unpack($0, $1, $2) },
        free: { takt__v1__batch_ack__free_unpacked($0, $1) },
        map: { (m: borrowing Takt__V1__BatchAck) throws(DecodeError) in
            var codes: [ResultCode] = []
            if m.n_codes > 0, let c = m.codes {
                codes.reserveCapacity(m.n_codes)
                for i in 0..<m.n_codes { codes.append(try ResultCode(wire: enumValue(c[i]), "codes[\(i)]")) }
            }
            let rejections = try messages(m.rejections, m.n_rejections, "rejections") {
                (r: borrowing Takt__V1__Rejection, path) throws(DecodeError) in
                Rejection(index: Int(r.index),
                          result: EventResult(try ResultCode(wire: enumValue(r.code), "\(path()).code"),
                                              try string(r.message, "\(path()).message")))
            }
            return BatchAck(codes: codes, rejections: rejections)
        })
}

// MARK: - Listing and subscription

func fillStoredEvent(_ p: UnsafeMutablePointer<Takt__V1__StoredEvent>, _ s: StoredEvent, _ arena: inout PackArena) {
    takt__v1__stored_event__init(p)
    p.pointee.event = arena.message { arena, e in fillEvent(e, s.event, defaultGatewayID: "", &arena) }
    p.pointee.received_at_ms = s.receivedAtMs
    p.pointee.sequence = s.sequence
}

func mapStoredEvent(_ m: borrowing Takt__V1__StoredEvent, _ path: () -> String) throws(DecodeError) -> StoredEvent {
    guard let e = m.event else { throw DecodeError(field: "\(path()).event", "missing") }
    switch mapEvent(e.pointee, defaultGatewayID: "") {
    case .success(let event):
        return StoredEvent(event: event, receivedAtMs: m.received_at_ms, sequence: m.sequence)
    case .failure(let problem):
        throw DecodeError(field: "\(path()).event.\(problem.field ?? "")", problem.reason)
    }
}

/// The filter fields `ListEventsRequest` and `SubscribeRequest` share, as pointers into an arena.
struct CEventFilter {
    var siteID: UnsafeMutablePointer<CChar>?
    var workerIDs: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
    var workstationIDs: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
    var kinds: UnsafeMutablePointer<Takt__V1__EventKind>?

    init(_ f: EventFilter, _ arena: inout PackArena) {
        if let s = f.siteID, !s.isEmpty { siteID = arena.cString(s) }
        workerIDs = arena.strings(f.workerIDs)
        workstationIDs = arena.strings(f.workstationIDs)
        if !f.kinds.isEmpty {
            let k = arena.allocate(Takt__V1__EventKind.self, count: f.kinds.count)
            for (i, kind) in f.kinds.enumerated() { k[i] = cEnum(kind.rawValue) }
            kinds = k
        }
    }

    static func estimate(_ f: EventFilter) -> Int {
        (f.siteID?.utf8.count ?? 0) + 1 + (f.workerIDs.count + f.workstationIDs.count) * 32 + f.kinds.count * 4 + 64
    }
}

func mapKinds(_ p: UnsafeMutablePointer<Takt__V1__EventKind>?, _ n: Int) throws(DecodeError) -> [EventKind] {
    guard n > 0, let p else { return [] }
    var out: [EventKind] = []
    out.reserveCapacity(n)
    for i in 0..<n { out.append(try EventKind(wire: enumValue(p[i]), "kinds[\(i)]")) }
    return out
}

/// `ListEventsRequest`. Time bounds of 0 on the wire mean "none" (nil); so do empty site ids.
extension ListEventsRequest: ProtoMessage, ProtoDecoderBacked {
    public static var protoMessageName: String { "takt.v1.ListEventsRequest" }

    public func appendProtobuf(to buffer: inout [UInt8]) {
        var arena = PackArena(expectedBytes: CEventFilter.estimate(filter) + pageToken.utf8.count)
        var m = Takt__V1__ListEventsRequest()
        takt__v1__list_events_request__init(&m)
        let f = CEventFilter(filter, &arena)
        if let s = f.siteID { m.site_id = s }
        m.n_worker_ids = filter.workerIDs.count
        m.worker_ids = f.workerIDs
        m.n_workstation_ids = filter.workstationIDs.count
        m.workstation_ids = f.workstationIDs
        m.n_kinds = filter.kinds.count
        m.kinds = f.kinds
        m.from_ms = filter.fromMs ?? 0
        m.to_ms = filter.toMs ?? 0
        m.page_size = UInt32(clamping: pageSize)
        arena.set(&m.page_token, pageToken)
        appendPacked(&m, to: &buffer, size: takt__v1__list_events_request__get_packed_size,
                     pack: takt__v1__list_events_request__pack)
    }

    public init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try Self.protoDecoder.decode(bytes)
    }

    static let protoDecoder = ProtoDecoder<Takt__V1__ListEventsRequest, ListEventsRequest>(
        protoMessageName, unpack: { takt__v1__list_events_request__unpack($0, $1, $2) },
        free: { takt__v1__list_events_request__free_unpacked($0, $1) },
        map: { (m: borrowing Takt__V1__ListEventsRequest) throws(DecodeError) in
            let site = try string(m.site_id, "site_id")
            let filter = EventFilter(
                siteID: site.isEmpty ? nil : site,
                workerIDs: try strings(m.worker_ids, m.n_worker_ids, "worker_ids"),
                workstationIDs: try strings(m.workstation_ids, m.n_workstation_ids, "workstation_ids"),
                kinds: try mapKinds(m.kinds, m.n_kinds),
                fromMs: m.from_ms == 0 ? nil : m.from_ms, toMs: m.to_ms == 0 ? nil : m.to_ms)
            return ListEventsRequest(filter: filter, pageSize: Int(m.page_size),
                                     pageToken: try string(m.page_token, "page_token"))
        })
}

/// `ListEventsResponse`.
extension EventPage: ProtoMessage, ProtoDecoderBacked {
    public static var protoMessageName: String { "takt.v1.ListEventsResponse" }

    public func appendProtobuf(to buffer: inout [UInt8]) {
        var arena = PackArena(expectedBytes: events.count * (packedEventEstimate + 48) + nextPageToken.utf8.count + 64)
        var m = Takt__V1__ListEventsResponse()
        takt__v1__list_events_response__init(&m)
        m.n_events = events.count
        m.events = arena.messages(events) { arena, p, s in fillStoredEvent(p, s, &arena) }
        arena.set(&m.next_page_token, nextPageToken)
        appendPacked(&m, to: &buffer, size: takt__v1__list_events_response__get_packed_size,
                     pack: takt__v1__list_events_response__pack)
    }

    public init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try Self.protoDecoder.decode(bytes)
    }

    static let protoDecoder = ProtoDecoder<Takt__V1__ListEventsResponse, EventPage>(
        protoMessageName, unpack: { takt__v1__list_events_response__unpack($0, $1, $2) },
        free: { takt__v1__list_events_response__free_unpacked($0, $1) },
        map: { (m: borrowing Takt__V1__ListEventsResponse) throws(DecodeError) in
            EventPage(events: try messages(m.events, m.n_events, "events", mapStoredEvent),
                      nextPageToken: try string(m.next_page_token, "next_page_token"))
        })
}

/// `SubscribeRequest`: the filter of a live subscription. A live stream has no time bounds, so
/// `filter.fromMs` and `filter.toMs` are not sent and decode as nil.
public struct SubscribeRequest: Sendable, Hashable {
    public var filter: EventFilter
    public init(filter: EventFilter = EventFilter()) {
        self.filter = filter
    }
}

extension SubscribeRequest: ProtoMessage, ProtoDecoderBacked {
    public static var protoMessageName: String { "takt.v1.SubscribeRequest" }

    public func appendProtobuf(to buffer: inout [UInt8]) {
        var arena = PackArena(expectedBytes: CEventFilter.estimate(filter))
        var m = Takt__V1__SubscribeRequest()
        takt__v1__subscribe_request__init(&m)
        let f = CEventFilter(filter, &arena)
        if let s = f.siteID { m.site_id = s }
        m.n_worker_ids = filter.workerIDs.count
        m.worker_ids = f.workerIDs
        m.n_workstation_ids = filter.workstationIDs.count
        m.workstation_ids = f.workstationIDs
        m.n_kinds = filter.kinds.count
        m.kinds = f.kinds
        appendPacked(&m, to: &buffer, size: takt__v1__subscribe_request__get_packed_size,
                     pack: takt__v1__subscribe_request__pack)
    }

    public init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try Self.protoDecoder.decode(bytes)
    }

    static let protoDecoder = ProtoDecoder<Takt__V1__SubscribeRequest, SubscribeRequest>(
        protoMessageName, unpack: { takt__v1__subscribe_request__unpack($0, $1, $2) },
        free: { takt__v1__subscribe_request__free_unpacked($0, $1) },
        map: { (m: borrowing Takt__V1__SubscribeRequest) throws(DecodeError) in
            let site = try string(m.site_id, "site_id")
            return SubscribeRequest(filter: EventFilter(
                siteID: site.isEmpty ? nil : site,
                workerIDs: try strings(m.worker_ids, m.n_worker_ids, "worker_ids"),
                workstationIDs: try strings(m.workstation_ids, m.n_workstation_ids, "workstation_ids"),
                kinds: try mapKinds(m.kinds, m.n_kinds)))
        })
}

/// `SubscribeResponse`: one message of the live stream.
extension SubscriptionUpdate: ProtoMessage, ProtoDecoderBacked {
    public static var protoMessageName: String { "takt.v1.SubscribeResponse" }

    public func appendProtobuf(to buffer: inout [UInt8]) {
        var arena = PackArena(expectedBytes: events.count * (packedEventEstimate + 48) + 64)
        var m = Takt__V1__SubscribeResponse()
        takt__v1__subscribe_response__init(&m)
        m.n_events = events.count
        m.events = arena.messages(events) { arena, p, s in fillStoredEvent(p, s, &arena) }
        m.dropped = dropped
        appendPacked(&m, to: &buffer, size: takt__v1__subscribe_response__get_packed_size,
                     pack: takt__v1__subscribe_response__pack)
    }

    public init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try Self.protoDecoder.decode(bytes)
    }

    static let protoDecoder = ProtoDecoder<Takt__V1__SubscribeResponse, SubscriptionUpdate>(
        protoMessageName, unpack: { takt__v1__subscribe_response__unpack($0, $1, $2) },
        free: { takt__v1__subscribe_response__free_unpacked($0, $1) },
        map: { (m: borrowing Takt__V1__SubscribeResponse) throws(DecodeError) in
            SubscriptionUpdate(events: try messages(m.events, m.n_events, "events", mapStoredEvent), dropped: m.dropped)
        })
}
