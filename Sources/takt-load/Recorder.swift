// Latencies (HdrHistogram, µs) and counts per call kind. Completions arrive on many connection
// queues at once, so the tallies are sharded by gateway and merged at the end.
import Histogram
import Synchronization
import TaktDomain
import TaktSync

enum CallKind: Int, CaseIterable, Sendable {
    case submitEvent, submitBatch, queryFactory, queryWorkers, queryTimeline

    var name: String {
        switch self {
        case .submitEvent: return "SubmitEvent"
        case .submitBatch: return "SubmitBatch"
        case .queryFactory: return "QueryMetrics factory"
        case .queryWorkers: return "QueryMetrics workers"
        case .queryTimeline: return "QueryMetrics timeline"
        }
    }

    var isIngest: Bool { self == .submitEvent || self == .submitBatch }
}

/// Events per result code, held inline: recording a call allocates nothing (a dictionary per call
/// was a measurable share of the load generator's CPU, which shares the cores with taktd).
struct CodeCounts: Sendable {
    /// Indexed by `ResultCode.rawValue` (1...5 today; SIMD's subscript traps past 7).
    private var counts = SIMD8<Int64>()

    mutating func add(_ code: ResultCode, _ n: Int = 1) { counts[code.rawValue] &+= Int64(n) }
    mutating func add(_ other: CodeCounts) { counts &+= other.counts }
    subscript(code: ResultCode) -> Int { Int(counts[code.rawValue]) }
    /// The codes seen, with their counts.
    var dictionary: [ResultCode: Int] {
        var d: [ResultCode: Int] = [:]
        for c in ResultCode.allCases where self[c] != 0 { d[c] = self[c] }
        return d
    }
}

/// How one call ended, as the recorder needs it.
struct CallOutcome: Sendable {
    /// "OK" or the RPC status code name.
    var status: String
    /// Result codes of the events of an answered ingest call.
    var codes = CodeCounts()
    var ok: Bool { status == "OK" }
}

struct KindTally: Sendable {
    /// Latency of calls started (or scheduled, open loop) after the warm-up, µs.
    var latencyUs = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
    /// Whole run, warm-up included.
    var calls = 0
    var events = 0
    var statuses: [String: Int] = [:]
    var codes = CodeCounts()
    /// Answered (status OK) after the warm-up ended: the throughput numerator.
    var windowCalls = 0
    var windowEvents = 0

    mutating func merge(_ o: KindTally) {
        latencyUs.add(o.latencyUs)
        calls += o.calls
        events += o.events
        for (k, v) in o.statuses { statuses[k, default: 0] += v }
        codes.add(o.codes)
        windowCalls += o.windowCalls
        windowEvents += o.windowEvents
    }
}

final class Recorder: Sendable {
    private final class Shard: Sendable {
        let tallies = LockedValue<[CallKind: KindTally]>([:])
    }

    private let shards: [Shard]
    /// Monotonic ns at which the warm-up ends; UInt64.max until the run starts.
    let measureFromNs = Atomic<UInt64>(UInt64.max)

    init(shards: Int = 16) {
        self.shards = (0..<max(1, shards)).map { _ in Shard() }
    }

    /// One finished call. `startNs`: when it was sent (closed loop) or scheduled (open loop).
    func record(_ kind: CallKind, shard: Int, startNs: UInt64, endNs: UInt64, events: Int, outcome: CallOutcome) {
        let from = measureFromNs.load(ordering: .relaxed)
        shards[shard % shards.count].tallies.withLock { t in
            // In place: a copy of the tally would copy its histogram's counts on every call.
            Self.add(to: &t[kind, default: KindTally()], startNs: startNs, endNs: endNs, from: from, events: events, outcome: outcome)
        }
    }

    private static func add(to tally: inout KindTally, startNs: UInt64, endNs: UInt64, from: UInt64, events: Int,
                            outcome: CallOutcome) {
        tally.calls += 1
        tally.events += events
        tally.statuses[outcome.status, default: 0] += 1
        tally.codes.add(outcome.codes)
        if startNs >= from {
            let us = endNs > startNs ? (endNs - startNs + 500) / 1_000 : 0
            tally.latencyUs.record(max(us, 1))
        }
        if endNs >= from && outcome.ok {
            tally.windowCalls += 1
            tally.windowEvents += events
        }
    }

    /// Everything recorded so far, merged.
    func snapshot() -> [CallKind: KindTally] {
        var all: [CallKind: KindTally] = [:]
        for s in shards {
            let t = s.tallies.withLock { $0 }
            for (k, v) in t {
                var m = all[k] ?? KindTally()
                m.merge(v)
                all[k] = m
            }
        }
        return all
    }

    /// (calls, events) completed after the warm-up so far, over all kinds or the ingest kinds only.
    func windowCounts(ingestOnly: Bool) -> (calls: Int, events: Int) {
        var calls = 0, events = 0
        for s in shards {
            s.tallies.withLock { t in
                for (k, v) in t where !ingestOnly || k.isIngest {
                    calls += v.windowCalls
                    events += v.windowEvents
                }
            }
        }
        return (calls, events)
    }
}
