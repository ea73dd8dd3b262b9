// libFuzzer target `messages`: one RPC payload through the decode + validation path of the server
// (TaktService: decode through the budgeted protobuf-c allocator, then precheck / window / filter /
// id rules) and through the decoders a client runs on the server's replies.
//
// Input: byte 0 picks the message (`messageKinds[byte % count]`, append-only so seeds keep their
// meaning), the rest is the payload, up to the 4 MiB frame limit (PROTOCOL.md section 7).
// Besides "never crashes" and "no leak in the budgeted allocator" (asserted by the decoder itself),
// it checks that every decoded message re-encodes to bytes that decode again to the same encoding,
// and that the server's lenient batch decoding agrees with the strict one.
// Built by scripts/fuzz.sh with -sanitize=fuzzer,address.
import TaktDomain
import TaktProto

let frameLimit = 4 << 20
/// A fixed clock and the server's default acceptance rules, so a run is deterministic.
let nowMs: Int64 = 1_767_225_600_000  // 2026-01-01T00:00:00Z
let policy = AcceptancePolicy()
let maxBatchEvents = 10_000

/// Decodes `T`; when that works, encode → decode → encode must give the same bytes.
@discardableResult
func decodeStably<T: ProtoMessage>(_: T.Type, _ payload: UnsafeRawBufferPointer) -> T? {
    guard let value = try? T(protobuf: payload) else { return nil }
    let once = value.protobufBytes()
    let again: T
    do {
        again = try T(protobuf: once)
    } catch {
        preconditionFailure("\(T.protoMessageName): cannot decode its own encoding: \(error)")
    }
    let twice = again.protobufBytes()
    precondition(once == twice, "\(T.protoMessageName): re-encoding is not stable")
    return value
}

/// What the server does with the events of a call before the store (TaktService.ingest).
func precheck(_ events: [IncomingEvent]) {
    for e in events {
        if let rejection = e.precheck(policy, nowMs: nowMs) {
            precondition(rejection.code != .accepted, "a rejection with code ACCEPTED")
            _ = rejection.protobufBytes()
        } else {
            guard let event = e.event else { preconditionFailure("a malformed event passed the precheck") }
            precondition(IdentifierRules.isValid(event.workerID) && IdentifierRules.isValid(event.workstationID),
                         "an event with an invalid id passed the precheck")
            precondition(event.confidence.isFinite, "a non-finite confidence passed the precheck")
            _ = event.identity.hashValue
        }
    }
}

func ids(_ list: [String]) {
    for id in list { _ = IdentifierRules.isValid(id) }
}

/// Append-only: a seed's first byte is an index into this table.
let messageKinds: [(name: String, run: @Sendable (UnsafeRawBufferPointer) -> Void)] = [
    // Server side: requests, as TaktService and ServerConnection handle them.
    ("Ingest.SubmitBatch", { p in
        let incoming = try? IncomingBatch(protobuf: p)
        let strict = decodeStably(EventBatch.self, p)
        if let strict {
            guard let incoming else { preconditionFailure("strict Batch decoded, lenient did not") }
            let events = incoming.events.compactMap(\.event)
            precondition(events.count == incoming.events.count, "strict Batch decoded, lenient found a malformed event")
            precondition(EventBatch(events: events, gatewayID: incoming.gatewayID).protobufBytes() == strict.protobufBytes(),
                         "lenient and strict Batch decoding disagree")
        } else if let incoming {
            precondition(incoming.events.contains { $0.event == nil }, "lenient Batch has no malformed event but strict failed")
        }
        guard let incoming, incoming.events.count <= maxBatchEvents else { return }
        precheck(incoming.events)
    }),
    ("Ingest.SubmitEvent", { p in
        let incoming = try? IncomingEvent(protobuf: p)
        let strict = decodeStably(Event.self, p)
        precondition((strict != nil) == (incoming?.event != nil), "lenient and strict Event decoding disagree")
        if let incoming { precheck([incoming]) }
    }),
    ("Query.QueryMetrics", { p in
        guard let q = decodeStably(MetricsQuery.self, p) else { return }
        if let window = try? q.resolvedWindow(nowMs: nowMs) {
            precondition(window.fromMs < window.toMs && window.toMs <= nowMs, "resolved window \(window) is not valid")
        }
    }),
    ("Query.ListEvents", { p in
        guard let r = decodeStably(ListEventsRequest.self, p) else { return }
        try? r.filter.validate()
    }),
    ("Query.Subscribe", { p in
        guard let r = decodeStably(SubscribeRequest.self, p) else { return }
        try? r.filter.validate()
    }),
    ("HELLO", { p in
        guard let h = decodeStably(ClientHello.self, p) else { return }
        _ = h.protocolVersion == 1
        _ = String(h.clientName.prefix(128))
    }),
    ("Registry.UpsertWorkers", { p in
        guard let l = decodeStably(WorkerList.self, p) else { return }
        ids(l.workers.map(\.workerID) + l.workers.map(\.siteID))
    }),
    ("Registry.UpsertWorkstations", { p in
        guard let l = decodeStably(WorkstationList.self, p) else { return }
        ids(l.workstations.map(\.workstationID) + l.workstations.map(\.siteID))
    }),
    ("Registry.List*", { p in decodeStably(RegistryListRequest.self, p) }),
    ("Health.Check", { p in decodeStably(HealthCheckRequest.self, p) }),
    ("Health.Stats", { p in decodeStably(StatsRequest.self, p) }),
    ("GOAWAY", { p in decodeStably(Goaway.self, p) }),
    // Client side: what a client decodes from a (possibly hostile) server.
    ("HELLO_ACK", { p in decodeStably(ServerHello.self, p) }),
    ("STATUS", { p in decodeStably(RPCStatus.self, p) }),
    ("EventAck", { p in decodeStably(EventResult.self, p) }),
    ("BatchAck", { p in decodeStably(BatchAck.self, p) }),
    ("MetricsResponse", { p in decodeStably(MetricsResponse.self, p) }),
    ("ListEventsResponse", { p in decodeStably(EventPage.self, p) }),
    ("SubscribeResponse", { p in decodeStably(SubscriptionUpdate.self, p) }),
    ("StatsResponse", { p in decodeStably(ServerStats.self, p) }),
    ("UpsertResponse", { p in decodeStably(UpsertResult.self, p) }),
    ("ListSitesResponse", { p in decodeStably(SiteList.self, p) }),
    ("HealthCheckResponse", { p in decodeStably(ServingStatus.self, p) }),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMessages(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    // A larger payload never reaches a decoder: the frame decoder refuses it from the header.
    guard let data, size >= 1, size - 1 <= frameLimit else { return 0 }
    let kind = messageKinds[Int(data[0]) % messageKinds.count]
    kind.run(UnsafeRawBufferPointer(start: data + 1, count: size - 1))
    return 0
}
