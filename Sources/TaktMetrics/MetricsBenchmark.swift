// A deterministic factory-scale load for measuring `MetricsIndex` (not a test: run it in release).
// `TAKT_BENCH=1 swift test -c release -Xswiftc -enable-testing --scratch-path .build-metrics --filter MetricsBenchmarkTests`
import TaktDomain

public enum MetricsBenchmark {
    public struct Shape: Sendable {
        public var events: Int = 10_000_000
        public var workers: Int = 200
        public var workstations: Int = 20
        public var days: Int = 182
        /// Shift length per worker per day (two shifts: half the workers 06:00–14:00, half 14:00–22:00).
        public var shiftMs: Int64 = 8 * 3_600_000
        /// Fraction of events delivered late (hours after the ones around them).
        public var lateFraction: Double = 0.01
        public var start: Int64 = 1_748_736_000_000  // 2025-06-01T00:00:00Z
        public init() {}

        /// Mean gap between one worker's events implied by the other fields.
        public var meanGapMs: Int64 {
            let shiftTotal = Double(workers) * Double(days) * Double(shiftMs)
            return Int64(shiftTotal / Double(max(events, 1)))
        }
    }

    /// The load in arrival order: per day and shift, workers emit state events every ~`meanGapMs`
    /// (working 60 %, idle 25 %, absent 5 %) and product counts (10 %), mostly at their home workstation;
    /// about `lateFraction` of the events arrive hours late. Model versions change every 30 days.
    public static func events(_ shape: Shape, seed: UInt64 = 1) -> [Event] {
        var rng = SplitMix(seed: seed)
        var out: [Event] = []
        out.reserveCapacity(shape.events)
        var late: [(due: Int64, event: Event)] = []
        let workerIDs = (0..<shape.workers).map { "W\($0 + 1)" }
        let stationIDs = (0..<shape.workstations).map { "S\($0 + 1)" }
        let gap = max(shape.meanGapMs, 2)
        let day: Int64 = 86_400_000
        var d = 0
        while out.count < shape.events {
            let dayStart = shape.start + Int64(d % max(shape.days, 1)) * day + Int64(d / max(shape.days, 1)) * 7
            for shift in 0..<2 {
                let shiftStart = dayStart + (shift == 0 ? 6 : 14) * 3_600_000
                // Interleave the shift's workers in time order, a slice at a time.
                var next = [Int64](repeating: 0, count: shape.workers)
                for w in 0..<shape.workers where w % 2 == shift {
                    next[w] = shiftStart + Int64(rng.next() % UInt64(gap))
                }
                let shiftEnd = shiftStart + shape.shiftMs
                var t = shiftStart
                let slice: Int64 = 60_000
                while t < shiftEnd && out.count < shape.events {
                    for w in 0..<shape.workers where w % 2 == shift {
                        while next[w] < t + slice && next[w] < shiftEnd && out.count < shape.events {
                            let e = makeEvent(time: next[w], worker: w, workerIDs: workerIDs, stationIDs: stationIDs,
                                              shape: shape, rng: &rng)
                            if Double(rng.next() % 1_000_000) / 1_000_000 < shape.lateFraction {
                                late.append((next[w] + Int64(rng.next() % UInt64(6 * 3_600_000)), e))
                            } else {
                                out.append(e)
                            }
                            next[w] += gap / 2 + Int64(rng.next() % UInt64(gap))
                        }
                    }
                    t += slice
                    if !late.isEmpty, late.count > 64 || t >= shiftEnd {
                        let due = late.filter { $0.due <= t }
                        if !due.isEmpty {
                            out.append(contentsOf: due.map(\.event).prefix(shape.events - out.count))
                            late.removeAll { $0.due <= t }
                        }
                    }
                }
            }
            d += 1
        }
        for l in late where out.count < shape.events { out.append(l.event) }
        return out
    }

    static func makeEvent(time: Int64, worker w: Int, workerIDs: [String], stationIDs: [String], shape: Shape,
                          rng: inout SplitMix) -> Event {
        let home = w % shape.workstations
        let station = rng.next() % 20 == 0 ? Int(rng.next() % UInt64(shape.workstations)) : home
        let roll = rng.next() % 100
        let kind: EventKind = roll < 10 ? .productCount : roll < 70 ? .working : roll < 95 ? .idle : .absent
        let confidence = 0.7 + Double(rng.next() % 300_001) / 1_000_000
        let version = "v\(1 + Int((time - shape.start) / (30 * 86_400_000)))"
        return Event(eventTimeMs: time, workerID: workerIDs[w], workstationID: stationIDs[station], kind: kind,
                     confidence: confidence, count: kind == .productCount ? UInt32(1 + rng.next() % 3) : 0,
                     modelVersion: version)
    }

    public struct Timing: Sendable, CustomStringConvertible {
        public var name: String
        public var p50Ms: Double
        public var p99Ms: Double
        public var runs: Int
        public var description: String {
            "\(name): p50 \(Self.format(p50Ms)) ms, p99 \(Self.format(p99Ms)) ms (\(runs) runs)"
        }
        static func format(_ x: Double) -> String {
            let r = (x * 100).rounded() / 100
            return "\(r)"
        }
    }

    /// Times `body` `runs` times (after one warm-up run).
    public static func measure(_ name: String, runs: Int, _ body: (Int) -> Void) -> Timing {
        let clock = ContinuousClock()
        body(0)
        var samples: [Double] = []
        for i in 0..<runs {
            let start = clock.now
            body(i + 1)
            let elapsed = start.duration(to: clock.now)
            samples.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
        }
        samples.sort()
        let p = { (q: Double) in samples[min(samples.count - 1, Int(q * Double(samples.count)))] }
        return Timing(name: name, p50Ms: p(0.5), p99Ms: p(0.99), runs: runs)
    }

    /// Builds an index of `shape` and times the common queries. Returns one line per measurement.
    public static func run(_ shape: Shape = Shape(), runs: Int = 21, log: (String) -> Void = { print($0) }) -> MetricsIndex {
        let clock = ContinuousClock()
        var t0 = clock.now
        let events = Self.events(shape)
        log("generated \(events.count) events in \(clock.now - t0) (mean gap \(shape.meanGapMs) ms per worker)")
        let index = MetricsIndex()
        t0 = clock.now
        var stored: [StoredEvent] = []
        stored.reserveCapacity(1000)
        var sequence: Int64 = 0
        for e in events {
            sequence += 1
            stored.append(StoredEvent(event: e, receivedAtMs: e.eventTimeMs, sequence: sequence))
            if stored.count == 1000 {
                index.insert(stored)
                stored.removeAll(keepingCapacity: true)
            }
        }
        index.insert(stored)
        let insertTime = clock.now - t0
        log("inserted \(index.eventCount) events in \(insertTime) (batches of 1000); columns \(index.storageBytes / 1_048_576) MB, \(index.storageBytes / max(index.eventCount, 1)) bytes/event")

        let day: Int64 = 86_400_000
        let end = shape.start + Int64(shape.days) * day
        let all = MetricsQuery(scope: .factory)
        func dayWindow(_ i: Int) -> TimeWindow {
            let d = Int64((i * 7919) % max(shape.days - 1, 1))
            let from = shape.start + d * day + 3_600_000 * Int64(i % 24)
            return TimeWindow(fromMs: from, toMs: from + day)
        }
        let full = TimeWindow(fromMs: shape.start, toMs: end)
        var timings: [Timing] = []
        timings.append(measure("factory 24h", runs: runs) { i in _ = index.factory(window: dayWindow(i), query: all) })
        timings.append(measure("workers 24h", runs: runs) { i in _ = index.workers(window: dayWindow(i), query: all) })
        timings.append(measure("workstations 24h", runs: runs) { i in _ = index.workstations(window: dayWindow(i), query: all) })
        timings.append(measure("report 24h", runs: runs) { i in _ = index.report(window: dayWindow(i), query: all) })
        var timeline = MetricsQuery(scope: .timeline)
        timings.append(measure("timeline factory 24h hourly", runs: runs) { i in
            _ = index.timeline(window: dayWindow(i), query: timeline)
        })
        timeline.timelineSubject = .workstation
        timings.append(measure("timeline workstations 24h hourly", runs: runs) { i in
            _ = index.timeline(window: dayWindow(i), query: timeline)
        })
        timings.append(measure("model health", runs: runs) { i in
            _ = index.modelHealth(toMs: dayWindow(i).toMs, siteID: nil)
        })
        let longRuns = max(3, runs / 4)
        timings.append(measure("factory 6 months", runs: longRuns) { _ in _ = index.factory(window: full, query: all) })
        timings.append(measure("workers 6 months", runs: longRuns) { _ in _ = index.workers(window: full, query: all) })
        timings.append(measure("workstations 6 months", runs: longRuns) { _ in _ = index.workstations(window: full, query: all) })
        timings.append(measure("report 6 months", runs: longRuns) { _ in _ = index.report(window: full, query: all) })

        // Late inserts into a big index: one event per worker, hours old.
        var lateBatch: [StoredEvent] = []
        for w in 0..<shape.workers {
            sequence += 1
            let e = Event(eventTimeMs: end - 5 * 3_600_000 - Int64(w) * 1_000 - 1, workerID: "W\(w + 1)",
                          workstationID: "S\(w % shape.workstations + 1)", kind: .idle, confidence: 0.9)
            lateBatch.append(StoredEvent(event: e, receivedAtMs: end, sequence: sequence))
        }
        timings.append(measure("insert 200 late events", runs: 1) { i in
            if i == 1 { index.insert(lateBatch) }
        })
        for t in timings { log(t.description) }
        return index
    }
}

/// SplitMix64, for the benchmark's deterministic load.
struct SplitMix {
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
