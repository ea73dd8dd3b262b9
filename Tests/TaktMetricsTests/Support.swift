import Testing
import TaktDomain
@testable import TaktMetrics

/// SplitMix64: small, seeded, deterministic.
struct SeededGenerator: RandomNumberGenerator {
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

/// Spec section 1 acceptance for a stream of valid events: LOW_CONFIDENCE below the minimum, DUPLICATE for
/// a repeated identity, ACCEPTED otherwise (the engine's part of ingest, enough to feed it).
func classify(_ events: [Event], minConfidence: Double = 0.70) -> (codes: [ResultCode], accepted: [Event], rejected: [Event]) {
    var seen = Set<EventIdentity>()
    var codes: [ResultCode] = []
    var accepted: [Event] = []
    var rejected: [Event] = []
    for e in events {
        if e.confidence < minConfidence {
            codes.append(.lowConfidence)
            rejected.append(e)
        } else if !seen.insert(e.identity).inserted {
            codes.append(.duplicate)
        } else {
            codes.append(.accepted)
            accepted.append(e)
        }
    }
    return (codes, accepted, rejected)
}

func stored(_ events: [Event], firstSequence: Int64 = 1) -> [StoredEvent] {
    events.enumerated().map { i, e in
        var e = e
        e.siteID = e.effectiveSiteID
        if e.kind == .productCount && e.count == 0 { e.count = 1 }
        return StoredEvent(event: e, receivedAtMs: e.eventTimeMs, sequence: firstSequence + Int64(i))
    }
}

/// Inserts `events` into `index` in `batches` random pieces (arrival order kept within the list given).
func insert(_ events: [Event], into index: MetricsIndex, batches: Int, rng: inout SeededGenerator) {
    var cuts = Set<Int>()
    if events.count > 1 {
        for _ in 0..<max(0, batches - 1) { cuts.insert(Int.random(in: 1..<events.count, using: &rng)) }
    }
    var start = 0
    for cut in cuts.sorted() + [events.count] {
        index.insert(stored(Array(events[start..<cut]), firstSequence: Int64(start) + 1))
        start = cut
    }
}

func relativelyClose(_ a: Double, _ b: Double, tolerance: Double = 1e-9) -> Bool {
    if a == b { return true }
    return abs(a - b) <= tolerance * max(abs(a), abs(b))
}

func close(_ a: Double?, _ b: Double?, absolute: Double = 0) -> Bool {
    switch (a, b) {
    case (nil, nil): return true
    case let (x?, y?): return relativelyClose(x, y) || abs(x - y) <= absolute
    default: return false
    }
}

/// Model health equality: exact except the drift means (fixed-point sums in the index, naive in the reference).
func expectEqual(_ a: ModelHealth, _ b: ModelHealth, _ context: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.modelVersion == b.modelVersion, "\(context)", sourceLocation: sourceLocation)
    #expect(a.samples == b.samples, "\(context) samples", sourceLocation: sourceLocation)
    #expect(a.meanConfidence == b.meanConfidence, "\(context) mean", sourceLocation: sourceLocation)
    #expect(a.stddevConfidence == b.stddevConfidence, "\(context) stddev", sourceLocation: sourceLocation)
    #expect(a.status == b.status, "\(context) status", sourceLocation: sourceLocation)
    #expect(a.lowConfidenceRejections24h == b.lowConfidenceRejections24h, "\(context) rejections", sourceLocation: sourceLocation)
    #expect(close(a.recentMean, b.recentMean), "\(context) recent \(String(describing: a.recentMean)) vs \(String(describing: b.recentMean))", sourceLocation: sourceLocation)
    #expect(close(a.baselineMean, b.baselineMean), "\(context) baseline", sourceLocation: sourceLocation)
    #expect(close(a.driftPct, b.driftPct, absolute: 1e-9), "\(context) drift", sourceLocation: sourceLocation)
    #expect(a.driftDetected == b.driftDetected, "\(context) detected", sourceLocation: sourceLocation)
}

func expectEqual(_ a: ModelHealthReport, _ b: ModelHealthReport, _ context: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.toMs == b.toMs, sourceLocation: sourceLocation)
    expectEqual(a.overall, b.overall, context + " overall", sourceLocation: sourceLocation)
    #expect(a.versions.map(\.modelVersion) == b.versions.map(\.modelVersion), "\(context) versions", sourceLocation: sourceLocation)
    for (x, y) in zip(a.versions, b.versions) {
        expectEqual(x, y, context + " version \(x.modelVersion ?? "-")", sourceLocation: sourceLocation)
    }
}
