// Release-mode measurement at factory scale, skipped unless TAKT_BENCH=1:
// TAKT_BENCH=1 swift test -c release -Xswiftc -enable-testing --scratch-path .build-metrics --filter MetricsBenchmarkTests
// TAKT_BENCH_EVENTS (default 10,000,000) and TAKT_BENCH_DAYS (default 182) change the load.
import Foundation
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
        index = nil
    }
}
