// What `takt-load` reports, human-readable or as JSON (`--json`; bench.sh builds docs/BENCHMARKS.md
// from it).
import Foundation
import Glibc
import Histogram
import TaktDomain

struct LatencySummary: Codable, Sendable {
    var count: UInt64
    var p50Ms: Double
    var p90Ms: Double
    var p99Ms: Double
    var p999Ms: Double
    var maxMs: Double
    var meanMs: Double

    init(_ h: Histogram<UInt64>) {
        count = h.totalCount
        let ms = { (us: UInt64) in Double(us) / 1_000 }
        p50Ms = count == 0 ? 0 : ms(h.valueAtPercentile(50))
        p90Ms = count == 0 ? 0 : ms(h.valueAtPercentile(90))
        p99Ms = count == 0 ? 0 : ms(h.valueAtPercentile(99))
        p999Ms = count == 0 ? 0 : ms(h.valueAtPercentile(99.9))
        maxMs = count == 0 ? 0 : ms(h.max)
        meanMs = count == 0 ? 0 : h.mean / 1_000
    }
}

struct KindSummary: Codable, Sendable {
    var kind: String
    /// Whole run (warm-up included).
    var calls: Int
    var events: Int
    var statuses: [String: Int]
    var results: [String: Int]
    /// Completed inside the measured window, per second.
    var callsPerSecond: Double
    var eventsPerSecond: Double
    /// Calls started (or scheduled) after the warm-up.
    var latency: LatencySummary
}

struct ServerSnapshot: Codable, Sendable {
    var eventsStored: UInt64
    var commits: UInt64
    var connectionsOpen: UInt64
    var connectionsTotal: UInt64
    var storeBytes: UInt64
    var walBytes: UInt64
    var results: [String: UInt64]
    var version: String
    var durability: String

    init(_ s: ServerStats) {
        eventsStored = s.eventsStored
        commits = s.commits
        connectionsOpen = s.connectionsOpen
        connectionsTotal = s.connectionsTotal
        storeBytes = s.storeBytes
        walBytes = s.walBytes
        results = Dictionary(uniqueKeysWithValues: s.results.map { ($0.key.name, $0.value) })
        version = s.version
        durability = s.durability
    }
}

struct ProcessMemory: Codable, Sendable {
    var rssMB: Double
    var peakRssMB: Double

    /// VmRSS and VmHWM of a process from /proc (Linux); nil when unreadable.
    static func of(pid: Int32) -> ProcessMemory? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        func kB(_ key: String) -> Double? {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }) else { return nil }
            return line.split(separator: " ").compactMap { Double($0) }.first
        }
        guard let rss = kB("VmRSS"), let hwm = kB("VmHWM") else { return nil }
        return ProcessMemory(rssMB: rss / 1024, peakRssMB: hwm / 1024)
    }
}

/// CPU seconds from /proc: one process (utime + stime of /proc/PID/stat) and the whole machine
/// (busy and total jiffies of /proc/stat), to tell a CPU-bound run from one waiting on the disk.
struct CPUSample: Sendable {
    var processSeconds: Double?
    var machineBusy: Double
    var machineTotal: Double

    static func take(pid: Int32?) -> CPUSample {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var process: Double?
        if let pid, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 12, let u = Double(fields[11]), let s = Double(fields[12]) { process = (u + s) / ticks }
        }
        var busy = 0.0, total = 0.0
        if let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) {
            let v = line.split(separator: " ").dropFirst().compactMap { Double($0) }
            total = v.prefix(8).reduce(0, +)
            busy = total - (v.count > 4 ? v[3] + v[4] : 0)  // idle + iowait
        }
        return CPUSample(processSeconds: process, machineBusy: busy / ticks, machineTotal: total / ticks)
    }
}

struct Verification: Codable, Sendable {
    var acceptedAcknowledged: Int
    var storedBefore: UInt64
    var storedAfter: UInt64
    /// Events of ingest calls that failed with a status: the server may or may not have stored them.
    var eventsWithUnknownOutcome: Int
    var exact: Bool
    var message: String
}

struct RunSummary: Codable, Sendable {
    var mode: String
    var server: String
    var connections: Int
    var connected: Int
    var connectFailures: [String]
    var connectSeconds: Double
    var queryConnections: Int
    var batch: Int
    var depth: Int?
    var targetEventsPerSecond: Double?
    var targetQueriesPerSecond: Double?
    var seed: UInt64
    var workers: Int
    var simulationStartMs: Int64
    var warmupSeconds: Double
    var measuredSeconds: Double
    var preparedCalls: Int
    var prepareSeconds: Double
    /// Ingest completed inside the measured window.
    var eventsPerSecond: Double
    var callsPerSecond: Double
    var kinds: [KindSummary]
    /// Whole run, every kind.
    var statuses: [String: Int]
    var results: [String: Int]
    /// Gateways whose every call was answered (and at least one was).
    var gatewaysServed: Int
    var clientCPUSeconds: Double
    var clientCPUPercentOfOneCore: Double
    /// taktd's CPU over the measured window, in % of one core (`--server-pid`).
    var serverCPUPercentOfOneCore: Double?
    /// The whole machine's busy share over the measured window (all processes, all cores), %.
    var machineBusyPercent: Double?
    var serverBefore: ServerSnapshot
    var serverAfter: ServerSnapshot
    /// Sampled at the end of the measured window, with every connection still open (`--server-pid`).
    var serverMemory: ProcessMemory?
    var warnings: [String]
    var verification: Verification

    func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    func human() -> String {
        var out: [String] = []
        let loop = mode == "open"
            ? "open loop at \(fmt(targetEventsPerSecond ?? 0, 0)) events/s (latency from the scheduled send time)"
            : "closed loop, \(depth ?? 1) call(s) in flight per connection"
        out.append("takt-load against \(server): \(connected)/\(connections) gateways, \(loop), "
                   + (batch == 1 ? "single events" : "batches of \(batch)")
                   + (queryConnections > 0 ? ", \(queryConnections) query connection(s)" : ""))
        out.append("measured \(fmt(measuredSeconds, 1)) s after \(fmt(warmupSeconds, 1)) s warm-up; seed \(seed), \(workers) workers")
        out.append("")
        out.append("ingest: \(fmt(eventsPerSecond, 0)) events/s, \(fmt(callsPerSecond, 0)) calls/s")
        out.append("")
        out.append(pad("call kind", 22) + pad("calls", 10) + pad("calls/s", 10) + pad("p50 ms", 9) + pad("p90 ms", 9)
                   + pad("p99 ms", 9) + pad("p99.9 ms", 10) + pad("max ms", 9))
        for k in kinds {
            let l = k.latency
            out.append(pad(k.kind, 22) + pad("\(k.calls)", 10) + pad(fmt(k.callsPerSecond, 0), 10) + pad(fmt(l.p50Ms, 2), 9)
                       + pad(fmt(l.p90Ms, 2), 9) + pad(fmt(l.p99Ms, 2), 9) + pad(fmt(l.p999Ms, 2), 10) + pad(fmt(l.maxMs, 2), 9))
        }
        out.append("")
        out.append("statuses: " + statuses.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        out.append("results:  " + results.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        out.append("gateways served (every call answered): \(gatewaysServed)/\(connections)")
        out.append("client CPU: \(fmt(clientCPUSeconds, 2)) s (\(fmt(clientCPUPercentOfOneCore, 0)) % of one core)"
                   + (serverCPUPercentOfOneCore.map { "; taktd CPU: \(fmt($0, 0)) % of one core" } ?? "")
                   + (machineBusyPercent.map { "; machine busy: \(fmt($0, 0)) %" } ?? ""))
        out.append("server: events stored \(serverBefore.eventsStored) -> \(serverAfter.eventsStored), commits "
                   + "\(serverBefore.commits) -> \(serverAfter.commits), connections open \(serverAfter.connectionsOpen)")
        if let m = serverMemory { out.append("server memory: RSS \(fmt(m.rssMB, 1)) MB, peak \(fmt(m.peakRssMB, 1)) MB") }
        for w in warnings { out.append("warning: \(w)") }
        out.append("")
        out.append((verification.exact ? "OK: " : "MISMATCH: ") + verification.message)
        return out.joined(separator: "\n")
    }
}

func fmt(_ x: Double, _ digits: Int) -> String {
    String(format: "%.\(digits)f", x)
}

func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
}
