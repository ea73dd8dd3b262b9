// Status of a gateway (docs/GATEWAY.md, "Status"): spool depth, oldest unsent event age, send rate,
// last error, counters. A running gateway logs it every --status-interval and on SIGUSR1, and
// rewrites <spool>/status.json every second for `takt-gateway status`.
@preconcurrency import Dispatch
import Foundation
import Glibc
import Logging
import Synchronization
import TaktPosix

struct GatewayStatus: Codable, Sendable {
    struct Input: Codable, Sendable {
        var name: String
        var offset: Int64
        var line: Int
        /// reading, paused (spool full), ended
        var state: String
        var connections: Int?
    }

    var gatewayId: String
    var running: Bool
    var pid: Int32?
    var server: String?
    var connected: Bool?
    /// How long the connection state has held (ms).
    var connectionStateMs: Int64?
    var reconnectAttempts: Int?
    var spoolEvents: Int
    var spoolBytes: Int64
    var maxSpoolEvents: Int?
    var maxSpoolBytes: Int64?
    var whenFull: String?
    var oldestUnsentAgeMs: Int64?
    var inFlightBatches: Int?
    var inFlightEvents: Int?
    /// Events answered by taktd per second over the last 10 s.
    var sendRatePerS: Double?
    var counters: SpoolCounters
    var deadLetters: Int
    var sequencesAssigned: UInt64
    var lastError: String?
    var lastErrorAgeMs: Int64?
    var input: Input?
    var updatedMs: Int64

    static let fileName = "status.json"

    static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.sortedKeys]
        return e
    }

    static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return d
    }

    /// One log line's worth.
    var metadata: Logger.Metadata {
        var m: Logger.Metadata = [
            "spooled": "\(spoolEvents)", "spool_bytes": "\(spoolBytes)",
            "oldest_unsent_s": "\(oldestUnsentAgeMs.map { Format.seconds($0) } ?? "-")",
            "rate_per_s": "\(sendRatePerS.map { Format.rate($0) } ?? "-")",
            "connected": "\(connected.map { $0 ? "yes" : "no" } ?? "-")",
            "in_flight": "\(inFlightEvents ?? 0)",
            "accepted": "\(counters.accepted)", "duplicate": "\(counters.duplicate)",
            "dead_letters": "\(deadLetters)", "dropped_oldest": "\(counters.droppedOldest)",
            "refused_full": "\(counters.refusedFull)", "unparseable": "\(counters.unparseable)",
        ]
        if let input { m["input"] = "\(input.name) \(input.state)" }
        if let e = lastError { m["last_error"] = "\(e) (\(Format.seconds(lastErrorAgeMs ?? 0)) s ago)" }
        return m
    }

    /// The text of `takt-gateway status`.
    var text: String {
        var lines: [(String, String)] = []
        lines.append(("gateway", "\(gatewayId) — " + (running ? "running (pid \(pid ?? 0))" : "not running")))
        if let server {
            var s = server
            if let connected {
                s += connected ? " connected" : " not connected"
                if let ms = connectionStateMs { s += " for \(Format.seconds(ms)) s" }
                if !connected, let a = reconnectAttempts, a > 0 { s += " (\(a) attempts)" }
            }
            lines.append(("server", s))
        }
        var spool = "\(spoolEvents) events, \(Format.bytes(spoolBytes))"
        if let me = maxSpoolEvents, let mb = maxSpoolBytes {
            spool += " (limit \(me) events / \(Format.bytes(mb)), when full: \(whenFull ?? "refuse"))"
        }
        lines.append(("spool", spool))
        lines.append(("oldest unsent", oldestUnsentAgeMs.map { "\(Format.seconds($0)) s ago" } ?? "-"))
        if let rate = sendRatePerS {
            lines.append(("send rate", "\(Format.rate(rate)) events/s; in flight \(inFlightEvents ?? 0) events in \(inFlightBatches ?? 0) batches"))
        }
        lines.append(("delivered", "accepted \(counters.accepted), duplicate \(counters.duplicate) (of \(counters.spooled) spooled)"))
        lines.append(("dead letters", "\(deadLetters) (rejected \(counters.rejected), unparseable \(counters.unparseable), evicted \(counters.deadLettersEvicted))"))
        lines.append(("dropped", "oldest \(counters.droppedOldest), refused (spool full) \(counters.refusedFull)"))
        if let input {
            var s = "\(input.name): \(input.state), line \(input.line), byte \(input.offset)"
            if let c = input.connections { s = "\(input.name): \(input.state), \(c) producers connected" }
            lines.append(("input", s))
        }
        lines.append(("last error", lastError.map { "\($0) (\(Format.seconds(lastErrorAgeMs ?? 0)) s ago)" } ?? "-"))
        let width = lines.map(\.0.count).max() ?? 0
        return lines.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
    }

    /// What the spool alone says (no gateway running, or its status file is missing).
    init(snapshot s: SpoolSnapshot, running: Bool, pid: Int32?) {
        gatewayId = s.gatewayID
        self.running = running
        self.pid = pid
        spoolEvents = s.depth
        spoolBytes = s.bytes
        oldestUnsentAgeMs = s.oldestSpooledMs.map { max(System.nowMs() - $0, 0) }
        counters = s.counters
        deadLetters = s.deadLetters
        sequencesAssigned = s.nextSequence &- s.firstSequence
        updatedMs = System.nowMs()
        if let i = s.inputs.first {
            input = Input(name: i.source, offset: i.offset, line: i.line, state: "saved position", connections: nil)
        }
    }
}

enum Format {
    static func seconds(_ ms: Int64) -> String {
        ms < 10_000 ? String(format: "%.1f", Double(ms) / 1000) : String(ms / 1000)
    }
    static func rate(_ r: Double) -> String { r < 10 ? String(format: "%.1f", r) : String(Int(r.rounded())) }
    static func bytes(_ b: Int64) -> String {
        if b < 1 << 10 { return "\(b) B" }
        if b < 1 << 20 { return String(format: "%.1f KiB", Double(b) / 1024) }
        if b < 1 << 30 { return String(format: "%.1f MiB", Double(b) / 1_048_576) }
        return String(format: "%.2f GiB", Double(b) / 1_073_741_824)
    }
}

/// Collects the running gateway's status every second: rate samples, the status file, the periodic
/// log line, and SIGUSR1.
final class StatusReporter: @unchecked Sendable {
    // @unchecked: `samples`, `lastLogNs` and the sources are touched only on `queue`.
    let spool: Spool
    let forwarder: Forwarder
    let intake: IntakeContext
    let server: String
    let intervalS: Int
    let logger: Logger
    private let queue = DispatchQueue(label: "takt.gateway.status")
    private var samples: [(ns: UInt64, answered: Int64)] = []
    private var lastLogNs = System.monotonicNs()
    private var timer: (any DispatchSourceTimer)?
    private var usr1: (any DispatchSourceSignal)?

    init(spool: Spool, forwarder: Forwarder, intake: IntakeContext, server: String, intervalS: Int, logger: Logger) {
        self.spool = spool
        self.forwarder = forwarder
        self.intake = intake
        self.server = server
        self.intervalS = intervalS
        self.logger = logger
    }

    func start() {
        signal(SIGUSR1, SIG_IGN)
        let s = DispatchSource.makeSignalSource(signal: SIGUSR1, queue: queue)
        s.setEventHandler { [weak self] in
            guard let self, let st = self.current() else { return }
            self.logger.notice("status (SIGUSR1)", metadata: st.metadata)
        }
        s.resume()
        usr1 = s
        let t = DispatchSource.makeTimerSource(queue: queue)
        t.schedule(deadline: .now() + 1, repeating: 1)
        t.setEventHandler { [weak self] in self?.tick() }
        t.resume()
        timer = t
    }

    func stop() {
        queue.sync {
            timer?.cancel()
            usr1?.cancel()
        }
    }

    /// Writes the status file once more (at exit).
    func flush() { queue.sync { _ = self.writeFile() } }

    private func tick() {
        guard let st = writeFile() else { return }
        let now = System.monotonicNs()
        if intervalS > 0 && now - lastLogNs >= UInt64(intervalS) * 1_000_000_000 {
            lastLogNs = now
            logger.info("status", metadata: st.metadata)
        }
    }

    private func writeFile() -> GatewayStatus? {
        guard let st = current() else { return nil }
        guard let data = try? GatewayStatus.encoder.encode(st) else { return st }
        let path = "\(spool.directory)/\(GatewayStatus.fileName)"
        let tmp = path + ".tmp"
        if FileManager.default.createFile(atPath: tmp, contents: data) { rename(tmp, path) }
        return st
    }

    private func current() -> GatewayStatus? {
        guard let snap = try? spool.snapshot() else { return nil }
        let f = forwarder.state
        let i = intake.state.withLock { $0 }
        let now = System.monotonicNs()
        let answered = snap.counters.accepted + snap.counters.duplicate + snap.counters.rejected
        samples.append((now, answered))
        while let first = samples.first, now - first.ns > 10_500_000_000 { samples.removeFirst() }
        var st = GatewayStatus(snapshot: snap, running: true, pid: getpid())
        if let first = samples.first, now > first.ns, samples.count > 1 {
            st.sendRatePerS = Double(answered - first.answered) / (Double(now - first.ns) / 1e9)
        } else {
            st.sendRatePerS = 0
        }
        st.server = server
        st.connected = f.connected
        st.connectionStateMs = System.nowMs() - f.sinceMs
        st.reconnectAttempts = f.attempts
        st.maxSpoolEvents = spool.limits.maxEvents
        st.maxSpoolBytes = spool.limits.maxBytes
        st.whenFull = spool.limits.whenFull.rawValue
        st.inFlightBatches = f.inFlightBatches
        st.inFlightEvents = f.inFlightEvents
        st.lastError = f.lastError
        st.lastErrorAgeMs = f.lastErrorMs.map { System.nowMs() - $0 }
        st.input = GatewayStatus.Input(name: i.description, offset: i.offset, line: i.line,
                                       state: i.ended ? "ended" : i.paused ? "paused (spool full)" : "reading",
                                       connections: i.description.hasPrefix("unix:") ? i.connections : nil)
        return st
    }
}
