// The built `takt` binary against real taktd processes: every command's table and JSON output, every
// error path with its exit code, ingest of a mixed file, live following, and `takt top` in tmux.
import Foundation
import Testing
import TaktClient
import TaktDomain

/// Runs `takt` to completion with `--server` pointing at `server` (when given) and NO_COLOR set.
private func takt(_ args: [String], _ server: TaktdProcess? = nil, stdin: String? = nil,
                  environment: [String: String] = [:], timeout: TimeInterval = 30) throws -> CommandResult {
    let p = try Spawned(Binaries.path("takt"), args + (server.map { ["--server", $0.address] } ?? []), stdin: stdin,
                        environment: environment)
    guard p.wait(seconds: timeout, until: { p.isFinished }), let status = p.status else {
        p.kill()
        throw HarnessError(description: "takt \(args.joined(separator: " ")) did not finish within \(timeout) s")
    }
    return CommandResult(status: status, stdout: p.stdout, stderr: p.stderr)
}

/// Starts `process` with no signal blocked. Test code runs on Dispatch worker threads, which block
/// signals, and a child inherits the mask: a shell with SIGCHLD blocked can wait forever for a child
/// that already exited.
private func runUnblocked(_ process: Process) throws {
    var all = sigset_t(), old = sigset_t()
    sigemptyset(&all)
    pthread_sigmask(SIG_SETMASK, &all, &old)
    defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
    try process.run()
}

/// A child process run through `sh`, its output and exit status in files. Files rather than pipes and
/// polling rather than Process's termination callbacks: both lost the output or the exit of children
/// that finish within milliseconds.
private final class Spawned {
    private let dir = TempDir()
    private let process = Process()

    init(_ executable: String, _ args: [String], stdin: String? = nil, environment: [String: String] = [:]) throws {
        let input = dir.path + "/in"
        try (stdin ?? "").write(toFile: input, atomically: true, encoding: .utf8)
        let d = dir.path
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "\"$@\" > '\(d)/out' 2> '\(d)/err' < '\(d)/in' & echo $! > '\(d)/pid'; wait $!; echo $? > '\(d)/status.tmp' && mv '\(d)/status.tmp' '\(d)/status'",
                             "sh", executable] + args
        var env = ProcessInfo.processInfo.environment
        env["NO_COLOR"] = "1"
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try runUnblocked(process)
    }

    private func read(_ name: String) -> String { (try? String(contentsOfFile: dir.path + "/" + name, encoding: .utf8)) ?? "" }
    var stdout: String { read("out") }
    var stderr: String { read("err") }
    var isFinished: Bool { FileManager.default.fileExists(atPath: dir.path + "/status") }
    var status: Int32? { isFinished ? Int32(read("status").trimmingCharacters(in: .whitespacesAndNewlines)) : nil }

    /// Polls `condition` every 20 ms for at most `seconds`.
    func wait(seconds: Double, until condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return condition()
    }

    func kill() {
        if let pid = Int32(read("pid").trimmingCharacters(in: .whitespacesAndNewlines)), !isFinished {
            Foundation.kill(pid, SIGKILL)
        }
    }

    deinit { kill() }
}

private func jsonObject(_ r: CommandResult) throws -> [String: Any] {
    let any = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
    return try #require(any as? [String: Any], "not a JSON object: \(r.stdout)")
}

private func jsonArray(_ r: CommandResult) throws -> [[String: Any]] {
    let any = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
    return try #require(any as? [[String: Any]], "not a JSON array: \(r.stdout)")
}

/// One line on stderr, starting `takt: `.
private func expectOneLineError(_ r: CommandResult, _ status: Int32, containing: String,
                                sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(r.status == status, "exit \(r.status), stderr: \(r.stderr)", sourceLocation: sourceLocation)
    let lines = r.stderr.split(separator: "\n")
    #expect(lines.count == 1, "stderr is not one line: \(r.stderr)", sourceLocation: sourceLocation)
    #expect(r.stderr.hasPrefix("takt: "), sourceLocation: sourceLocation)
    #expect(r.stderr.contains(containing), "\(r.stderr) lacks \(containing)", sourceLocation: sourceLocation)
}

private func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

/// A listening socket that never answers (the kernel completes the TCP handshake; nobody accepts).
private final class SilentListener {
    let fd: Int32
    let port: UInt16
    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, len) == 0 && listen(fd, 16) == 0 && getsockname(fd, sa, &len) == 0
            }
        }
        guard ok else {
            close(fd)
            throw HarnessError(description: "cannot listen: errno \(errno)")
        }
        self.fd = fd
        port = UInt16(bigEndian: addr.sin_port)
    }
    deinit { close(fd) }
}

/// Runs tmux on a private server socket (never the user's).
private struct Tmux {
    let socket = "takt-cli-test-\(UUID().uuidString.prefix(8))"

    /// Through `sh`, which writes the output and the exit status to files that are polled for: the
    /// tmux server forked by new-session would inherit pipes, and Foundation's Process does not always
    /// notice a child that exits within milliseconds.
    @discardableResult
    func run(_ args: [String], timeout: TimeInterval = 10) throws -> CommandResult {
        let dir = TempDir()
        let out = dir.path + "/out", status = dir.path + "/status"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "tmux -L \"$0\" -f /dev/null \"$@\" > '\(out)' 2>&1 < /dev/null; echo $? > '\(status).tmp' && mv '\(status).tmp' '\(status)'",
                       socket] + args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try runUnblocked(p)
        let deadline = Date().addingTimeInterval(timeout)
        while !FileManager.default.fileExists(atPath: status) && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        guard let code = (try? String(contentsOfFile: status, encoding: .utf8)).flatMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
            if p.isRunning { p.terminate() }
            throw HarnessError(description: "tmux \(args.joined(separator: " ")) did not finish in \(timeout) s")
        }
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        return CommandResult(status: code, stdout: text, stderr: "")
    }

    static var available: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux") || FileManager.default.isExecutableFile(atPath: "/usr/local/bin/tmux")
    }
}

@Suite struct CLITests {
    @Test func helpDocumentsExitCodes() throws {
        let r = try takt(["--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("Exit codes"))
        for code in ["3  cannot connect", "4  timeout", "7  bad input file", "8  events not accepted"] {
            #expect(r.stdout.contains(code), "help lacks \(code)")
        }
        let v = try takt(["--version"])
        #expect(v.status == 0 && !v.stdout.isEmpty)
    }

    @Test func healthStatsSendAndEvents() throws {
        let server = try TaktdProcess()
        defer { server.stop() }

        let health = try takt(["health"], server)
        #expect(health.status == 0)
        #expect(health.stdout.hasPrefix("SERVING  \(server.address)"))
        let hj = try jsonObject(try takt(["health", "--json"], server))
        #expect(hj["status"] as? String == "SERVING")
        #expect(hj["server"] as? String == server.address)

        let t = nowMs() - 60_000
        let sent = try takt(["send", "--worker", "WA", "--station", "SA", "--kind", "working", "--confidence", "0.93",
                             "--time", "\(t)", "--model", "v9"], server)
        #expect(sent.status == 0)
        #expect(sent.stdout == "ACCEPTED\n")
        let again = try takt(["send", "--worker", "WA", "--station", "SA", "--kind", "working", "--confidence", "0.93",
                              "--time", "\(t)", "--json"], server)
        #expect(again.status == 0, "a duplicate is not an error")
        #expect(try jsonObject(again)["code"] as? String == "DUPLICATE")
        let units = try takt(["send", "--worker", "WA", "--station", "SA", "--kind", "product_count", "--count", "4",
                              "--confidence", "0.9", "--time", RFC3339.format(t + 1_000)], server)
        #expect(units.status == 0)
        let low = try takt(["send", "--worker", "WA", "--station", "SA", "--kind", "idle", "--confidence", "0.2"], server)
        expectOneLineError(low, 8, containing: "LOW_CONFIDENCE")
        #expect(low.stdout.hasPrefix("LOW_CONFIDENCE"))

        let stats = try jsonObject(try takt(["stats", "--json"], server))
        #expect(int64(stats["events_stored"]) == 2)
        let results = try #require(stats["results"] as? [String: Any])
        #expect(int64(results["ACCEPTED"]) == 2)
        #expect(int64(results["DUPLICATE"]) == 1)
        #expect(int64(results["LOW_CONFIDENCE"]) == 1)
        #expect(stats["version"] as? String != nil)
        let statsTable = try takt(["stats"], server)
        #expect(statsTable.status == 0)
        #expect(statsTable.stdout.contains("events stored  2"))
        #expect(statsTable.stdout.contains("Ingest.SubmitEvent"))

        // Newest last; the table names every column; JSON Lines carry the spec's fields.
        let events = try takt(["events", "--worker", "WA"], server)
        #expect(events.status == 0)
        let lines = events.stdout.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines.first?.hasPrefix("TIME") == true)
        #expect(lines[1].contains("working") && lines[1].contains("v9"))
        #expect(lines[2].contains("product_count") && lines[2].contains(" 4"))
        let jl = try takt(["events", "--worker", "WA", "--kind", "product_count", "--json"], server)
        let objects = try jl.stdout.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect(objects.count == 1)
        #expect(int64(objects.first?["event_time_ms"]) == t + 1_000)
        #expect(int64(objects.first?["count"]) == 4)
        #expect(objects.first?["worker_id"] as? String == "WA")
        #expect(int64(objects.first?["received_at_ms"]) != nil)
        // --limit pages through ListEvents.
        let limited = try takt(["events", "--limit", "1", "--json"], server)
        #expect(limited.stdout.split(separator: "\n").count == 1)
    }

    @Test func ingestMixedFileReportsEveryLine() throws {
        let server = try TaktdProcess()
        defer { server.stop() }
        let dir = TempDir()
        let t = nowMs() - 3_600_000
        let lines = [
            #"{"event_time_ms":\#(t),"worker_id":"W1","workstation_id":"S1","kind":"working","confidence":0.9}"#,   // 1 accepted
            #"{"event_time_ms":\#(t + 60000),"worker_id":"W1","workstation_id":"S1","kind":"product_count","confidence":0.9,"count":3}"#, // 2 accepted
            #"{"event_time_ms":\#(t),"worker_id":"W1","workstation_id":"S1","kind":"working","confidence":0.9}"#,   // 3 duplicate of 1
            "this is not json",                                                                                     // 4 unparsable
            "",                                                                                                     // 5 blank: skipped
            #"{"event_time_ms":\#(t + 120000),"worker_id":"W1","workstation_id":"S1","kind":"idle","confidence":0.5}"#,    // 6 low confidence
            #"{"event_time_ms":\#(t + 180000),"worker_id":"bad id!","workstation_id":"S1","kind":"idle","confidence":0.9}"#, // 7 invalid
            #"{"event_time_ms":\#(t + 240000),"worker_id":"W1","workstation_id":"S1","kind":"dancing","confidence":0.9}"#,   // 8 unparsable
            #"{"timestamp":"\#(RFC3339.format(t + 300000))","worker_id":"W2","workstation_id":"S1","kind":"idle","confidence":0.95}"#, // 9 accepted
        ]
        let path = dir.path + "/mixed.jsonl"
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)

        let r = try takt(["ingest", path, "--batch-size", "2", "--in-flight", "3"], server)
        expectOneLineError(r, 8, containing: "2 events were rejected and 2 lines were unparsable")
        let out = r.stdout
        #expect(out.contains("8 records, 6 events sent in 3 batches"))
        #expect(out.range(of: #"ACCEPTED\s+3"#, options: .regularExpression) != nil, "\(out)")
        #expect(out.range(of: #"DUPLICATE\s+1"#, options: .regularExpression) != nil)
        #expect(out.range(of: #"LOW_CONFIDENCE\s+1"#, options: .regularExpression) != nil)
        #expect(out.range(of: #"INVALID\s+1"#, options: .regularExpression) != nil)
        #expect(out.range(of: #"unparsable\s+2"#, options: .regularExpression) != nil)
        #expect(out.contains("line 6: LOW_CONFIDENCE:"))
        #expect(out.contains("line 7: INVALID: worker_id"))
        #expect(out.contains("line 4: invalid JSON"))
        #expect(out.contains("line 8: kind:"))
        // Lines 1 and 3 are the same event; with 3 batches in flight either may reach the server first.
        #expect(out.contains("Duplicates (already stored, nothing changed): line 3")
                || out.contains("Duplicates (already stored, nothing changed): line 1"), "\(out)")

        // Again, as JSON: everything stored is now a duplicate; the line numbers are the same.
        let j = try takt(["ingest", path, "--json"], server)
        #expect(j.status == 8)
        let o = try jsonObject(j)
        #expect(int64(o["records"]) == 8)
        #expect(int64(o["events_sent"]) == 6)
        let res = try #require(o["results"] as? [String: Any])
        #expect(int64(res["ACCEPTED"]) == 0)
        #expect(int64(res["DUPLICATE"]) == 4)
        #expect(int64(res["LOW_CONFIDENCE"]) == 1)
        #expect(int64(res["INVALID"]) == 1)
        let rejected = try #require(o["rejected"] as? [[String: Any]])
        #expect(rejected.map { int64($0["line"]) } == [6, 7])
        #expect(rejected.map { $0["code"] as? String } == ["LOW_CONFIDENCE", "INVALID"])
        #expect((rejected[1]["message"] as? String)?.hasPrefix("worker_id") == true)
        #expect((o["duplicate_lines"] as? [Any])?.compactMap(int64) == [1, 2, 3, 9])
        let unparsable = try #require(o["unparsable_lines"] as? [[String: Any]])
        #expect(unparsable.map { int64($0["line"]) } == [4, 8])

        let stored = try jsonObject(try takt(["stats", "--json"], server))
        #expect(int64(stored["events_stored"]) == 3)
    }

    @Test func ingestCSVFromStdinAndBadFiles() throws {
        let server = try TaktdProcess()
        defer { server.stop() }
        let t = nowMs() - 600_000
        let csv = "worker_id,workstation_id,kind,confidence,count,timestamp\n"
            + "W1,S1,working,0.91,,\(RFC3339.format(t))\n"
            + "W1,S1,product_count,0.88,2,\(RFC3339.format(t + 1000))\n"
        let ok = try takt(["ingest", "-"], server, stdin: csv)
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("stdin: 2 records, 2 events sent"))
        #expect(ok.stderr.isEmpty, "no progress lines for a short run: \(ok.stderr)")

        let missing = try takt(["ingest", "/nonexistent/events.jsonl"], server)
        expectOneLineError(missing, 7, containing: "cannot read /nonexistent/events.jsonl")
        let dir = TempDir()
        let directory = try takt(["ingest", dir.path], server)
        expectOneLineError(directory, 7, containing: "is a directory")
        let garbage = dir.path + "/garbage.csv"
        try "no,header,here\n1,2,3\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        let bad = try takt(["ingest", garbage], server)
        expectOneLineError(bad, 7, containing: "header: missing column")
    }

    @Test func seedThenMetricsEqualTheClientLibrary() async throws {
        let server = try TaktdProcess()
        defer { server.stop() }
        // Aligned to 2 h so the 2 h timeline below has exactly 12 buckets.
        let end = (nowMs() - 3_600_000) / 7_200_000 * 7_200_000
        let from = end - 24 * 3_600_000
        let seed = try takt(["seed", "--seed", "7", "--workers", "4", "--stations", "3", "--hours", "24",
                             "--end", "\(end)", "--json"], server)
        #expect(seed.status == 0, "\(seed.stderr)")
        let s = try jsonObject(seed)
        let results = try #require(s["results"] as? [String: Any])
        #expect(int64(results["ACCEPTED"])! > 1_000)
        #expect(int64(results["DUPLICATE"])! > 0, "gateways re-send a few events")
        #expect(int64(results["LOW_CONFIDENCE"])! > 0)
        #expect(int64(s["workers_created"]) == 4)
        #expect(int64(s["workstations_created"]) == 3)
        // Deterministic: the same seed again changes nothing.
        let again = try jsonObject(try takt(["seed", "--seed", "7", "--workers", "4", "--stations", "3", "--hours", "24",
                                             "--end", "\(end)", "--json"], server))
        #expect(int64((again["results"] as? [String: Any])?["ACCEPTED"]) == 0)
        #expect(int64(again["events_sent"]) == int64(s["events_sent"]))

        let client = try server.client()
        defer { client.close() }
        let window = ["--from", "\(from)", "--to", RFC3339.format(end)]

        let lib = try await client.metrics(MetricsQuery(scope: .all, fromMs: from, toMs: end))
        let workersRun = try takt(["metrics", "workers", "--json", "--sort", "id"] + window, server)
        let workersText = workersRun.stdout
        let workersJSON = try jsonObject(workersRun)
        let w = try #require(workersJSON["window"] as? [String: Any])
        #expect(int64(w["from_ms"]) == from && int64(w["to_ms"]) == end)
        let rows = try #require(workersJSON["workers"] as? [[String: Any]])
        #expect(rows.map { $0["worker_id"] as? String } == lib.workers.map(\.workerID))
        for (row, m) in zip(rows, lib.workers) {
            #expect(row["site_id"] as? String == m.siteID)
            #expect(int64(row["working_ms"]) == m.workingMs)
            #expect(int64(row["idle_ms"]) == m.idleMs)
            #expect(int64(row["absent_ms"]) == m.absentMs)
            #expect(int64(row["units"]) == m.units)
            #expect(int64(row["units_outside_working"]) == m.unitsOutsideWorking)
            // JSONSerialization's parser is not exact; the text must be (shortest round-trip form).
            #expect(closeEnough(double(row["utilization_pct"])!, m.utilizationPct))
            #expect(closeEnough(double(row["units_per_hour"])!, m.unitsPerHour))
            #expect(workersText.contains("\"utilization_pct\": \(m.utilizationPct),"), "exact utilization for \(m.workerID)")
            #expect(workersText.contains("\"units_per_hour\": \(m.unitsPerHour)"), "exact units/h for \(m.workerID)")
            #expect(int64(row["last_seen_ms"]) == m.lastSeenMs)
            #expect(row["name"] as? String != nil, "registry names are added")
        }
        // Sorted leaderboard: units per hour, descending.
        let byRate = try jsonObject(try takt(["metrics", "workers", "--json", "--sort", "units-per-hour"] + window, server))
        let rates = (byRate["workers"] as? [[String: Any]])?.compactMap { double($0["units_per_hour"]) } ?? []
        #expect(rates.count == 4 && rates == rates.sorted(by: >))

        let stationsJSON = try jsonObject(try takt(["metrics", "workstations", "--json", "--sort", "id"] + window, server))
        let srows = try #require(stationsJSON["workstations"] as? [[String: Any]])
        #expect(srows.map { $0["workstation_id"] as? String } == lib.workstations.map(\.workstationID))
        for (row, m) in zip(srows, lib.workstations) {
            #expect(int64(row["occupancy_ms"]) == m.occupancyMs)
            #expect(int64(row["working_ms"]) == m.workingMs)
            #expect(int64(row["units"]) == m.units)
            #expect(closeEnough(double(row["utilization_pct"])!, m.utilizationPct))
            #expect(closeEnough(double(row["throughput_per_hour"])!, m.throughputPerHour))
            #expect(int64(row["last_activity_ms"]) == m.lastActivityMs)
        }
        let factoryJSON = try jsonObject(try takt(["metrics", "factory", "--json"] + window, server))
        let f = try #require(factoryJSON["factory"] as? [String: Any])
        let lf = try #require(lib.factory)
        #expect(int64(f["active_workers"]) == lf.activeWorkers)
        #expect(int64(f["active_workstations"]) == lf.activeWorkstations)
        #expect(int64(f["total_working_ms"]) == lf.totalWorkingMs)
        #expect(int64(f["total_units"]) == lf.totalUnits)
        #expect(closeEnough(double(f["avg_utilization_pct"])!, lf.avgUtilizationPct))
        #expect(closeEnough(double(f["avg_units_per_hour"])!, lf.avgUnitsPerHour))

        // Tables: aligned rows with names and bars; a filter narrows them.
        let table = try takt(["metrics", "workers", "--sort", "units"] + window, server)
        #expect(table.status == 0)
        let tl = table.stdout.split(separator: "\n")
        #expect(tl[1].hasPrefix("#  WORKER  NAME"))
        #expect(tl.count == 2 + 4)
        let top = try #require(lib.workers.max { $0.units < $1.units })
        #expect(tl[2].contains(" \(top.workerID) "), "the leader by units comes first")
        #expect(tl[2].contains("█"))
        let one = try takt(["metrics", "workers", "--worker", "W2"] + window, server)
        #expect(one.stdout.split(separator: "\n").count == 3)
        let factoryTable = try takt(["metrics", "factory"] + window, server)
        #expect(factoryTable.stdout.contains("active workers       \(lf.activeWorkers)"))
        let all = try takt(["metrics"] + window, server)
        #expect(all.status == 0 && all.stdout.contains("STATION") && all.stdout.contains("WORKER"))
        // Relative windows parse (the data ended an hour ago, so the last 30 minutes are empty).
        let recent = try jsonObject(try takt(["metrics", "factory", "--json", "--from", "-30m"], server))
        #expect(int64((recent["factory"] as? [String: Any])?["total_units"]) == 0)

        // Timeline: one row per worker, a cell per hour, shaded.
        let timeline = try takt(["timeline"] + window, server)
        #expect(timeline.status == 0)
        let trows = timeline.stdout.split(separator: "\n").filter { $0.hasPrefix("W") }
        #expect(trows.count == 4)
        #expect(trows.contains { $0.contains("█") || $0.contains("▓") })
        let tj = try jsonObject(try takt(["timeline", "--json", "--by", "workstation", "--bucket", "2h"] + window, server))
        #expect(int64(tj["bucket_ms"]) == 7_200_000)
        let trowsJSON = try #require(tj["rows"] as? [[String: Any]])
        #expect(trowsJSON.compactMap { $0["workstation_id"] as? String } == ["S1", "S2", "S3"])
        let buckets = try #require(trowsJSON.first?["buckets"] as? [[String: Any]])
        #expect(buckets.count == 12)
        #expect(buckets.allSatisfy { $0["utilization_pct"] != nil && $0["units"] != nil && $0["start_ms"] != nil })
        let libTimeline = try await client.metrics(MetricsQuery(scope: .timeline, fromMs: from, toMs: end, bucketMs: 7_200_000,
                                                                timelineSubject: .workstation))
        let s1 = try #require(libTimeline.timeline.first { $0.entityID == "S1" })
        #expect(buckets.compactMap { int64($0["units"]) } == s1.buckets.map(\.units))

        // Model health: per version, status named.
        let mh = try takt(["model-health", "--to", "\(end)"], server)
        #expect(mh.status == 0)
        #expect(mh.stdout.contains("v2.3") && mh.stdout.contains("v2.4") && mh.stdout.contains("all versions"))
        #expect(mh.stdout.contains("HEALTHY") || mh.stdout.contains("CAUTION") || mh.stdout.contains("WARNING"))
        let mhj = try jsonObject(try takt(["model-health", "--json", "--to", "\(end)"], server))
        let versions = try #require(mhj["versions"] as? [[String: Any]])
        #expect(versions.compactMap { $0["model_version"] as? String } == ["v2.3", "v2.4"])
        let libHealth = try #require(try await client.metrics(MetricsQuery(scope: .modelHealth, toMs: end)).modelHealth)
        let overall = try #require(mhj["overall"] as? [String: Any])
        #expect(overall["status"] as? String == libHealth.overall.status.name)
        #expect(closeEnough(double(overall["mean_confidence"])!, libHealth.overall.meanConfidence))
        #expect(int64(overall["samples"]) == libHealth.overall.samples)
    }

    @Test func registryListAndAdd() throws {
        let server = try TaktdProcess()
        defer { server.stop() }
        let add = try takt(["workers", "add", "W9", "--name", "Ana Costa", "--shift", "A", "--department", "Assembly"], server)
        #expect(add.status == 0 && add.stdout == "created worker W9 (site default)\n")
        let update = try takt(["workers", "add", "W9", "--name", "Ana C. Costa", "--json"], server)
        #expect(try jsonObject(update)["result"] as? String == "updated")
        let list = try takt(["workers", "list"], server)
        #expect(list.stdout.contains("W9") && list.stdout.contains("Ana C. Costa"))
        let workers = try jsonArray(try takt(["workers", "list", "--json"], server))
        #expect(workers.count == 1 && workers[0]["worker_id"] as? String == "W9" && workers[0]["department"] as? String == "")

        let sadd = try takt(["workstations", "add", "S4", "--name", "Welding 2", "--type", "welding", "--location", "Hall A"], server)
        #expect(sadd.status == 0)
        let stations = try jsonArray(try takt(["workstations", "--json"], server))
        #expect(stations.count == 1 && stations[0]["type"] as? String == "welding" && stations[0]["name"] as? String == "Welding 2")
        let slist = try takt(["workstations", "list"], server)
        #expect(slist.stdout.split(separator: "\n").count == 2 && slist.stdout.contains("Hall A"))

        let badID = try takt(["workers", "add", "bad id"], server)
        expectOneLineError(badID, 2, containing: "worker id")
    }

    @Test func errorPathsHaveOneLineAndTheirExitCode() throws {
        let server = try TaktdProcess()
        // Server rejects: a window that starts in the future is INVALID_ARGUMENT there.
        let future = try takt(["metrics", "factory", "--from", "+2h"], server)
        expectOneLineError(future, 5, containing: "INVALID_ARGUMENT")
        let port = server.port
        server.stop()

        // Nothing listening: cannot connect.
        let refused = try takt(["metrics", "workers", "--server", "127.0.0.1:\(port)"])
        expectOneLineError(refused, 3, containing: "connection refused")
        #expect(refused.stderr.contains("--server"), "says what to do")
        let env = try takt(["health"], environment: ["TAKT_SERVER": "127.0.0.1:\(port)"])
        expectOneLineError(env, 3, containing: "127.0.0.1:\(port)")

        // Something listening that never answers: timeout.
        let silent = try SilentListener()
        let start = Date()
        let timeout = try takt(["health", "--server", "127.0.0.1:\(silent.port)", "--timeout", "300ms"])
        expectOneLineError(timeout, 4, containing: "300 ms")
        #expect(Date().timeIntervalSince(start) < 10)

        // Usage errors: exit 2, one line, pointing at the help.
        let flag = try takt(["metrics", "workers", "--bogus"])
        expectOneLineError(flag, 2, containing: "--bogus")
        #expect(flag.stderr.contains("takt metrics --help"))
        let time = try takt(["metrics", "workers", "--from", "yesterday"])
        expectOneLineError(time, 2, containing: "--from yesterday")
        let relative = try takt(["events", "--from", "-8x"])
        expectOneLineError(relative, 2, containing: "needs a unit")
        let order = try takt(["metrics", "--from", "-1h", "--to", "-2h"])
        expectOneLineError(order, 2, containing: "not before")
        let address = try takt(["health", "--server", "nowhere"])
        expectOneLineError(address, 2, containing: "HOST:PORT")
        let duration = try takt(["health", "--timeout", "soon"])
        expectOneLineError(duration, 2, containing: "--timeout")
        let kind = try takt(["send", "--worker", "W1", "--station", "S1", "--kind", "sleeping", "--confidence", "1"])
        expectOneLineError(kind, 2, containing: "--kind sleeping")
        let sort = try takt(["metrics", "workers", "--sort", "height"])
        expectOneLineError(sort, 2, containing: "height")
        let unknown = try takt(["frobnicate"])
        #expect(unknown.status == 2)
    }

    @Test func eventsFollowSeesALiveEvent() throws {
        let server = try TaktdProcess()
        defer { server.stop() }
        let follow = try Spawned(Binaries.path("takt"), ["events", "--follow", "--exit-after", "1", "--worker", "WF",
                                                         "--server", server.address])
        #expect(follow.wait(seconds: 10) { follow.stderr.contains("following live events") }, "\(follow.stderr)")
        let sent = try takt(["send", "--worker", "WF", "--station", "S1", "--kind", "idle", "--confidence", "0.9"], server)
        #expect(sent.status == 0)
        #expect(follow.wait(seconds: 10) { follow.isFinished }, "follow did not exit after one event")
        #expect(follow.status == 0)
        let lines = follow.stdout.split(separator: "\n")
        #expect(lines.count == 2, "\(follow.stdout)")
        #expect(lines.last?.contains("WF") == true && lines.last?.contains("idle") == true)
    }

    /// Like `tail -F`: the server restarts (SIGTERM, GOAWAY) and `--follow` subscribes again.
    @Test func eventsFollowResubscribesAfterAServerRestart() throws {
        let server = try TaktdProcess()
        let follow = try Spawned(Binaries.path("takt"), ["events", "--follow", "--exit-after", "2", "--worker", "WR",
                                                         "--limit", "0", "--server", server.address])
        #expect(follow.wait(seconds: 10) { follow.stderr.contains("following live events") }, "\(follow.stderr)")
        let first = try takt(["send", "--worker", "WR", "--station", "S1", "--kind", "idle", "--confidence", "0.9"], server)
        #expect(first.status == 0)
        #expect(follow.wait(seconds: 10) { follow.stdout.contains("idle") }, "\(follow.stdout) \(follow.stderr)")
        #expect(server.stop() == 0)
        let again = try TaktdProcess(arguments: ["--listen", server.address], dataDir: server.dataDir)
        defer { again.stop() }
        #expect(follow.wait(seconds: 20) { follow.stderr.contains("following again") }, "\(follow.stderr)")
        #expect(!follow.isFinished)
        let second = try takt(["send", "--worker", "WR", "--station", "S1", "--kind", "working", "--confidence", "0.9"], again)
        #expect(second.status == 0)
        #expect(follow.wait(seconds: 10) { follow.isFinished }, "follow did not exit after two events: \(follow.stderr)")
        #expect(follow.status == 0)
        let lines = follow.stdout.split(separator: "\n")
        #expect(lines.count == 3, "\(follow.stdout)")
        #expect(lines.last?.contains("working") == true)
        #expect(follow.stderr.contains("resubscribing"))
    }

    /// `takt ingest` rides out a server restart: failed batches are sent again until --timeout, and
    /// every event is stored once.
    @Test func ingestRidesOutAServerRestart() throws {
        let server = try TaktdProcess()
        let dir = TempDir()
        let file = dir.path + "/events.jsonl"
        let base = Int64(Date().timeIntervalSince1970 * 1_000) - 20 * 3_600_000
        let count = 40_000
        let lines = (0..<count).map { i in
            EventText.jsonLine(Event(eventTimeMs: base + Int64(i) * 1_000, workerID: "W\(i % 7)", workstationID: "S\(i % 3)",
                                     kind: [.working, .idle, .productCount][i % 3], confidence: 0.9))
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        // Small batches, one at a time: slow enough to be in the middle when the server goes away.
        let ingest = try Spawned(Binaries.path("takt"), ["ingest", file, "--batch-size", "20", "--in-flight", "1", "--quiet",
                                                         "--timeout", "30", "--server", server.address])
        func stored(_ s: TaktdProcess) -> Int64 { (try? jsonObject(try takt(["stats", "--json"], s))).flatMap { int64($0["events_stored"]) } ?? -1 }
        #expect(ingest.wait(seconds: 30) { stored(server) >= 2_000 }, "\(ingest.stderr)")
        #expect(server.stop() == 0)
        #expect(!ingest.isFinished, "the ingest finished before the restart: make the file longer")
        let again = try TaktdProcess(arguments: ["--listen", server.address], dataDir: server.dataDir)
        defer { again.stop() }
        #expect(ingest.wait(seconds: 120) { ingest.isFinished }, "\(ingest.stderr)")
        #expect(ingest.status == 0, "\(ingest.stdout) \(ingest.stderr)")
        #expect(stored(again) == Int64(count))
    }

    @Test(.enabled(if: Tmux.available)) func topDrawsAndQuitsOnQ() throws {
        let server = try TaktdProcess()
        defer { server.stop() }
        let seed = try takt(["seed", "--workers", "3", "--stations", "2", "--hours", "24", "--quiet"], server)
        #expect(seed.status == 0)
        let tmux = Tmux()
        defer { _ = try? tmux.run(["kill-server"]) }
        let command = "\(Binaries.path("takt")) top --server \(server.address) --window 24h --interval 1s"
        let started = try tmux.run(["new-session", "-d", "-s", "top", "-x", "120", "-y", "40", command])
        #expect(started.status == 0, "\(started.stdout)")

        var screen = ""
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            screen = (try? tmux.run(["capture-pane", "-p", "-t", "top"]).stdout) ?? ""
            if screen.contains("ACTIVE WORKERS") && screen.contains("W1 ") && screen.contains("LAST EVENTS") { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(screen.contains("takt top"), "\(screen)")
        #expect(screen.contains("ACTIVE WORKERS 3"), "\(screen)")
        #expect(screen.contains("LEADERBOARD"))
        #expect(screen.range(of: #"\n\s*1\s+W\d\s"#, options: .regularExpression) != nil, "a worker row: \(screen)")
        #expect(screen.contains("STATIONS") && screen.contains("S1"))

        // A live event shows up without a key press.
        let sent = try takt(["send", "--worker", "W3", "--station", "S2", "--kind", "working", "--confidence", "0.97"], server)
        #expect(sent.status == 0)
        var sawLive = false
        let liveDeadline = Date().addingTimeInterval(10)
        while Date() < liveDeadline && !sawLive {
            screen = (try? tmux.run(["capture-pane", "-p", "-t", "top"]).stdout) ?? ""
            sawLive = screen.contains("W3  S2  working  0.97")
            if !sawLive { Thread.sleep(forTimeInterval: 0.1) }
        }
        #expect(sawLive, "\(screen)")

        try tmux.run(["send-keys", "-t", "top", "q"])
        var gone = false
        let quitDeadline = Date().addingTimeInterval(5)
        while Date() < quitDeadline && !gone {
            gone = (try? tmux.run(["has-session", "-t", "top"]).status) != 0
            if !gone { Thread.sleep(forTimeInterval: 0.05) }
        }
        #expect(gone, "takt top did not exit on q")
    }

    @Test func topRefusesWithoutATerminal() throws {
        let r = try takt(["top", "--server", "127.0.0.1:1"])
        expectOneLineError(r, 2, containing: "needs a terminal")
    }
}
