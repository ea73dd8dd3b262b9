// Writes the committed seed corpus Fuzz/corpus/{frames,messages,eventtext} (`scripts/fuzz.sh seeds`):
// valid frames, messages and lines built with the real encoders, plus the edge cases each parser
// must refuse. Deterministic: running it again gives the same files.
// It is linked like the fuzz targets (the modules are instrumented) and does its work in
// LLVMFuzzerInitialize, then exits.
import TaktDomain
import TaktProto
import TaktWire

#if canImport(Glibc)
import Glibc
#endif

nonisolated(unsafe) var written: [String: Int] = [:]  // one thread

func write(_ dir: String, _ target: String, _ name: String, _ bytes: [UInt8]) {
    let path = "\(dir)/\(target)/\(name)"
    guard let f = fopen(path, "wb") else { fatalError("cannot write \(path)") }
    if !bytes.isEmpty { precondition(fwrite(bytes, 1, bytes.count, f) == bytes.count) }
    fclose(f)
    written[target, default: 0] += 1
}

let t0: Int64 = 1_767_200_000_000  // shortly before the fuzzers' fixed clock (2026-01-01)

func event(_ i: Int, kind: EventKind = .working, key: IdempotencyKey? = nil) -> Event {
    Event(eventTimeMs: t0 + Int64(i) * 60_000, workerID: "W\(i % 3 + 1)", workstationID: "S\(i % 2 + 1)", kind: kind,
          confidence: 0.9, count: kind == .productCount ? UInt32(i % 5 + 1) : 0, siteID: i % 4 == 3 ? "plant-2" : "default",
          modelVersion: i % 2 == 0 ? "yolo-v8.1" : "", idempotencyKey: key)
}

func stored(_ e: Event, _ seq: Int64) -> StoredEvent { StoredEvent(event: e, receivedAtMs: e.eventTimeMs + 150, sequence: seq) }

/// Replaces the first occurrence of `needle` (a string's bytes) by `replacement` of the same length.
func patch(_ bytes: [UInt8], _ needle: String, _ replacement: [UInt8]) -> [UInt8] {
    let n = Array(needle.utf8)
    precondition(n.count == replacement.count)
    var out = bytes
    for i in 0...(out.count - n.count) where Array(out[i..<i + n.count]) == n {
        out.replaceSubrange(i..<i + n.count, with: replacement)
        return out
    }
    fatalError("\(needle) not found")
}

// MARK: Messages: byte 0 = index in FuzzMessages.messageKinds, then the payload.

func messageSeeds(_ dir: String) {
    func m(_ kind: UInt8, _ name: String, _ payload: [UInt8]) { write(dir, "messages", String(format2(kind)) + "-" + name, [kind] + payload) }
    let mixed = [event(0), event(1, kind: .idle), event(2, kind: .productCount), event(3, kind: .absent),
                 event(4, kind: .working, key: IdempotencyKey(gatewayID: "gw-7", sequence: 42)),
                 event(5, kind: .productCount, key: IdempotencyKey(gatewayID: "gw-other", sequence: 1))]
    let batch = EventBatch(events: mixed, gatewayID: "gw-7").protobufBytes()
    // 0 SubmitBatch
    m(0, "batch-empty", EventBatch(events: []).protobufBytes())
    m(0, "batch-mixed", batch)
    m(0, "batch-duplicates", EventBatch(events: mixed + mixed.reversed()).protobufBytes())
    m(0, "batch-200", EventBatch(events: (0..<200).map { event($0, kind: [.working, .idle, .absent, .productCount][$0 % 4]) },
                                 gatewayID: "gw-1").protobufBytes())
    var bad = [Event]()
    bad.append(Event(eventTimeMs: 0, workerID: "W1", workstationID: "S1", kind: .working, confidence: 0.9))
    bad.append(Event(eventTimeMs: t0, workerID: "W 1", workstationID: "S1", kind: .working, confidence: 0.9))
    bad.append(Event(eventTimeMs: t0, workerID: "W1", workstationID: "", kind: .idle, confidence: 0.9))
    bad.append(Event(eventTimeMs: t0, workerID: "W1", workstationID: "S1", kind: .idle, confidence: .nan))
    bad.append(Event(eventTimeMs: t0, workerID: "W1", workstationID: "S1", kind: .idle, confidence: 1.5))
    bad.append(Event(eventTimeMs: t0, workerID: "W1", workstationID: "S1", kind: .idle, confidence: 0.2))
    bad.append(Event(eventTimeMs: t0, workerID: "W1", workstationID: "S1", kind: .productCount, confidence: 0.9, count: 10_001))
    bad.append(Event(eventTimeMs: Int64.max, workerID: "W1", workstationID: "S1", kind: .idle, confidence: 0.9))
    bad.append(Event(eventTimeMs: t0, workerID: String(repeating: "w", count: 65), workstationID: "S1", kind: .idle, confidence: 0.9))
    bad.append(Event(eventTimeMs: t0, workerID: "W1", workstationID: "S1", kind: .idle, confidence: 0.9,
                     modelVersion: String(repeating: "m", count: 65)))
    m(0, "batch-rejections", EventBatch(events: bad).protobufBytes())
    // A worker id that is not UTF-8, and a kind outside the enum: per-event INVALID, not a failed call.
    m(0, "batch-not-utf8", patch(batch, "W1", [0xC3, 0x28]))
    let kindWorking = UInt8(EventKind.working.rawValue)
    var unknownKind = Event(eventTimeMs: t0, workerID: "W1", workstationID: "S1", kind: .working, confidence: 0.9).protobufBytes()
    if let i = unknownKind.firstIndex(of: 0x20), i + 1 < unknownKind.count, unknownKind[i + 1] == kindWorking {
        unknownKind[i + 1] = 9  // field 4 (kind) = 9
    }
    m(0, "batch-event-kind-9", [0x0A, UInt8(unknownKind.count)] + unknownKind)
    m(0, "batch-truncated", Array(batch.prefix(batch.count / 2)))
    // 1 SubmitEvent
    m(1, "event", event(0).protobufBytes())
    m(1, "event-product-keyed", event(2, kind: .productCount, key: IdempotencyKey(gatewayID: "gw-1", sequence: 7)).protobufBytes())
    m(1, "event-empty", [])
    m(1, "event-kind-9", unknownKind)
    m(1, "event-low-confidence", bad[5].protobufBytes())
    // 2 QueryMetrics
    for scope in MetricsScope.allCases {
        m(2, "query-\(scope)", MetricsQuery(scope: scope, fromMs: t0 - 86_400_000, toMs: t0).protobufBytes())
    }
    m(2, "query-defaults", MetricsQuery(scope: .factory).protobufBytes())
    m(2, "query-timeline-15min-worker", MetricsQuery(scope: .timeline, fromMs: t0 - 3_600_000, toMs: t0, siteID: "default",
                                                    workerIDs: ["W1", "W2"], bucketMs: 900_000, utcOffsetMinutes: 330,
                                                    timelineSubject: .worker).protobufBytes())
    m(2, "query-timeline-bad-bucket", MetricsQuery(scope: .timeline, bucketMs: 7_000_000).protobufBytes())
    m(2, "query-from-after-to", MetricsQuery(scope: .workers, fromMs: t0, toMs: t0 - 1).protobufBytes())
    m(2, "query-extremes", MetricsQuery(scope: .workstations, fromMs: Int64.min, toMs: Int64.max, workstationIDs: ["S1"],
                                       utcOffsetMinutes: Int32.min).protobufBytes())
    // 3 ListEvents, 4 Subscribe
    let filter = EventFilter(siteID: "default", workerIDs: ["W1"], workstationIDs: ["S1", "S2"], kinds: [.working, .productCount],
                             fromMs: t0 - 3_600_000, toMs: t0)
    m(3, "list-all", ListEventsRequest().protobufBytes())
    m(3, "list-filtered", ListEventsRequest(filter: filter, pageSize: 100, pageToken: "1767200000000:42").protobufBytes())
    m(3, "list-bad-window", ListEventsRequest(filter: EventFilter(fromMs: 5, toMs: 5), pageSize: -1).protobufBytes())
    m(4, "subscribe-all", SubscribeRequest().protobufBytes())
    m(4, "subscribe-filtered", SubscribeRequest(filter: filter).protobufBytes())
    // 5 HELLO
    m(5, "hello", ClientHello(protocolVersion: 1, clientName: "x").protobufBytes())
    m(5, "hello-full", ClientHello(protocolVersion: 1, clientName: "gateway-line-3", authToken: "tk_0123456789abcdef",
                                   maxFrameSize: 4 << 20).protobufBytes())
    m(5, "hello-v2", ClientHello(protocolVersion: 2, clientName: String(repeating: "n", count: 300)).protobufBytes())
    // 6, 7 registry upserts; 8 list
    m(6, "workers", WorkerList([WorkerRecord(workerID: "W1", name: "Ana", shift: "A"),
                                WorkerRecord(siteID: "plant-2", workerID: "W2", name: "Bo")]).protobufBytes())
    m(6, "workers-bad-id", WorkerList([WorkerRecord(workerID: "W 1"), WorkerRecord(siteID: "", workerID: "")]).protobufBytes())
    m(7, "workstations", WorkstationList([WorkstationRecord(workstationID: "S1", name: "Press", location: "Hall 1")]).protobufBytes())
    m(8, "registry-list", RegistryListRequest().protobufBytes())
    m(8, "registry-list-site", RegistryListRequest(siteID: "plant-2").protobufBytes())
    // 9 Health.Check, 10 Stats, 11 GOAWAY
    m(9, "health", HealthCheckRequest().protobufBytes())
    m(9, "health-ingest", HealthCheckRequest(service: "takt.v1.Ingest").protobufBytes())
    m(10, "stats", StatsRequest().protobufBytes())
    m(11, "goaway", Goaway(lastCallID: 77, code: .ok, reason: "server shutting down").protobufBytes())
    m(11, "goaway-empty", [])
    // 12... client side
    m(12, "server-hello", ServerHello(protocolVersion: 1, serverName: "taktd/0.1.0").protobufBytes())
    m(13, "status-unavailable", RPCStatus(code: .unavailable, message: "disk full", retryAfterMs: 1000).protobufBytes())
    m(13, "status-code-99", RPCStatus(code: StatusCode(rawValue: 99), message: "?").protobufBytes())
    m(14, "event-ack", EventResult(.duplicate, "already stored").protobufBytes())
    m(15, "batch-ack", BatchAck(results: [EventResult(.accepted), EventResult(.invalid, "worker_id: required"),
                                          EventResult(.lowConfidence, "0.2"), EventResult(.accepted)]).protobufBytes())
    let window = TimeWindow(fromMs: t0 - 86_400_000, toMs: t0)
    let wm = WorkerMetrics(siteID: "default", workerID: "W1", workingMs: 3_600_000, idleMs: 600_000, absentMs: 0,
                           utilizationPct: 85.7, units: 120, unitsOutsideWorking: 2, unitsPerHour: 120, lastSeenMs: t0 - 5)
    let sm = WorkstationMetrics(siteID: "default", workstationID: "S1", occupancyMs: 4_200_000, workingMs: 3_600_000,
                                utilizationPct: 85.7, units: 120, throughputPerHour: 102.8, lastActivityMs: nil)
    let row = TimelineRow(subject: .worker, siteID: "default", entityID: "W1",
                          buckets: [TimelineBucket(startMs: t0 - 3_600_000, endMs: t0, workingMs: 1_800_000, idleMs: 60_000,
                                                   utilizationPct: 96.8, units: 3)])
    let health = ModelHealthReport(toMs: t0, overall: ModelHealth(modelVersion: nil, samples: 100, meanConfidence: 0.88,
                                                                  stddevConfidence: 0.04, status: .healthy),
                                   versions: [ModelHealth(modelVersion: "yolo-v8.1", samples: 100, meanConfidence: 0.88,
                                                          stddevConfidence: 0.04, status: .healthy, lowConfidenceRejections24h: 3,
                                                          recentMean: 0.87, baselineMean: 0.9, driftPct: -3.3, driftDetected: false)])
    m(16, "metrics-all", MetricsResponse(window: window, factory: FactoryMetrics(activeWorkers: 1, activeWorkstations: 1,
                                                                                 totalWorkingMs: 3_600_000, totalUnits: 120,
                                                                                 avgUtilizationPct: 85.7, avgUnitsPerHour: 120),
                                         workers: [wm], workstations: [sm]).protobufBytes())
    m(16, "metrics-timeline", MetricsResponse(window: window, timeline: [row]).protobufBytes())
    m(16, "metrics-model-health", MetricsResponse(window: window, modelHealth: health).protobufBytes())
    m(17, "event-page", EventPage(events: mixed.enumerated().map { stored($1, Int64($0 + 1)) }, nextPageToken: "x:9").protobufBytes())
    m(18, "subscribe-update", SubscriptionUpdate(events: [stored(event(1), 9)], dropped: 3).protobufBytes())
    m(19, "stats-response", ServerStats(uptimeMs: 1000, connectionsOpen: 2, connectionsTotal: 9,
                                        methods: [MethodStats(method: .submitBatch, calls: 10,
                                                              statuses: [.ok: 9, .unavailable: 1])],
                                        results: [.accepted: 100, .duplicate: 4], eventsStored: 100, storeBytes: 4096,
                                        walBytes: 0, commits: 7, subscribers: 1, version: "0.1.0", durability: "full",
                                        strict: false).protobufBytes())
    m(20, "upsert-result", UpsertResult(created: 2, updated: 1).protobufBytes())
    m(21, "sites", SiteList([SiteRecord(siteID: "default", workers: 3, workstations: 2)]).protobufBytes())
    m(22, "serving", ServingStatus.serving.protobufBytes())
    // Raw protobuf edge cases, against the batch decoder (the hot path) and the query decoder.
    m(0, "raw-varint-10-bytes", [0x08] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
    m(0, "raw-varint-unterminated", [0x08] + [UInt8](repeating: 0xFF, count: 11))
    m(0, "raw-length-huge", [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F])
    m(0, "raw-field-0", [0x00, 0x01])
    m(0, "raw-group", [0x0B, 0x0C])
    m(0, "raw-unknown-fields", [0xF8, 0xFF, 0xFF, 0xFF, 0x0F, 0x01, 0xA2, 0x06, 0x02, 0x41, 0x42] + batch)
    m(0, "raw-empty-events", [UInt8](repeating: 0, count: 0) + (0..<64).flatMap { _ in [0x0A, 0x00] as [UInt8] })
    m(0, "raw-wire-type-7", [0x0F])
    m(2, "raw-scope-negative", [0x08] + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
}

func format2(_ n: UInt8) -> String { n < 10 ? "0\(n)" : "\(n)" }

// MARK: Frames: a connection's bytes from its start (preface first).

func frameSeeds(_ dir: String) {
    func f(_ name: String, _ bytes: [UInt8]) { write(dir, "frames", name, bytes) }
    let preface = Preface.bytes()
    let hello = Frame(type: .hello, payload: ClientHello(protocolVersion: 1, clientName: "x").protobufBytes()).encoded()
    let check = Frame(type: .request, methodID: MethodID.healthCheck.rawValue, callID: 7, param: 1000).encoded()
    let batch = Frame(type: .request, methodID: MethodID.submitBatch.rawValue, callID: 9, param: 10_000,
                      payload: EventBatch(events: (0..<20).map { event($0) }, gatewayID: "gw-1").protobufBytes()).encoded()
    f("empty", [])
    f("preface", preface)
    f("preface-partial", Array(preface.prefix(3)))
    f("preface-bad-magic", Array("TAKX".utf8) + [0, 1, 0, 0])
    f("preface-http", Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
    f("preface-version-2", Preface.bytes(version: 2))
    f("preface-reserved", Array(preface.prefix(6)) + [0, 1])
    f("session-hello", preface + hello)
    f("session-protocol-md", preface + hello + check)  // PROTOCOL.md section 8, byte by byte
    f("session-batch", preface + hello + batch)
    var pipelined = preface + hello
    for (i, method) in MethodID.allCases.enumerated() {
        pipelined += Frame(type: .request, methodID: method.rawValue, callID: UInt32(i + 1), param: UInt32(i * 100)).encoded()
    }
    f("session-pipelined", pipelined)
    f("session-control", preface + hello + Frame(type: .ping, param: 0xDEAD_BEEF).encoded() + Frame(type: .cancel, callID: 7).encoded()
        + Frame(type: .pong, param: 1).encoded() + Frame(type: .goaway, payload: Goaway(lastCallID: 0, code: .ok, reason: "").protobufBytes()).encoded())
    var everyType = preface
    for t in FrameType.allCases { everyType += Frame(type: t, callID: UInt32(t.rawValue)).encoded() }
    f("every-frame-type", everyType)
    f("server-replies", preface + Frame(type: .helloAck, payload: ServerHello(serverName: "taktd").protobufBytes()).encoded()
        + Frame(type: .response, callID: 7, payload: ServingStatus.serving.protobufBytes()).encoded()
        + Frame(type: .streamMessage, callID: 8, payload: SubscriptionUpdate(events: [stored(event(0), 1)]).protobufBytes()).encoded()
        + Frame(type: .status, callID: 8, payload: RPCStatus(code: .ok).protobufBytes()).encoded())
    f("frame-truncated-header", preface + Array(hello.prefix(10)))
    f("frame-truncated-payload", preface + Array(batch.prefix(batch.count - 5)))
    f("frame-flags", preface + [0, 0, 0, 0, FrameType.ping.rawValue, 0x80] + [UInt8](repeating: 0, count: 10))
    f("frame-type-0", preface + [0, 0, 0, 0, 0, 0] + [UInt8](repeating: 0, count: 10))
    f("frame-type-11", preface + hello + [0, 0, 0, 0, 11, 0] + [UInt8](repeating: 0, count: 10))
    f("frame-too-large", preface + [0x00, 0x40, 0x00, 0x01, FrameType.request.rawValue, 0, 0, 11, 0, 0, 0, 1, 0, 0, 0, 0])
    f("frame-at-limit-header", preface + [0x00, 0x40, 0x00, 0x00, FrameType.request.rawValue, 0, 0, 11, 0, 0, 0, 1, 0, 0, 0, 0])
    f("frame-length-max", preface + [0xFF, 0xFF, 0xFF, 0xFF, FrameType.hello.rawValue, 0] + [UInt8](repeating: 0, count: 10))
    f("frame-64k", preface + Frame(type: .request, methodID: 11, callID: 1, payload: [UInt8](repeating: 0x0A, count: 65_000)).encoded())
    f("frame-many-empty", preface + (0..<300).flatMap { i in Frame(type: .ping, param: UInt32(i)).encoded() })
    f("frame-method-unknown", preface + hello + Frame(type: .request, methodID: 999, callID: 1).encoded())
}

// MARK: Event text: JSON Lines and CSV files.

func textSeeds(_ dir: String) {
    func t(_ name: String, _ text: String) { write(dir, "eventtext", name, Array(text.utf8)) }
    func b(_ name: String, _ bytes: [UInt8]) { write(dir, "eventtext", name, bytes) }
    let events = (0..<6).map { event($0, kind: [.working, .idle, .absent, .productCount][$0 % 4],
                                     key: $0 == 4 ? IdempotencyKey(gatewayID: "gw,\"7\"", sequence: 42) : nil) }
    t("jsonl-written", events.map(EventText.jsonLine).joined(separator: "\n") + "\n")
    t("csv-written", EventText.csvHeader + "\n" + events.map(EventText.csvRow).joined(separator: "\n") + "\n")
    t("jsonl-minimal", #"{"event_time_ms":1767200000000,"worker_id":"W1","workstation_id":"S1","kind":"working","confidence":0.9}"#)
    t("jsonl-timestamp", #"{"timestamp":"2026-01-01T08:00:00.250+05:30","worker_id":"W1","workstation_id":"S1","kind":"product_count","confidence":1,"count":3}"# + "\n"
        + #"{"timestamp":"2025-12-31T23:59:60Z","worker_id":"W1","workstation_id":"S1","kind":"idle","confidence":0.8}"# + "\n"
        + #"{"timestamp":"2026-01-01T00:00:00Z","event_time_ms":1767225600001,"worker_id":"W1","workstation_id":"S1","kind":"idle","confidence":0.8}"#)
    t("jsonl-escapes", #"{"event_time_ms":1,"worker_id":"W\u0031","workstation_id":"S\/1","kind":"idle","confidence":5e-1,"model_version":"\ud83d\ude00 \"q\" \\ \n\t","site_id":null}"# + "\n"
        + #"{"event_time_ms":1,"worker_id":"\ud800","workstation_id":"S1","kind":"idle","confidence":0.5}"#)
    t("jsonl-unknown-nested", #"{"x":{"a":[1,2,{"b":[true,false,null]}],"c":"}"},"event_time_ms":2,"worker_id":"W1","workstation_id":"S1","kind":"absent","confidence":0.75,"extra":[[[]]]}"#)
    t("jsonl-too-deep", "{\"x\":" + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + ",\"event_time_ms\":1}")
    t("jsonl-numbers", #"{"event_time_ms":1.0,"worker_id":"W1","workstation_id":"S1","kind":"idle","confidence":1E400}"# + "\n"
        + #"{"event_time_ms":-0,"worker_id":"W1","workstation_id":"S1","kind":"idle","confidence":-0.0,"count":4294967296,"sequence":18446744073709551616,"gateway_id":"g"}"# + "\n"
        + #"{"event_time_ms":9223372036854775807,"worker_id":"W1","workstation_id":"S1","kind":"idle","confidence":0.00001,"count":-1}"# + "\n"
        + #"{"event_time_ms":01,"worker_id":"W1","workstation_id":"S1","kind":"idle","confidence":.5}"#)
    t("jsonl-errors", "{\n" + #"{"event_time_ms":1,"worker_id":"W1"}"# + "\n" + #"{"event_time_ms":1,"worker_id":"W1","workstation_id":"S1","kind":"dancing","confidence":0.5}"#
        + "\n" + #"{"event_time_ms":1,"worker_id":"W1","workstation_id":"S1","kind":"idle","confidence":0.5,"sequence":3}"#
        + "\n" + #"{"event_time_ms":1,"worker_id":"W1","worker_id":"W2","workstation_id":"S1","kind":"idle","confidence":0.5} trailing"#
        + "\n" + #"{"event_time_ms":"1","worker_id":1,"workstation_id":"S1","kind":"idle","confidence":"0.5"}"# + "\n[]\n\"str\"\n")
    t("jsonl-crlf-blank", "\r\n   \r\n" + EventText.jsonLine(events[0]) + "\r\n\t\r\n" + EventText.jsonLine(events[1]) + "\r\n")
    b("jsonl-bom", [0xEF, 0xBB, 0xBF] + Array(EventText.jsonLine(events[0]).utf8))
    b("jsonl-bad-utf8", Array(#"{"event_time_ms":1,"worker_id":""#.utf8) + [0xC3, 0x28, 0xF0, 0x9F] + Array(#"","workstation_id":"S1","kind":"idle","confidence":0.5}"#.utf8))
    t("csv-reordered", "kind,confidence,worker_id,workstation_id,event_time_ms,count,site_id\nworking,0.9,W1,S1,1767200000000,,\nproduct_count,1,W1,S1,1767200060000,5,plant-2\n")
    t("csv-quoted", "event_time_ms,worker_id,workstation_id,kind,confidence,model_version\n"
        + "1,\"W1\",\"S1\",idle,0.5,\"multi\nline, \"\"quoted\"\"\"\n2,W1,S1,idle,0.5,\"\"\n3,W1,S1,idle,0.5,\"unterminated\n")
    t("csv-timestamp", "timestamp,worker_id,workstation_id,kind,confidence\n2026-01-01T00:00:00Z,W1,S1,working,0.9\n2026-13-01T00:00:00Z,W1,S1,working,0.9\n")
    t("csv-header-errors", "event_time_ms,worker_id,worker_id,kind\n1,W1,W1,idle\n")
    t("csv-header-unknown", "when,who\n1,W1\n")
    t("csv-ragged", EventText.csvHeader + "\n1,W1,S1,idle,0.5\n1,W1,S1,idle,0.5,0,default,,g,1,extra\n , W1 ,S1,idle, 0.5 ,,,,,\n")
    t("csv-gateway-sequence", EventText.csvHeader + "\n1,W1,S1,idle,0.5,,,,gw,\n2,W1,S1,idle,0.5,,,,,7\n3,W1,S1,idle,0.5,,,,gw,+7\n")
    t("blank", "\n\n \t \r\n")
    b("long-line", Array(("{\"model_version\":\"" + String(repeating: "m", count: 65_540) + "\"}\n" + EventText.jsonLine(events[0]) + "\n").utf8))
}

@_cdecl("LLVMFuzzerInitialize")
public func writeSeeds(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    guard let dir = getenv("TAKT_SEEDS_DIR").map({ String(cString: $0) }) else {
        print("set TAKT_SEEDS_DIR (scripts/fuzz.sh seeds does)")
        exit(2)
    }
    messageSeeds(dir)
    frameSeeds(dir)
    textSeeds(dir)
    for (target, n) in written.sorted(by: { $0.key < $1.key }) { print("seeds: \(target): \(n)") }
    exit(0)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func unused(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { 0 }
