// `takt-load metrics-bench` (hidden): issue 5's factory-scale benchmark. Builds a MetricsIndex of
// 10 million events (6 months of a 200-worker factory, TaktMetrics.MetricsBenchmark's generator) in
// process, then times the metric queries over 24-hour windows and over the whole 6 months. The index
// is what taktd answers QueryMetrics from; the RPC adds encoding and a loopback round trip.
import ArgumentParser
import Foundation
import Glibc
import TaktDomain
import TaktMetrics

struct QueryTiming: Codable {
    var name: String
    var window: String
    var p50Ms: Double
    var p99Ms: Double
    var maxMs: Double
    var runs: Int
}

struct MetricsBenchResult: Codable {
    var events: Int
    var days: Int
    var workers: Int
    var workstations: Int
    var generateSeconds: Double
    var buildSeconds: Double
    var indexMB: Double
    var rssMB: Double
    var timings: [QueryTiming]
}

struct MetricsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics-bench", abstract: "Build a large metric index and time queries over 24 h and over the whole range.",
        shouldDisplay: false)

    @Option(help: "Events in the index.")
    var events: Int = 10_000_000
    @Option(help: "Days the events span.")
    var days: Int = 182
    @Option(help: "Timed runs per 24-hour query kind (each on a different day and hour).")
    var runs: Int = 41
    @Option(help: "Timed runs per whole-range query kind.")
    var longRuns: Int = 5
    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        guard events >= 1_000, events <= 100_000_000, days >= 2, days <= 3_650, runs >= 1, longRuns >= 1 else {
            throw ValidationError("out-of-range option")
        }
    }

    func log(_ s: String) { FileHandle.standardError.write(Data(("[metrics-bench] " + s + "\n").utf8)) }

    func run() throws {
        var shape = MetricsBenchmark.Shape()
        shape.events = events
        shape.days = days
        var t = Date()
        var generated = MetricsBenchmark.events(shape)
        let generateSeconds = Date().timeIntervalSince(t)
        log("generated \(generated.count) events in \(fmt(generateSeconds, 1)) s")
        t = Date()
        let index = MetricsIndex()
        var stored: [StoredEvent] = []
        stored.reserveCapacity(1_000)
        var sequence: Int64 = 0
        for e in generated {
            sequence += 1
            stored.append(StoredEvent(event: e, receivedAtMs: e.eventTimeMs, sequence: sequence))
            if stored.count == 1_000 {
                index.insert(stored)
                stored.removeAll(keepingCapacity: true)
            }
        }
        index.insert(stored)
        let buildSeconds = Date().timeIntervalSince(t)
        generated = []
        stored = []
        let rss = ProcessMemory.of(pid: getpid())?.rssMB ?? 0
        log("indexed \(index.eventCount) events in \(fmt(buildSeconds, 1)) s; index \(index.storageBytes / 1_048_576) MB, RSS \(fmt(rss, 0)) MB")

        let day: Int64 = 86_400_000
        let end = shape.start + Int64(shape.days) * day
        func dayWindow(_ i: Int) -> TimeWindow {
            let d = Int64((i * 7919) % max(shape.days - 1, 1))
            let from = shape.start + d * day + 3_600_000 * Int64(i % 24)
            return TimeWindow(fromMs: from, toMs: from + day)
        }
        let full = TimeWindow(fromMs: shape.start, toMs: end)
        let factory = MetricsQuery(scope: .factory)
        let timeline = MetricsQuery(scope: .timeline, bucketMs: 3_600_000)
        var timings: [QueryTiming] = []
        func time(_ name: String, _ window: String, runs: Int, _ body: (Int) -> Void) {
            var samples: [Double] = []
            body(0)  // warm-up
            for i in 1...runs {
                let start = DispatchTime.now().uptimeNanoseconds
                body(i)
                samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            }
            samples.sort()
            let p = { (q: Double) in samples[min(samples.count - 1, Int(q * Double(samples.count)))] }
            let timing = QueryTiming(name: name, window: window, p50Ms: p(0.5), p99Ms: p(0.99), maxMs: samples.last ?? 0, runs: runs)
            log("\(name) \(window): p50 \(fmt(timing.p50Ms, 2)) ms, p99 \(fmt(timing.p99Ms, 2)) ms (\(runs) runs)")
            timings.append(timing)
        }
        time("factory", "24h", runs: runs) { i in _ = index.factory(window: dayWindow(i), query: factory) }
        time("workers", "24h", runs: runs) { i in _ = index.workers(window: dayWindow(i), query: factory) }
        time("workstations", "24h", runs: runs) { i in _ = index.workstations(window: dayWindow(i), query: factory) }
        time("timeline", "24h", runs: runs) { i in _ = index.timeline(window: dayWindow(i), query: timeline) }
        time("factory", "full", runs: longRuns) { _ in _ = index.factory(window: full, query: factory) }
        time("workers", "full", runs: longRuns) { _ in _ = index.workers(window: full, query: factory) }
        time("workstations", "full", runs: longRuns) { _ in _ = index.workstations(window: full, query: factory) }
        time("timeline", "full", runs: longRuns) { _ in _ = index.timeline(window: full, query: timeline) }

        let result = MetricsBenchResult(events: index.eventCount, days: days, workers: shape.workers,
                                        workstations: shape.workstations, generateSeconds: generateSeconds,
                                        buildSeconds: buildSeconds, indexMB: Double(index.storageBytes) / 1_048_576,
                                        rssMB: rss, timings: timings)
        print(json ? encodeJSON(result) : timings.map { "\($0.name) \($0.window): p50 \(fmt($0.p50Ms, 2)) ms, p99 \(fmt($0.p99Ms, 2)) ms" }.joined(separator: "\n"))
    }
}
