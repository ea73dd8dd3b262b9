// Release-mode measurement at factory scale, skipped unless TAKT_BENCH=1:
// TAKT_BENCH=1 swift test -c release -Xswiftc -enable-testing --scratch-path .build-metrics --filter MetricsBenchmarkTests
// TAKT_BENCH_EVENTS (default 10,000,000) and TAKT_BENCH_DAYS (default 182) change the load.
import Foundation
import TaktSync
import TaktDomain
import Testing
import TaktMetrics

@Suite("Benchmark (TAKT_BENCH=1)")
struct MetricsBenchmarkTests {
    static var enabled: Bool { ProcessInfo.processInfo.environment["TAKT_BENCH"] == "1" }

    static func residentMB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kb / 1024
    }

    @Test("10 million events: build, query p50/p99, memory", .enabled(if: enabled))
    func factoryScale() {
        var shape = MetricsBenchmark.Shape()
        let env = ProcessInfo.processInfo.environment
        if let n = env["TAKT_BENCH_EVENTS"].flatMap(Int.init) { shape.events = n }
        if let d = env["TAKT_BENCH_DAYS"].flatMap(Int.init) { shape.days = d }
        let before = Self.residentMB()
        var index: MetricsIndex? = MetricsBenchmark.run(shape) { print("[bench] \($0)") }
        print("[bench] RSS \(Int(Self.residentMB())) MB with the index (process baseline \(Int(before)) MB)")
        #expect(index?.eventCount ?? 0 >= shape.events)
        if let index { Self.ingestWhileQuerying(index, shape: shape) }
        index = nil
    }

    /// Insert latency (batches of 1,000 new events) alone and while two threads run six-month reports.
    static func ingestWhileQuerying(_ index: MetricsIndex, shape: MetricsBenchmark.Shape) {
        let end = shape.start + Int64(shape.days) * 86_400_000
        var next = end + 86_400_000
        var sequence: Int64 = 1 << 40
        func batch() -> [StoredEvent] {
            (0..<1000).map { i in
                next += 100
                sequence += 1
                let e = Event(eventTimeMs: next, workerID: "W\(i % shape.workers + 1)",
                              workstationID: "S\(i % shape.workstations + 1)", kind: i % 3 == 0 ? .idle : .working,
                              confidence: 0.9, modelVersion: "v9")
                return StoredEvent(event: e, receivedAtMs: next, sequence: sequence)
            }
        }
        let batches = (0..<51).map { _ in batch() }
        let alone = MetricsBenchmark.measure("insert 1000 (no queries)", runs: 50) { i in index.insert(batches[i]) }
        let stop = LockedValue(false)
        let queries = LockedValue(0)
        let full = TimeWindow(fromMs: shape.start, toMs: end)
        var threads: [Thread] = []
        for _ in 0..<2 {
            let t = Thread {
                while !stop.withLock({ $0 }) {
                    _ = index.report(window: full, query: MetricsQuery(scope: .workers))
                    queries.withLock { $0 += 1 }
                }
            }
            t.start()
            threads.append(t)
        }
        Thread.sleep(forTimeInterval: 0.2)
        var samples: [Double] = []
        let clock = ContinuousClock()
        for _ in 0..<50 {
            let events = batch()
            let start = clock.now
            index.insert(events)
            let d = start.duration(to: clock.now)
            samples.append(Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000)
            Thread.sleep(forTimeInterval: 0.01)
        }
        samples.sort()
        stop.withLock { $0 = true }
        Thread.sleep(forTimeInterval: 0.5)
        print("[bench] \(alone)")
        print("[bench] insert 1000 (during 6-month reports): p50 \(samples[25]) ms, max \(samples[49]) ms; \(queries.withLock { $0 }) reports ran")
    }
}
