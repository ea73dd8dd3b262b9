// Every RPC payload type survives encode → decode unchanged, and its decode gives all memory back.
import Testing
import TaktDomain
@testable import TaktProto

@discardableResult
func roundTrip<T: ProtoMessage & ProtoDecoderBacked & Equatable>(
    _ value: T, sourceLocation: SourceLocation = #_sourceLocation
) throws -> T {
    let bytes = value.protobufBytes()
    // Appending after a frame header must produce the same bytes behind it.
    var framed: [UInt8] = [0xDE, 0xAD, 0xBE, 0xEF]
    value.appendProtobuf(to: &framed)
    #expect(Array(framed.dropFirst(4)) == bytes, sourceLocation: sourceLocation)
    #expect(Array(framed.prefix(4)) == [0xDE, 0xAD, 0xBE, 0xEF], sourceLocation: sourceLocation)

    let decoded = try T(protobuf: bytes)
    #expect(decoded == value, sourceLocation: sourceLocation)
    decodeCheckingMemory(T.self, bytes, sourceLocation: sourceLocation)
    return decoded
}

@Suite struct RoundTripTests {
    @Test(arguments: [Samples.event(1), Samples.event(2), Samples.event(3), Samples.extremeEvent, Samples.minimalEvent])
    func event(_ e: Event) throws {
        try roundTrip(e)
        // The server's lenient reading of the same bytes agrees.
        #expect(try IncomingEvent(protobuf: e.protobufBytes()) == .event(e))
    }

    @Test func eventWithoutKeyAndWithZeroSequence() throws {
        var e = Samples.event(0)
        e.idempotencyKey = nil
        try roundTrip(e)
        // Sequence 0 means "no key" on the wire.
        e.idempotencyKey = IdempotencyKey(gatewayID: "gw", sequence: 0)
        #expect(try Event(protobuf: e.protobufBytes()).idempotencyKey == nil)
    }

    @Test(arguments: [0, 1, 2, 500, 3_000])
    func batch(_ n: Int) throws {
        let batch = Samples.batch(n)
        try roundTrip(batch)
        let incoming = try IncomingBatch(protobuf: batch.protobufBytes())
        #expect(incoming.gatewayID == batch.gatewayID)
        #expect(incoming.events == batch.events.map { .event($0) })
    }

    @Test func batchOmitsKeysEqualToItsGateway() throws {
        let withDefault = EventBatch(events: [Samples.event(1, gateway: "gw-1")], gatewayID: "gw-1")
        let withOther = EventBatch(events: [Samples.event(1, gateway: "gw-1")], gatewayID: "gw-2")
        #expect(withDefault.protobufBytes().count + "gw-1".utf8.count + 2 == withOther.protobufBytes().count)
        try roundTrip(withDefault)
        try roundTrip(withOther)
    }

    @Test(arguments: [EventResult.accepted, EventResult(.duplicate, "same identity"),
                      EventResult(.lowConfidence, "confidence 0.5 below min_confidence 0.7"),
                      EventResult(.invalid, "worker_id: only [A-Za-z0-9_.:-] allowed, got \"Wörker ✓\""),
                      EventResult(.unknownEntity, "")])
    func eventAck(_ r: EventResult) throws {
        try roundTrip(r)
    }

    /// Acks without a message come from a cache; each must decode to its code, also inside a frame buffer.
    @Test(arguments: ResultCode.allCases)
    func cachedBareAck(_ code: ResultCode) throws {
        let bytes = EventResult(code).protobufBytes()
        #expect(try bytes.withUnsafeBytes { try EventResult(protobuf: $0) } == EventResult(code))
        var framed: [UInt8] = [9, 9]
        EventResult(code).appendProtobuf(to: &framed)
        #expect(Array(framed.dropFirst(2)) == bytes)
    }

    @Test func batchAck() throws {
        let results = (0..<500).map { i -> EventResult in
            let code = ResultCode.allCases[i % 5]
            return code == .accepted ? .accepted : EventResult(code, "event \(i): \(code.name) ✗")
        }
        let ack = BatchAck(results: results)
        let decoded = try roundTrip(ack)
        #expect(decoded.count(.accepted) == 100)
        try roundTrip(BatchAck(codes: [], rejections: []))
        try roundTrip(BatchAck(codes: [.accepted], rejections: [Rejection(index: Int(UInt32.max), result: EventResult(.invalid, "x"))]))
    }

    @Test func batchAckCarriesCountsOnTheWire() throws {
        let ack = BatchAck(results: [.accepted, EventResult(.duplicate, "d"), .accepted, EventResult(.invalid, "i")])
        // Field 2 (accepted) = 2, field 3 (duplicate) = 1, field 5 (invalid) = 1; LOW_CONFIDENCE and UNKNOWN_ENTITY absent.
        let bytes = ack.protobufBytes()
        #expect(bytes.starts(with: [0x0A, 4, 1, 2, 1, 4, 0x10, 2, 0x18, 1, 0x28, 1]))
    }

    @Test(arguments: [
        MetricsQuery(scope: .factory),
        MetricsQuery(scope: .workers, fromMs: 1, toMs: .max, siteID: "plant-1", workerIDs: ["W1", "W2", "Wö"]),
        MetricsQuery(scope: .workstations, fromMs: -5, siteID: nil, workstationIDs: ["S1"]),
        MetricsQuery(scope: .timeline, fromMs: now - 86_400_000, toMs: now, bucketMs: 900_000, utcOffsetMinutes: -840,
                     timelineSubject: .workstation),
        MetricsQuery(scope: .timeline, bucketMs: 60_000, utcOffsetMinutes: 840, timelineSubject: .worker),
        MetricsQuery(scope: .modelHealth, toMs: now),
    ])
    func metricsQuery(_ q: MetricsQuery) throws {
        try roundTrip(q)
    }

    @Test func metricsQueryWireDefaults() throws {
        // Nothing but the scope: window bounds unset, bucket 1 h, offset 0, factory timeline.
        let q = try MetricsQuery(protobuf: [0x08, 0x04])
        #expect(q == MetricsQuery(scope: .timeline))
        #expect(MetricsQuery(scope: .factory, siteID: "").protobufBytes() == MetricsQuery(scope: .factory).protobufBytes())
    }

    @Test func metricsResponse() throws {
        try roundTrip(Samples.metricsResponse)
        try roundTrip(MetricsResponse(window: TimeWindow(fromMs: 0, toMs: 1)))
        var onlyHealth = MetricsResponse(window: TimeWindow(fromMs: 5, toMs: 10))
        onlyHealth.modelHealth = ModelHealthReport(toMs: 10, overall: ModelHealth(modelVersion: nil), versions: [])
        try roundTrip(onlyHealth)
    }

    @Test func eventListing() throws {
        let stored = (0..<50).map { i -> StoredEvent in
            var e = Samples.event(i)
            e.siteID = e.effectiveSiteID
            return StoredEvent(event: e, receivedAtMs: now + Int64(i), sequence: Int64(i) + 1)
        }
        try roundTrip(EventPage(events: stored, nextPageToken: "cursor:49"))
        try roundTrip(EventPage(events: [], nextPageToken: ""))
        try roundTrip(SubscriptionUpdate(events: stored, dropped: .max))
        try roundTrip(SubscriptionUpdate(events: []))
    }

    @Test(arguments: [
        ListEventsRequest(),
        ListEventsRequest(filter: EventFilter(siteID: "plant-1", workerIDs: ["W1", "W-ü"], workstationIDs: ["S1", ""],
                                              kinds: [.productCount, .absent], fromMs: 1, toMs: .max),
                          pageSize: 10_000, pageToken: "opaque/token=="),
        ListEventsRequest(filter: EventFilter(kinds: EventKind.allCases, fromMs: .min), pageSize: Int(UInt32.max)),
    ])
    func listEventsRequest(_ r: ListEventsRequest) throws {
        try roundTrip(r)
    }

    @Test func subscribeRequest() throws {
        try roundTrip(SubscribeRequest())
        try roundTrip(SubscribeRequest(filter: EventFilter(siteID: "s", workerIDs: ["a", "b"], workstationIDs: ["c"],
                                                           kinds: [.working])))
        // A live stream has no time bounds: they are not sent.
        let bounded = SubscribeRequest(filter: EventFilter(fromMs: 1, toMs: 2))
        #expect(try SubscribeRequest(protobuf: bounded.protobufBytes()) == SubscribeRequest())
    }

    @Test func registry() throws {
        try roundTrip(WorkerList([
            WorkerRecord(siteID: "plant-1", workerID: "W1", name: "Zoë Ångström 张伟", shift: "night", department: "Assembly"),
            WorkerRecord(workerID: "W2"),
        ]))
        try roundTrip(WorkerList([]))
        try roundTrip(WorkstationList([
            WorkstationRecord(siteID: "plant-1", workstationID: "S1", name: "Presse ①", location: "Halle 3", type: "press"),
            WorkstationRecord(workstationID: "S2"),
        ]))
        try roundTrip(UpsertResult(created: 0, updated: Int(UInt32.max)))
        try roundTrip(SiteList([SiteRecord(siteID: "default", workers: 3, workstations: 0),
                                SiteRecord(siteID: "plant-1", workers: Int(UInt32.max), workstations: 7)]))
        try roundTrip(RegistryListRequest())
        try roundTrip(RegistryListRequest(siteID: "plant-1"))
    }

    @Test func registryEmptySiteMeansDefault() throws {
        let sent = WorkerList([WorkerRecord(siteID: "", workerID: "W1")])
        #expect(try WorkerList(protobuf: sent.protobufBytes()).workers[0].siteID == "default")
        let stations = WorkstationList([WorkstationRecord(siteID: "", workstationID: "S1")])
        #expect(try WorkstationList(protobuf: stations.protobufBytes()).workstations[0].siteID == "default")
    }

    @Test func connection() throws {
        try roundTrip(ClientHello())
        try roundTrip(ClientHello(protocolVersion: .max, clientName: "takt/0.1 ✓", authToken: "s3cr3t", maxFrameSize: 1 << 22))
        try roundTrip(ServerHello())
        try roundTrip(ServerHello(protocolVersion: 1, serverName: "taktd/0.1", maxFrameSize: .max, maxInFlightCalls: 0,
                                  keepaliveIntervalMs: 1, idleTimeoutMs: .max, compression: ["zstd", "", "gzip"],
                                  maxBatchEvents: 10_000))
        try roundTrip(Goaway(lastCallID: .max, code: .unavailable, reason: "idle for 60 s"))
        try roundTrip(Goaway(lastCallID: 0, code: .ok, reason: ""))
        try roundTrip(Goaway(lastCallID: 7, code: StatusCode(rawValue: 99), reason: "from the future"))
    }

    @Test func status() throws {
        let ok = try roundTrip(RPCStatus.ok)
        #expect(ok.isOK && ok.error == nil)
        #expect(RPCStatus.ok.protobufBytes().isEmpty)

        let error = RPCError(.resourceExhausted, "too many calls in flight", retryAfterMs: 250)
        let decoded = try roundTrip(RPCStatus(error))
        #expect(decoded.error == error)
        #expect(try RPCStatus(protobuf: RPCStatus(RPCError(.notFound, "no such worker")).protobufBytes()).error?.retryAfterMs == nil)
        for code in 0...16 { try roundTrip(RPCStatus(code: StatusCode(rawValue: code), message: "m\(code)")) }
        try roundTrip(RPCStatus(code: StatusCode(rawValue: -1), message: "negative enum values survive too"))
    }

    @Test func health() throws {
        try roundTrip(HealthCheckRequest())
        try roundTrip(HealthCheckRequest(service: "takt.v1.Ingest"))
        for s in [ServingStatus.unknown, .serving, .notServing, .serviceUnknown] { try roundTrip(s) }
        try roundTrip(StatsRequest())
        #expect(StatsRequest().protobufBytes().isEmpty)
        try roundTrip(Samples.serverStats)
        try roundTrip(ServerStats())
    }

    @Test func statsBytesAreDeterministic() {
        // Dictionaries are sent sorted, so equal stats always give equal bytes.
        let a = Samples.serverStats.protobufBytes()
        for _ in 0..<10 { #expect(ServerStats(
            uptimeMs: 123_456, connectionsOpen: 3, connectionsTotal: .max, methods: Samples.serverStats.methods,
            results: Dictionary(uniqueKeysWithValues: Samples.serverStats.results.shuffled().map { ($0.key, $0.value) }),
            eventsStored: 4_000, storeBytes: 1 << 40, walBytes: 4096, commits: 17, subscribers: 2,
            version: "taktd/0.1 ✓", durability: "full", strict: true).protobufBytes() == a) }
    }

    @Test func embeddedNULEndsAString() throws {
        // protobuf-c hands strings over as C strings: documented limitation.
        let h = HealthCheckRequest(service: "takt\u{0}hidden")
        #expect(try HealthCheckRequest(protobuf: h.protobufBytes()).service == "takt")
    }
}
