// Shared fixtures: sample values, a deterministic PRNG, and a tiny protobuf writer for hand-built
// (including deliberately broken) payloads.
import Testing
import TaktDomain
@testable import TaktProto

/// SplitMix64: deterministic, seedable, good enough for fuzzing.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Writes protobuf wire format by hand, so tests can send what no well-behaved encoder would.
struct WireWriter {
    var bytes: [UInt8] = []

    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func tag(_ field: UInt64, _ wireType: UInt64) { varint(field << 3 | wireType) }

    mutating func varintField(_ field: UInt64, _ v: UInt64) {
        tag(field, 0)
        varint(v)
    }

    mutating func int64Field(_ field: UInt64, _ v: Int64) { varintField(field, UInt64(bitPattern: v)) }

    mutating func doubleField(_ field: UInt64, _ v: Double) {
        tag(field, 1)
        withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func bytesField(_ field: UInt64, _ b: [UInt8]) {
        tag(field, 2)
        varint(UInt64(b.count))
        bytes.append(contentsOf: b)
    }

    mutating func stringField(_ field: UInt64, _ s: String) { bytesField(field, Array(s.utf8)) }

    mutating func message(_ field: UInt64, _ build: (inout WireWriter) -> Void) {
        var inner = WireWriter()
        build(&inner)
        bytesField(field, inner.bytes)
    }
}

/// Field numbers of `takt.v1.Event`.
enum EventField {
    static let eventTimeMs: UInt64 = 1, workerID: UInt64 = 2, workstationID: UInt64 = 3, kind: UInt64 = 4
    static let confidence: UInt64 = 5, count: UInt64 = 6, siteID: UInt64 = 7, modelVersion: UInt64 = 8
    static let gatewayID: UInt64 = 9, sequence: UInt64 = 10
}

/// A valid event by hand, with hooks to break it.
func wireEvent(time: Int64 = 1_700_000_000_000, worker: [UInt8] = Array("W1".utf8), station: [UInt8] = Array("S1".utf8),
               kind: UInt64? = 3, confidence: Double = 0.9, extra: (inout WireWriter) -> Void = { _ in }) -> [UInt8] {
    var w = WireWriter()
    w.int64Field(EventField.eventTimeMs, time)
    w.bytesField(EventField.workerID, worker)
    w.bytesField(EventField.workstationID, station)
    if let kind { w.varintField(EventField.kind, kind) }
    w.doubleField(EventField.confidence, confidence)
    extra(&w)
    return w.bytes
}

func wireBatch(_ events: [[UInt8]], gateway: String? = nil) -> [UInt8] {
    var w = WireWriter()
    for e in events { w.bytesField(1, e) }
    if let gateway { w.stringField(2, gateway) }
    return w.bytes
}

let now: Int64 = 1_700_000_000_000

enum Samples {
    static func event(_ i: Int, gateway: String = "gw-1") -> Event {
        let kinds: [EventKind] = [.working, .idle, .absent, .productCount]
        return Event(eventTimeMs: now - Int64(i) * 1_000, workerID: "W\(i % 37)", workstationID: "S\(i % 11)",
                     kind: kinds[i % 4], confidence: 0.7 + Double(i % 30) / 100, count: i % 4 == 3 ? UInt32(i % 7) : 0,
                     siteID: i % 5 == 0 ? "" : "plant-\(i % 3)", modelVersion: i % 2 == 0 ? "yolo-v8.2" : "",
                     idempotencyKey: i % 3 == 0 ? nil : IdempotencyKey(gatewayID: i % 3 == 1 ? gateway : "other-gw",
                                                                      sequence: UInt64(i + 1)))
    }

    static func batch(_ n: Int) -> EventBatch {
        EventBatch(events: (0..<n).map { event($0) }, gatewayID: "gw-1")
    }

    static let extremeEvent = Event(
        eventTimeMs: .max, workerID: "Wörker-✓-工人", workstationID: String(repeating: "s", count: 300), kind: .productCount,
        confidence: 1.0, count: .max, siteID: "🏭", modelVersion: "model \u{0301}v1",
        idempotencyKey: IdempotencyKey(gatewayID: "gateway-😀", sequence: .max))

    static let minimalEvent = Event(eventTimeMs: .min, workerID: "", workstationID: "", kind: .absent, confidence: -0.0,
                                    count: 0, siteID: "", modelVersion: "")

    static let metricsResponse = MetricsResponse(
        window: TimeWindow(fromMs: now - 86_400_000, toMs: now),
        factory: FactoryMetrics(activeWorkers: 12, activeWorkstations: 7, totalWorkingMs: .max, totalUnits: 4_211,
                                avgUtilizationPct: 58.333333333333336, avgUnitsPerHour: 42.857142857142854),
        workers: [
            WorkerMetrics(siteID: "default", workerID: "W1", workingMs: 420_000, idleMs: 300_000, absentMs: 0,
                          utilizationPct: 58.333333333333336, units: 5, unitsOutsideWorking: 1,
                          unitsPerHour: 42.857142857142854, lastSeenMs: now - 1),
            WorkerMetrics(siteID: "plänt", workerID: "W2", absentMs: 86_400_000),
        ],
        workstations: [
            WorkstationMetrics(siteID: "default", workstationID: "S1", occupancyMs: 720_000, workingMs: 420_000,
                               utilizationPct: 100, units: 5, throughputPerHour: 25, lastActivityMs: now),
            WorkstationMetrics(siteID: "", workstationID: "S2"),
        ],
        timeline: [
            TimelineRow(subject: .worker, siteID: "default", entityID: "W1", buckets: [
                TimelineBucket(startMs: now - 7_200_000, endMs: now - 3_600_000, workingMs: 1_000, idleMs: 2_000,
                               utilizationPct: 33.333333333333336, units: 3),
                TimelineBucket(startMs: now - 3_600_000, endMs: now),
            ]),
            TimelineRow(subject: .factory, siteID: "", entityID: "", buckets: []),
            TimelineRow(subject: .workstation, siteID: "s", entityID: "S9", buckets: [TimelineBucket(startMs: 0, endMs: 1)]),
        ],
        modelHealth: ModelHealthReport(
            toMs: now,
            overall: ModelHealth(modelVersion: nil, samples: 100, meanConfidence: 0.91, stddevConfidence: 0.05,
                                 status: .healthy, lowConfidenceRejections24h: 3, recentMean: 0.9, baselineMean: 0.92,
                                 driftPct: 2.173913043478263, driftDetected: false),
            versions: [
                ModelHealth(modelVersion: "", samples: 0, status: .unknown),
                ModelHealth(modelVersion: "yolo-v8.2", samples: 100, meanConfidence: 0.7, stddevConfidence: 0.1,
                            status: .warning, lowConfidenceRejections24h: .max, recentMean: 0.7, baselineMean: nil,
                            driftPct: nil, driftDetected: true),
                ModelHealth(modelVersion: "模型", samples: 40, meanConfidence: 0.8, status: .caution, recentMean: nil,
                            baselineMean: 0.8),
            ]))

    static let serverStats = ServerStats(
        uptimeMs: 123_456, connectionsOpen: 3, connectionsTotal: .max,
        methods: [
            MethodStats(method: .submitBatch, calls: 10, statuses: [.ok: 9, .invalidArgument: 1]),
            MethodStats(method: .healthCheck, calls: 0, statuses: [:]),
            MethodStats(method: .listSites, calls: 1, statuses: [StatusCode(rawValue: 42): 1]),
        ],
        results: [.accepted: 4_000, .duplicate: 3, .lowConfidence: 2, .invalid: 1, .unknownEntity: 0],
        eventsStored: 4_000, storeBytes: 1 << 40, walBytes: 4096, commits: 17, subscribers: 2,
        version: "taktd/0.1 ✓", durability: "full", strict: true)
}

/// Decodes through the type's decoder and checks the budget allocator gave every byte back.
@discardableResult
func decodeCheckingMemory<T: ProtoDecoderBacked>(_ type: T.Type, _ bytes: [UInt8],
                                                sourceLocation: SourceLocation = #_sourceLocation)
    -> (result: Result<T, DecodeError>, memory: DecodeMemory) {
    let outcome = bytes.withUnsafeBytes { T.protoDecoder.decodeReportingMemory($0) }
    #expect(outcome.memory.liveBytes == 0, "allocator still holds \(outcome.memory.liveBytes) bytes", sourceLocation: sourceLocation)
    return outcome
}
