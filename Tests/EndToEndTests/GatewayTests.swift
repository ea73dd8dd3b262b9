// takt-gateway end to end (issue 10, docs/GATEWAY.md): real taktd and takt-gateway processes.
// Server outages, gateway crashes and both at seeded random moments must leave every produced event
// stored exactly once (same stored identities and metrics as one clean ingest); a full spool behaves
// as documented; rejected events land in the dead-letter table with their reasons.
import Foundation
import Testing
import TaktClient
import TaktDomain
import TaktPosix
import TaktSimulation

/// A takt-gateway child process; stderr is kept for assertions and failure messages.
final class GatewayProcess: @unchecked Sendable {
    let process = Process()
    private let stderrPipe = Pipe()
    private let log = LockedLog()
    var output: String { log.text }

    init(_ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: Binaries.path("takt-gateway"))
        process.arguments = arguments
        process.standardError = stderrPipe
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        let log = self.log
        stderrPipe.fileHandleForReading.readabilityHandler = { h in
            let d = h.availableData
            if !d.isEmpty { log.append(String(decoding: d, as: UTF8.self)) }
        }
        try process.run()
    }

    var isRunning: Bool { process.isRunning }

    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        stderrPipe.fileHandleForReading.readabilityHandler = nil
    }

    /// Waits for the exit; nil when still running after `timeout` seconds.
    func waitForExit(timeout: TimeInterval) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { return nil }
        process.waitUntilExit()
        Thread.sleep(forTimeInterval: 0.05)
        stderrPipe.fileHandleForReading.readabilityHandler = nil
        return process.terminationStatus
    }

    /// SIGTERM and wait.
    func stop(timeout: TimeInterval = 20) -> Int32? {
        if process.isRunning { process.terminate() }
        return waitForExit(timeout: timeout)
    }

    deinit {
        if process.isRunning {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// The spool seen through `takt-gateway status --json`.
struct SpoolStatus {
    var events: Int
    var deadLetters: Int
    var sequencesAssigned: Int
    var counters: [String: Int]
    var inputState: String?
    var inputLine: Int?
    var inFlightEvents: Int

    static func read(_ spool: String) throws -> SpoolStatus {
        let r = try runBinary("takt-gateway", ["status", "--spool", spool, "--json"], timeout: 20)
        guard r.status == 0, let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else {
            throw HarnessError(description: "takt-gateway status failed (\(r.status)): \(r.stdout) \(r.stderr)")
        }
        let input = obj["input"] as? [String: Any]
        return SpoolStatus(events: obj["spool_events"] as? Int ?? -1, deadLetters: obj["dead_letters"] as? Int ?? -1,
                           sequencesAssigned: obj["sequences_assigned"] as? Int ?? -1,
                           counters: obj["counters"] as? [String: Int] ?? [:],
                           inputState: input?["state"] as? String, inputLine: input?["line"] as? Int,
                           inFlightEvents: obj["in_flight_events"] as? Int ?? 0)
    }
}

/// Polls `condition` every 50 ms for at most `timeout` seconds (an error counts as "not yet", until the last try).
func eventually(_ timeout: TimeInterval, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if (try? await condition()) == true { return true }
        try await Task.sleep(nanoseconds: 50_000_000)
    }
    return try await condition()
}

/// The first `limit` events of a realistic stream (48 h with shifts, 4 workers, 3 stations), keys
/// removed: the gateway assigns its own.
func gatewayEvents(seed: UInt64, limit: Int) -> [Event] {
    // Ends at the last UTC midnight: in the past, and the same shift pattern (so the same length) whatever
    // the time of day the test runs.
    let midnight = System.nowMs() / 86_400_000 * 86_400_000
    let sim = FactorySimulation.demo(seed: seed, nowMs: midnight, hours: 48, workers: 4, workstations: 3)
    return Array(sim.events().map(\.event).prefix(limit)).map { e in
        var e = e
        e.idempotencyKey = nil
        return e
    }
}

func appendLines(_ events: ArraySlice<Event>, to path: String) {
    let text = events.map { EventText.jsonLine($0) + "\n" }.joined()
    if let h = FileHandle(forWritingAtPath: path) {
        h.seekToEndOfFile()
        h.write(Data(text.utf8))
        try? h.close()
    } else {
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    }
}

/// Every event stored exactly once: the server holds the same identities and answers the same metrics
/// as a fresh server that ingested `events` once, and each stored event carries a distinct key of `gateway`.
func expectSameAsCleanIngest(_ server: TaktdProcess, _ events: [Event], gateway: String) async throws {
    let reference = try TaktdProcess()
    defer { reference.stop() }
    let rc = try reference.client()
    defer { rc.close() }
    var i = 0
    while i < events.count {
        _ = try await rc.submit(EventBatch(events: Array(events[i..<min(i + 1_000, events.count)])))
        i += 1_000
    }
    let c = try server.client()
    defer { c.close() }
    let want = try await rc.stats().eventsStored
    let got = try await c.stats().eventsStored
    #expect(got == want, "stored \(got) events, a clean ingest stores \(want)")
    let wantIDs = try await allStoredIdentities(rc)
    let gotIDs = try await allStoredIdentities(c)
    #expect(gotIDs == wantIDs, "\(wantIDs.subtracting(gotIDs).count) events missing, \(gotIDs.subtracting(wantIDs).count) unexpected")
    // Keys: one per stored event, all from this gateway, none used twice.
    var keys = Set<UInt64>()
    var token = ""
    repeat {
        let page = try await c.listEvents(ListEventsRequest(pageSize: 10_000, pageToken: token))
        for e in page.events {
            #expect(e.event.idempotencyKey?.gatewayID == gateway)
            if let k = e.event.idempotencyKey { keys.insert(k.sequence) }
        }
        token = page.nextPageToken
    } while !token.isEmpty
    #expect(UInt64(keys.count) == got)
    let times = events.map(\.eventTimeMs)
    try #require(!times.isEmpty)
    let query = MetricsQuery(scope: .all, fromMs: times.min()! - 3_600_000, toMs: times.max()! + 1)
    let wantMetrics = try await rc.metrics(query)
    let gotMetrics = try await c.metrics(query)
    #expect(gotMetrics == wantMetrics)
}

@Suite(.serialized) struct GatewayTests {
    func runArguments(server: String, spool: String, input: String, follow: Bool = true, extra: [String] = []) -> [String] {
        ["run", "--server", server, "--spool", spool, "--input", input, "--gateway-id", "gw-test", "--batch-size", "100",
         "--max-delay-ms", "20", "--max-backoff-ms", "300", "--status-interval", "0"] + (follow ? ["--follow"] : []) + extra
    }

    /// Waits until the gateway spooled `lines` records and sent them all, then stops it (SIGTERM: exit 0).
    func drainAndStop(_ gateway: GatewayProcess, spool: String, lines: Int) async throws {
        let drained = try await eventually(30) {
            let s = try SpoolStatus.read(spool)
            return s.events == 0 && (s.counters["spooled"] ?? 0) + (s.counters["unparseable"] ?? 0) >= lines
        }
        let last = try? SpoolStatus.read(spool)
        #expect(drained, "spool did not drain: \(String(describing: last)) \(gateway.output.suffix(3_000))")
        #expect(gateway.stop() == 0, "\(gateway.output.suffix(2_000))")
    }

    @Test func serverOutageLosesAndDuplicatesNothing() async throws {
        let events = gatewayEvents(seed: 10, limit: 3_000)
        let server = try TaktdProcess()
        let port = server.port
        let dir = TempDir()
        let file = dir.path + "/events.jsonl", spool = dir.path + "/spool"
        _ = FileManager.default.createFile(atPath: file, contents: nil)
        let gateway = try GatewayProcess(runArguments(server: server.address, spool: spool, input: file))
        var restarted: TaktdProcess?
        let chunks = stride(from: 0, to: events.count, by: 100).map { events[$0..<min($0 + 100, events.count)] }
        for (k, chunk) in chunks.enumerated() {
            appendLines(chunk, to: file)
            try await Task.sleep(nanoseconds: 40_000_000)
            if k == 8 { Foundation.kill(server.process.processIdentifier, SIGSTOP) }  // frozen: calls stay in flight
            if k == 11 {
                let stuck = try await eventually(5) { try SpoolStatus.read(spool).inFlightEvents > 0 }
                #expect(stuck, "batches in flight when the server dies")
                server.kill()  // SIGKILL: the batches in flight never get an answer
            }
            if k == 20 { restarted = try TaktdProcess(arguments: ["--listen", "127.0.0.1:\(port)"], dataDir: server.dataDir) }
        }
        let up = try #require(restarted)
        defer { up.stop() }
        try await drainAndStop(gateway, spool: spool, lines: events.count)
        let s = try SpoolStatus.read(spool)
        #expect(s.sequencesAssigned == events.count, "every line spooled once")
        #expect(gateway.output.contains("lost the connection") || gateway.output.contains("cannot reach taktd"))
        #expect(gateway.output.contains("reconnected to taktd"))
        try await expectSameAsCleanIngest(up, events, gateway: "gw-test")
    }

    @Test func gatewayKilledMidStreamResumesFromTheSpool() async throws {
        let events = gatewayEvents(seed: 11, limit: 3_000)
        let server = try TaktdProcess()
        defer { server.stop() }
        let dir = TempDir()
        let file = dir.path + "/events.jsonl", spool = dir.path + "/spool"
        _ = FileManager.default.createFile(atPath: file, contents: nil)
        let args = runArguments(server: server.address, spool: spool, input: file)
        var gateway = try GatewayProcess(args)
        let chunks = stride(from: 0, to: events.count, by: 100).map { events[$0..<min($0 + 100, events.count)] }
        for (k, chunk) in chunks.enumerated() {
            appendLines(chunk, to: file)
            try await Task.sleep(nanoseconds: 30_000_000)
            if k == 7 || k == 19 { gateway.kill() }  // kill -9 mid-stream; lines keep coming while it is down
            if k == 12 || k == 23 { gateway = try GatewayProcess(args) }
        }
        try await drainAndStop(gateway, spool: spool, lines: events.count)
        let s = try SpoolStatus.read(spool)
        #expect(s.sequencesAssigned == events.count, "a restart resumes after the last spooled line: nothing spooled twice")
        #expect(s.counters["spooled"] == events.count)
        try await expectSameAsCleanIngest(server, events, gateway: "gw-test")
    }

    @Test func gatewayKilledWhileDrainingAFileResumesAndExits() async throws {
        let events = gatewayEvents(seed: 15, limit: 3_000)
        let server = try TaktdProcess()
        defer { server.stop() }
        let c = try server.client()
        defer { c.close() }
        let dir = TempDir()
        let file = dir.path + "/events.jsonl", spool = dir.path + "/spool"
        appendLines(events[...], to: file)
        // Small batches, one call at a time: slow enough to be killed in the middle.
        let args = runArguments(server: server.address, spool: spool, input: file, follow: false,
                                extra: ["--batch-size", "20", "--max-in-flight", "1"])
        let first = try GatewayProcess(args)
        #expect(try await eventually(30) { try await c.stats().eventsStored >= 300 })
        first.kill()
        let stored = try await c.stats().eventsStored
        #expect(stored < UInt64(events.count), "killed before it finished")
        let second = try GatewayProcess(args)
        let status = second.waitForExit(timeout: 60)
        #expect(status == 0 || status == 6, "input ended, spool drained: \(second.output.suffix(2_000))")
        #expect(second.output.contains("resuming input after the last spooled record"))
        let s = try SpoolStatus.read(spool)
        #expect(s.events == 0 && s.sequencesAssigned == events.count)
        try await expectSameAsCleanIngest(server, events, gateway: "gw-test")
    }

    @Test(arguments: [UInt64(7), 2026]) func bothKilledAtRandomMoments(seed: UInt64) async throws {
        var rng = Xoshiro256(seed: seed)
        let events = gatewayEvents(seed: seed, limit: 4_000)
        var server = try TaktdProcess()
        let firstServer = server
        let port = server.port
        let dir = TempDir()
        let file = dir.path + "/events.jsonl", spool = dir.path + "/spool"
        _ = FileManager.default.createFile(atPath: file, contents: nil)
        let args = runArguments(server: "127.0.0.1:\(port)", spool: spool, input: file)
        var gateway = try GatewayProcess(args)
        let chunks = stride(from: 0, to: events.count, by: 50).map { events[$0..<min($0 + 50, events.count)] }
        // 5 rounds: at a random step (and a random moment within it) kill the server (SIGKILL, or SIGTERM:
        // GOAWAY), the gateway (SIGKILL) or both; restart them a few steps later while lines keep coming.
        var plan: [Int: (victims: Int, restart: Int, graceful: Bool, delayMs: UInt64)] = [:]
        for round in 0..<5 {
            let at = round * 15 + 2 + Int(rng.next() % 7)
            plan[at] = (Int(rng.next() % 3), at + 2 + Int(rng.next() % 5), rng.next() % 4 == 0, rng.next() % 25)
        }
        var restarts: [Int: Int] = [:]
        var log = ""
        for (k, chunk) in chunks.enumerated() {
            appendLines(chunk, to: file)
            try await Task.sleep(nanoseconds: 25_000_000)
            if let p = plan[k] {
                try await Task.sleep(nanoseconds: p.delayMs * 1_000_000)
                if p.victims != 1 {
                    if p.graceful { server.stop() } else { server.kill() }
                }
                if p.victims != 0 { gateway.kill() }
                restarts[p.restart] = p.victims
                log += "step \(k): \(["server", "gateway", "both"][p.victims])\(p.graceful && p.victims != 1 ? " (server SIGTERM)" : ""), back at \(p.restart); "
            }
            if let victims = restarts.removeValue(forKey: k) {
                if victims != 1 { server = try TaktdProcess(arguments: ["--listen", "127.0.0.1:\(port)"], dataDir: firstServer.dataDir) }
                if victims != 0 { gateway = try GatewayProcess(args) }
            }
        }
        // The stream's length depends on the time of day (the simulation ends at "now"), so a restart
        // may fall after the last step: bring back whatever is still down.
        let stillDown = restarts.values.reduce(into: Set<Int>()) { $0.insert($1) }
        if stillDown.contains(0) || stillDown.contains(2) {
            server = try TaktdProcess(arguments: ["--listen", "127.0.0.1:\(port)"], dataDir: firstServer.dataDir)
        }
        if stillDown.contains(1) || stillDown.contains(2) { gateway = try GatewayProcess(args) }
        defer { server.stop() }
        try await drainAndStop(gateway, spool: spool, lines: events.count)
        let s = try SpoolStatus.read(spool)
        #expect(s.sequencesAssigned == events.count, "seed \(seed): \(log)")
        try await expectSameAsCleanIngest(server, events, gateway: "gw-test")
    }

    @Test func fullSpoolRefusesInputUntilTheServerTakesEvents() async throws {
        let events = gatewayEvents(seed: 12, limit: 100)
        let port = try freePort()  // nothing listens there yet
        let dir = TempDir()
        let file = dir.path + "/events.jsonl", spool = dir.path + "/spool"
        appendLines(events[...], to: file)
        let gateway = try GatewayProcess(runArguments(server: "127.0.0.1:\(port)", spool: spool, input: file, follow: false,
                                                      extra: ["--max-spool-events", "20"]))
        #expect(try await eventually(15) { try SpoolStatus.read(spool).events == 20 })
        try await Task.sleep(nanoseconds: 1_300_000_000)  // the status file is rewritten every second
        let s = try SpoolStatus.read(spool)
        #expect(s.events == 20 && s.counters["spooled"] == 20, "input stops being read at the limit")
        #expect(s.inputState == "paused (spool full)")
        #expect(s.inputLine == 20)
        #expect(gateway.output.contains("spool full"))
        // The server comes back: everything is delivered and the gateway exits.
        let up = try TaktdProcess(arguments: ["--listen", "127.0.0.1:\(port)"])
        defer { up.stop() }
        let status = gateway.waitForExit(timeout: 30)
        #expect(status == 0 || status == 6, "\(gateway.output.suffix(2_000))")
        #expect(try SpoolStatus.read(spool).events == 0)
        try await expectSameAsCleanIngest(up, events, gateway: "gw-test")
    }

    @Test func fullSpoolOnASocketAnswersSpoolFull() async throws {
        let events = gatewayEvents(seed: 13, limit: 8)
        let port = try freePort()
        let dir = TempDir()
        let socketPath = dir.path + "/in.sock", spool = dir.path + "/spool"
        let gateway = try GatewayProcess(runArguments(server: "127.0.0.1:\(port)", spool: spool, input: "unix:\(socketPath)",
                                                      follow: false, extra: ["--max-spool-events", "5"]))
        #expect(try await eventually(10) { FileManager.default.fileExists(atPath: socketPath) })
        var lines = events.prefix(5).map { EventText.jsonLine($0) }
        lines.append("{\"worker_id\": \"W1\"")
        lines += events.dropFirst(5).map { EventText.jsonLine($0) }
        let replies = try unixExchange(socketPath, lines.joined(separator: "\n") + "\n", replies: lines.count)
        #expect(replies.count == 9)
        #expect(replies.prefix(5).allSatisfy { $0.hasPrefix("ok ") })
        let seqs = replies.prefix(5).compactMap { UInt64($0.dropFirst(3)) }
        #expect(seqs.count == 5 && seqs == seqs.sorted() && Set(seqs).count == 5)
        #expect(replies.count > 5 && replies[5].hasPrefix("error line 6:"))
        #expect(replies.suffix(3).allSatisfy { $0 == "error spool full" })
        let s = try SpoolStatus.read(spool)
        #expect(s.events == 5 && s.counters["refused_full"] == 3)
        #expect(gateway.stop() == 0)
    }

    @Test func dropOldestCountsWhatItDrops() async throws {
        let events = gatewayEvents(seed: 14, limit: 50)
        let port = try freePort()
        let dir = TempDir()
        let file = dir.path + "/events.jsonl", spool = dir.path + "/spool"
        appendLines(events[...], to: file)
        let args = runArguments(server: "127.0.0.1:\(port)", spool: spool, input: file, follow: false,
                                extra: ["--max-spool-events", "10", "--when-full", "drop-oldest", "--drain-timeout", "1"])
        let first = try GatewayProcess(args)
        #expect(first.waitForExit(timeout: 20) == 5, "drain timeout: the server is down. \(first.output.suffix(1_500))")
        let s = try SpoolStatus.read(spool)
        #expect(s.events == 10 && s.counters["spooled"] == 50 && s.counters["dropped_oldest"] == 40)
        // Server up, same spool and input: nothing new to read, the 10 newest are delivered.
        let up = try TaktdProcess(arguments: ["--listen", "127.0.0.1:\(port)"])
        defer { up.stop() }
        let second = try GatewayProcess(args)
        let status = second.waitForExit(timeout: 30)
        #expect(status == 0 || status == 6, "\(second.output.suffix(1_500))")
        #expect(try SpoolStatus.read(spool).counters["spooled"] == 50)
        try await expectSameAsCleanIngest(up, Array(events.suffix(10)), gateway: "gw-test")
    }

    @Test func rejectedEventsLandInDeadLettersWithReasons() async throws {
        let server = try TaktdProcess(arguments: ["--strict"])
        defer { server.stop() }
        let c = try server.client()
        defer { c.close() }
        _ = try await c.upsertWorkers([WorkerRecord(workerID: "W1")])
        _ = try await c.upsertWorkstations([WorkstationRecord(workstationID: "S1")])
        let t = System.nowMs() - 600_000
        let good = (0..<3).map { Event(eventTimeMs: t + Int64($0) * 1_000, workerID: "W1", workstationID: "S1", kind: .working, confidence: 0.9) }
        let bad = [
            Event(eventTimeMs: t + 10_000, workerID: "W1", workstationID: "S1", kind: .idle, confidence: 1.5),   // INVALID
            Event(eventTimeMs: t + 11_000, workerID: "W9", workstationID: "S1", kind: .idle, confidence: 0.9),   // UNKNOWN_ENTITY
            Event(eventTimeMs: t + 12_000, workerID: "W1", workstationID: "S1", kind: .idle, confidence: 0.4),   // LOW_CONFIDENCE
        ]
        let dir = TempDir()
        let file = dir.path + "/events.csv", spool = dir.path + "/spool"
        // CSV this time, with one row that does not parse.
        var rows = [EventText.csvHeader] + (good + bad).map { EventText.csvRow($0) }
        rows.insert("\(t),W1,S1,dancing,0.9,0,default,,,", at: 3)
        try (rows.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let gateway = try GatewayProcess(runArguments(server: server.address, spool: spool, input: file, follow: false))
        #expect(gateway.waitForExit(timeout: 30) == 6, "exit 6: delivered, but some went to dead letters. \(gateway.output.suffix(1_500))")
        #expect(try await c.stats().eventsStored == 3)
        let r = try runBinary("takt-gateway", ["dead-letters", "--spool", spool, "--json"])
        #expect(r.status == 0)
        let letters = r.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let byCode = Dictionary(grouping: letters) { $0["code"] as? String ?? "" }
        #expect(Set(byCode.keys) == ["INVALID", "UNKNOWN_ENTITY", "LOW_CONFIDENCE", "UNPARSEABLE"])
        #expect((byCode["INVALID"]?.first?["reason"] as? String)?.contains("confidence") == true)
        #expect((byCode["UNKNOWN_ENTITY"]?.first?["reason"] as? String)?.contains("W9") == true)
        #expect((byCode["LOW_CONFIDENCE"]?.first?["reason"] as? String)?.isEmpty == false)
        #expect((byCode["UNPARSEABLE"]?.first?["reason"] as? String)?.contains("kind") == true)
        #expect((byCode["UNPARSEABLE"]?.first?["origin"] as? String)?.hasSuffix("events.csv:4") == true)
        let text = try runBinary("takt-gateway", ["dead-letters", "--spool", spool])
        #expect(text.stdout.contains("4 dead letters"))
        let s = try SpoolStatus.read(spool)
        #expect(s.events == 0 && s.deadLetters == 4 && s.counters["rejected"] == 3 && s.counters["unparseable"] == 1)
    }
}

/// A loopback port nothing listens on (bound, read, released). Stopping a taktd that just started
/// is no substitute: a SIGTERM that arrives before it installs its signal handlers is lost.
func freePort() throws -> UInt16 {
    let s = try Socket.listen(on: SocketAddress(host: "127.0.0.1", port: 0))
    return try s.localAddress().port
}

/// Connects to a Unix socket, writes `text`, reads `replies` lines (at most 10 s).
func unixExchange(_ path: String, _ text: String, replies: Int) throws -> [String] {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw HarnessError(description: "socket failed") }
    defer { close(fd) }
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &addr.sun_path) { dst in
        for (i, b) in path.utf8.enumerated() where i < dst.count - 1 { dst[i] = b }
    }
    let r = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard r == 0 else { throw HarnessError(description: "connect \(path): errno \(errno)") }
    var tv = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    let bytes = Array(text.utf8)
    _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    var received: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while received.filter({ $0 == 10 }).count < replies {
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        received += buf[..<n]
    }
    return String(decoding: received, as: UTF8.self).split(separator: "\n").map(String.init)
}
