// Spec section 1 acceptance rules, end to end through the wire: bytes → IncomingBatch → precheck.
import Testing
import TaktDomain
@testable import TaktProto

/// What the server does with a batch before the store: one result per event, nil = may be stored.
func precheck(_ bytes: [UInt8], policy: AcceptancePolicy = AcceptancePolicy()) throws -> [EventResult?] {
    try IncomingBatch(protobuf: bytes).events.map { $0.precheck(policy, nowMs: now) }
}

func precheck(_ event: Event, policy: AcceptancePolicy = AcceptancePolicy()) throws -> EventResult? {
    try precheck(EventBatch(events: [event]).protobufBytes(), policy: policy)[0]
}

func good(_ change: (inout Event) -> Void = { _ in }) -> Event {
    var e = Event(eventTimeMs: now - 60_000, workerID: "W1", workstationID: "S1", kind: .working, confidence: 0.9)
    change(&e)
    return e
}

struct Rule: Sendable, CustomTestStringConvertible {
    var name: String
    var event: Event
    var code: ResultCode?
    var field: String
    var testDescription: String { name }
}

let rules: [Rule] = [
    Rule(name: "valid", event: good(), code: nil, field: ""),
    Rule(name: "time zero", event: good { $0.eventTimeMs = 0 }, code: .invalid, field: "event_time_ms"),
    Rule(name: "time negative", event: good { $0.eventTimeMs = -1 }, code: .invalid, field: "event_time_ms"),
    Rule(name: "old event (no lower bound)", event: good { $0.eventTimeMs = 1 }, code: nil, field: ""),
    Rule(name: "worker empty", event: good { $0.workerID = "" }, code: .invalid, field: "worker_id"),
    Rule(name: "worker 64 bytes", event: good { $0.workerID = String(repeating: "w", count: 64) }, code: nil, field: ""),
    Rule(name: "worker 65 bytes", event: good { $0.workerID = String(repeating: "w", count: 65) }, code: .invalid, field: "worker_id"),
    Rule(name: "worker space", event: good { $0.workerID = "W 1" }, code: .invalid, field: "worker_id"),
    Rule(name: "worker slash", event: good { $0.workerID = "W/1" }, code: .invalid, field: "worker_id"),
    Rule(name: "worker unicode", event: good { $0.workerID = "Wö" }, code: .invalid, field: "worker_id"),
    Rule(name: "worker full alphabet", event: good { $0.workerID = "Az09_.:-" }, code: nil, field: ""),
    Rule(name: "workstation empty", event: good { $0.workstationID = "" }, code: .invalid, field: "workstation_id"),
    Rule(name: "workstation 65 bytes", event: good { $0.workstationID = String(repeating: "s", count: 65) },
         code: .invalid, field: "workstation_id"),
    Rule(name: "workstation bad char", event: good { $0.workstationID = "S#1" }, code: .invalid, field: "workstation_id"),
    Rule(name: "site bad char", event: good { $0.siteID = "plant 1" }, code: .invalid, field: "site_id"),
    Rule(name: "site too long", event: good { $0.siteID = String(repeating: "p", count: 65) }, code: .invalid, field: "site_id"),
    Rule(name: "model version 64 bytes", event: good { $0.modelVersion = String(repeating: "m", count: 64) }, code: nil, field: ""),
    Rule(name: "model version 65 bytes", event: good { $0.modelVersion = String(repeating: "m", count: 65) },
         code: .invalid, field: "model_version"),
    Rule(name: "confidence NaN", event: good { $0.confidence = .nan }, code: .invalid, field: "confidence"),
    Rule(name: "confidence +inf", event: good { $0.confidence = .infinity }, code: .invalid, field: "confidence"),
    Rule(name: "confidence -inf", event: good { $0.confidence = -.infinity }, code: .invalid, field: "confidence"),
    Rule(name: "confidence negative", event: good { $0.confidence = -0.01 }, code: .invalid, field: "confidence"),
    Rule(name: "confidence above 1", event: good { $0.confidence = 1.000001 }, code: .invalid, field: "confidence"),
    Rule(name: "confidence 1", event: good { $0.confidence = 1 }, code: nil, field: ""),
    Rule(name: "confidence unset reads 0: low", event: good { $0.confidence = 0 }, code: .lowConfidence, field: "confidence"),
    Rule(name: "low confidence", event: good { $0.confidence = 0.6999 }, code: .lowConfidence, field: "confidence"),
    Rule(name: "min confidence accepted", event: good { $0.confidence = 0.70 }, code: nil, field: ""),
    Rule(name: "count 10000", event: good { $0.kind = .productCount; $0.count = 10_000 }, code: nil, field: ""),
    Rule(name: "count 10001", event: good { $0.kind = .productCount; $0.count = 10_001 }, code: .invalid, field: "count"),
    Rule(name: "count max", event: good { $0.kind = .productCount; $0.count = .max }, code: .invalid, field: "count"),
    Rule(name: "count ignored for state kinds", event: good { $0.kind = .idle; $0.count = 99_999 }, code: nil, field: ""),
    Rule(name: "5 min ahead", event: good { $0.eventTimeMs = now + 300_000 }, code: nil, field: ""),
    Rule(name: "5 min + 1 ms ahead", event: good { $0.eventTimeMs = now + 300_001 }, code: .invalid, field: "event_time_ms"),
    Rule(name: "far future", event: good { $0.eventTimeMs = .max }, code: .invalid, field: "event_time_ms"),
]

@Suite struct EventValidationTests {
    @Test(arguments: rules)
    func rule(_ r: Rule) throws {
        let result = try precheck(r.event)
        #expect(result?.code == r.code)
        if let result {
            #expect(result.message.contains(r.field), "message \(result.message) should name \(r.field)")
        }
    }

    @Test(arguments: [(UInt64?.none, "EVENT_KIND_UNSPECIFIED"), (0, "EVENT_KIND_UNSPECIFIED"), (5, "unknown EventKind 5"),
                      (1 << 31, "unknown EventKind"), (UInt64.max, "unknown EventKind -1")] as [(UInt64?, String)])
    func unknownKindIsInvalidForThatEventOnly(_ kind: UInt64?, _ text: String) throws {
        let bytes = wireBatch([wireEvent(), wireEvent(kind: kind), wireEvent(kind: 4)])
        let results = try precheck(bytes)
        #expect(results[0] == nil && results[2] == nil)
        #expect(results[1]?.code == .invalid)
        #expect(results[1]?.message.hasPrefix("kind: ") == true)
        #expect(results[1]?.message.contains(text) == true, "\(results[1]?.message ?? "")")
        // A single SubmitEvent behaves the same; strict decoding of `Event` throws instead.
        let single = try IncomingEvent(protobuf: wireEvent(kind: kind))
        #expect(single.event == nil)
        #expect(single.precheck(AcceptancePolicy(), nowMs: now)?.code == .invalid)
        #expect(throws: DecodeError.self) { try Event(protobuf: wireEvent(kind: kind)) }
        #expect(throws: DecodeError.self) { try EventBatch(protobuf: bytes) }
    }

    @Test(arguments: [("worker_id", EventField.workerID), ("workstation_id", EventField.workstationID),
                      ("site_id", EventField.siteID), ("model_version", EventField.modelVersion),
                      ("gateway_id", EventField.gatewayID)] as [(String, UInt64)])
    func invalidUTF8IsInvalidNamingTheField(_ name: String, _ field: UInt64) throws {
        let broken: [UInt8] = [0x57, 0xC3, 0x28]  // "W" + a bad two-byte sequence
        let event = wireEvent { w in
            w.bytesField(field, broken)
            w.varintField(EventField.sequence, 7)  // gateway_id only matters with a sequence
        }
        let results = try precheck(wireBatch([event, wireEvent()]))
        #expect(results[0] == EventResult(.invalid, "\(name): not valid UTF-8"))
        #expect(results[1] == nil)
        let strict = #expect(throws: DecodeError.self) { try EventBatch(protobuf: wireBatch([wireEvent(), event])) }
        #expect(strict?.field == "events[1].\(name)")
        #expect(strict?.rpcError.code == .invalidArgument)
        #expect(strict?.message == "takt.v1.Batch.events[1].\(name): not valid UTF-8")
    }

    @Test func invalidUTF8InBatchGatewayFailsTheBatch() throws {
        let error = #expect(throws: DecodeError.self) {
            try IncomingBatch(protobuf: wireBatch([wireEvent()]) + [0x12, 0x01, 0xFF])
        }
        #expect(error?.message == "takt.v1.Batch.gateway_id: not valid UTF-8")
    }

    @Test func emptySiteMeansDefault() throws {
        let decoded = try IncomingBatch(protobuf: EventBatch(events: [good { $0.siteID = "" }]).protobufBytes())
        let event = try #require(decoded.events[0].event)
        #expect(event.effectiveSiteID == "default")
        #expect(event.identity.siteID == "default")
        #expect(decoded.events[0].precheck(AcceptancePolicy(), nowMs: now) == nil)
    }

    @Test func productCountZeroMeansOne() throws {
        let e = try #require(try IncomingBatch(protobuf: EventBatch(events: [good { $0.kind = .productCount }]).protobufBytes())
            .events[0].event)
        #expect(e.count == 0 && e.units == 1)
    }

    @Test func policySettingsApply() throws {
        let strictSkew = AcceptancePolicy(minConfidence: 0.95, maxFutureSkewMs: 0, minEventTimeMs: now - 1_000)
        #expect(try precheck(good(), policy: strictSkew)?.code == .invalid)  // before the lower bound
        #expect(try precheck(good { $0.eventTimeMs = now + 1 }, policy: strictSkew)?.message.contains("ahead") == true)
        #expect(try precheck(good { $0.eventTimeMs = now }, policy: strictSkew)?.code == .lowConfidence)
        #expect(try precheck(good { $0.eventTimeMs = now; $0.confidence = 0.95 }, policy: strictSkew) == nil)
    }

    @Test func idempotencyKeys() throws {
        let bytes = wireBatch([
            wireEvent { $0.varintField(EventField.sequence, 1) },                                     // batch gateway
            wireEvent { $0.stringField(EventField.gatewayID, "own"); $0.varintField(EventField.sequence, 2) },
            wireEvent { $0.stringField(EventField.gatewayID, "own") },                                // no sequence: no key
            wireEvent(),
            wireEvent { $0.varintField(EventField.sequence, .max) },
        ], gateway: "batch-gw")
        let keys = try IncomingBatch(protobuf: bytes).events.map { $0.event?.idempotencyKey }
        #expect(keys == [IdempotencyKey(gatewayID: "batch-gw", sequence: 1), IdempotencyKey(gatewayID: "own", sequence: 2),
                         nil, nil, IdempotencyKey(gatewayID: "batch-gw", sequence: .max)])
        // Without a batch gateway, a sequence alone still makes a key (with an empty gateway id).
        let lone = try IncomingEvent(protobuf: wireEvent { $0.varintField(EventField.sequence, 9) })
        #expect(lone.event?.idempotencyKey == IdempotencyKey(gatewayID: "", sequence: 9))
    }

    @Test func mixedBatchKeepsOrder() throws {
        let events = [good(), good { $0.workerID = "" }, good { $0.confidence = 0.1 }, good { $0.kind = .absent },
                      good { $0.confidence = .nan }]
        let results = try precheck(EventBatch(events: events).protobufBytes())
        #expect(results.map { $0?.code } == [nil, .invalid, .lowConfidence, nil, .invalid])
        let ack = BatchAck(results: results.map { $0 ?? .accepted })
        let back = try BatchAck(protobuf: ack.protobufBytes())
        #expect(back.codes == [.accepted, .invalid, .lowConfidence, .accepted, .invalid])
        #expect(back.rejections.map(\.index) == [1, 2, 4])
    }
}

@Suite struct OtherMessageValidationTests {
    @Test(arguments: [(0, "scope: required"), (7, "scope: unknown MetricsScope 7")]
          as [(UInt64, String)])
    func metricsScope(_ scope: UInt64, _ text: String) {
        var w = WireWriter()
        w.varintField(1, scope)
        let error = #expect(throws: DecodeError.self) { try MetricsQuery(protobuf: w.bytes) }
        #expect(error?.message.hasPrefix("takt.v1.MetricsQuery.\(text)") == true, "\(error?.message ?? "")")
        #expect(error?.rpcError.code == .invalidArgument)
    }

    @Test func unknownEnumsInOtherMessagesAreErrors() {
        var ack = WireWriter()
        ack.varintField(1, 9)
        #expect(throws: DecodeError.self) { try EventResult(protobuf: ack.bytes) }
        #expect(throws: DecodeError.self) { try EventResult(protobuf: []) }  // UNSPECIFIED
        var codes = WireWriter()
        codes.bytesField(1, [1, 1, 6])
        let e = #expect(throws: DecodeError.self) { try BatchAck(protobuf: codes.bytes) }
        #expect(e?.field == "codes[2]")
        var kinds = WireWriter()
        kinds.bytesField(4, [1, 0])
        #expect((#expect(throws: DecodeError.self) { try ListEventsRequest(protobuf: kinds.bytes) })?.field == "kinds[1]")
        #expect((#expect(throws: DecodeError.self) { try SubscribeRequest(protobuf: kinds.bytes) })?.field == "kinds[1]")
        var health = WireWriter()
        health.varintField(1, 4)
        #expect(throws: DecodeError.self) { try ServingStatus(protobuf: health.bytes) }
        var timeline = WireWriter()
        timeline.varintField(1, 1)
        timeline.varintField(9, 4)
        #expect((#expect(throws: DecodeError.self) { try MetricsQuery(protobuf: timeline.bytes) })?.field == "timeline_subject")
        var stats = WireWriter()
        stats.message(4) { $0.varintField(1, 3) }  // MethodId 3 does not exist
        #expect((#expect(throws: DecodeError.self) { try ServerStats(protobuf: stats.bytes) })?.field == "methods[0].method")
        var response = WireWriter()
        response.message(8) { $0.varintField(6, 2) }  // a version row without the overall row
        #expect((#expect(throws: DecodeError.self) { try MetricsResponse(protobuf: response.bytes) })?.field == "model_health_overall")
    }

    @Test func invalidUTF8InOtherMessagesNamesTheField() {
        var w = WireWriter()
        w.message(1) { $0.stringField(2, "W1"); $0.bytesField(3, [0xE2, 0x82]) }
        let e = #expect(throws: DecodeError.self) { try WorkerList(protobuf: w.bytes) }
        #expect(e?.message == "takt.v1.UpsertWorkersRequest.workers[0].name: not valid UTF-8")
        var page = WireWriter()
        page.message(1) { $0.message(1) { $0.bytesField(EventField.workerID, [0x80]) } }
        let p = #expect(throws: DecodeError.self) { try EventPage(protobuf: page.bytes) }
        #expect(p?.field == "events[0].event.worker_id")
        var missing = WireWriter()
        missing.message(1) { $0.int64Field(2, 5) }
        #expect((#expect(throws: DecodeError.self) { try SubscriptionUpdate(protobuf: missing.bytes) })?.field == "events[0].event")
    }
}
