// `takt-load run` (the default command): connect the gateways, warm up, measure, drain, then check
// that the server stored exactly the events it acknowledged as ACCEPTED.
import ArgumentParser
import Foundation
import Glibc
import Synchronization
import TaktClient
import TaktDomain
import TaktPosix
import TaktProto

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drive a taktd with simulated camera gateways and report throughput, latency and an exact stored-count check.",
        discussion: """
        Closed loop (default): every gateway keeps --depth calls in flight and sends the next as soon as one \
        completes. Open loop (--rate): calls leave on a fixed schedule whatever the server does, and latency is \
        measured from the scheduled time, so a stalled server shows up as latency (no coordinated omission); \
        calls beyond the server's in-flight limit wait in the gateway, and that wait counts too.

        Exit status: 0 when the server's stored-event count grew by exactly the events acknowledged ACCEPTED, \
        1 on a mismatch, 2 when the server cannot be reached.
        """)

    @OptionGroup var workload: WorkloadOptions

    @Option(help: "taktd address, HOST:PORT on the loopback interface.")
    var server: String = "127.0.0.1:7411"

    @Option(help: "Open loop: target ingest rate in events per second (all gateways together). Without it: closed loop.")
    var rate: Double?

    @Option(help: "Closed loop: calls in flight per gateway connection.")
    var depth: Int = 1

    @Option(help: "Seconds to measure after the warm-up (default 10 unless --events is given).")
    var duration: Double?

    @Option(help: "Events to send in all (warm-up included); the run ends when all are answered.")
    var events: Int?

    @Option(help: "Seconds of load before measuring (counted in the stored-count check, not in throughput or latency).")
    var warmup: Double = 0

    @Option(help: "Extra connections issuing metric queries (a dashboard each) while the gateways ingest; they query the 24 h of simulated time before the newest event sent.")
    var queryConnections: Int = 0

    @Option(help: "Queries per second over all query connections (open loop); default: closed loop, one in flight each.")
    var queryRate: Double?

    @Option(help: "Query kinds in turn, comma-separated: factory, workers, timeline.")
    var queryMix: String = "factory,workers,timeline"

    @Option(help: "Per-call timeout in ms.")
    var timeoutMs: Int = 30_000

    @Option(help: "Connections opened at once while connecting the gateways.")
    var connectWave: Int = 500

    @Option(help: "Closed loop without --events: events to encode before the clock starts (the rest is generated on the fly).")
    var pregenerate: Int = 200_000

    @Option(help: "taktd's process id: report its CPU use over the measured window and its resident memory (VmRSS, VmHWM) at the end of it.")
    var serverPid: Int32?

    @Option(help: "Access token for a taktd running with --auth-file (default: $TAKT_TOKEN).")
    var token: String?

    @Flag(help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        if let r = rate, !(r > 0 && r <= 10_000_000) { throw ValidationError("--rate must be in (0, 10000000] events/s") }
        guard depth >= 1, depth <= 256 else { throw ValidationError("--depth must be 1...256 (the server's in-flight limit)") }
        if let d = duration, !(d > 0 && d <= 3_600) { throw ValidationError("--duration must be in (0, 3600] seconds") }
        if let e = events, e < 1 { throw ValidationError("--events must be at least 1") }
        guard warmup >= 0, warmup <= 600 else { throw ValidationError("--warmup must be in [0, 600] seconds") }
        guard queryConnections >= 0, queryConnections <= 1_000 else { throw ValidationError("--query-connections must be 0...1000") }
        if let q = queryRate, !(q > 0 && q <= 1_000_000) { throw ValidationError("--query-rate must be in (0, 1000000]") }
        guard timeoutMs >= 1 else { throw ValidationError("--timeout-ms must be positive") }
        guard connectWave >= 1 else { throw ValidationError("--connect-wave must be positive") }
        guard pregenerate >= 0 else { throw ValidationError("--pregenerate must be >= 0") }
        _ = try queryKinds()
        let address: SocketAddress
        do { address = try SocketAddress(parsing: server) } catch { throw ValidationError("--server \(server): expected HOST:PORT") }
        guard address.isLoopback else { throw ValidationError("--server must be a loopback address (127.0.0.0/8 or ::1): takt-load only loads a local server") }
    }

    func queryKinds() throws -> [CallKind] {
        try queryMix.split(separator: ",").map { name -> CallKind in
            switch name.trimmingCharacters(in: .whitespaces) {
            case "factory": return .queryFactory
            case "workers": return .queryWorkers
            case "timeline": return .queryTimeline
            default: throw ValidationError("--query-mix: unknown query kind \(name) (factory, workers, timeline)")
            }
        }
    }

    func log(_ s: String) {
        FileHandle.standardError.write(Data(("[takt-load] " + s + "\n").utf8))
    }

    func run() async throws {
        let limit = raiseDescriptorLimit()
        let needed = workload.connections + queryConnections + 64
        if limit < needed { log("warning: descriptor limit \(limit) is below the \(needed) this run needs (raise the hard limit: ulimit -Hn)") }
        let address = try SocketAddress(parsing: server)
        var controlConfig = ClientConfiguration(address: address)
        controlConfig.retry = .none
        controlConfig.connection.clientName = "takt-load/control"
        let authToken = token ?? ProcessInfo.processInfo.environment["TAKT_TOKEN"] ?? ""
        controlConfig.connection.authToken = authToken
        let control = TaktClient(controlConfig)
        defer { control.close() }
        do {
            _ = try await control.stats()
        } catch {
            log("cannot reach taktd at \(server): \(error)")
            throw ExitCode(2)
        }

        // Prepare the events before any connection exists.
        let nowMs = System.nowMs()
        let startMs = workload.resolvedStartMs(nowMs: nowMs)
        let measureSeconds = duration ?? (events == nil ? 10 : 3_600)
        let prepareStart = System.monotonicNs()
        var feeds = workload.feeds(startMs: startMs, totalEvents: events, nowMs: nowMs)
        let perGateway: Int
        if let e = events {
            perGateway = e / workload.connections + 1
        } else if let r = rate {
            perGateway = Int(r * (warmup + measureSeconds) * 1.02) / workload.connections + workload.batch
        } else {
            perGateway = pregenerate / workload.connections
        }
        // Every core generates: the simulation costs about 1 µs per event, so preparing the whole run
        // (as scripts/bench.sh does) keeps the generator off the cores while taktd is measured.
        feeds.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let base = buffer.baseAddress!
            DispatchQueue.concurrentPerform(iterations: buffer.count) { i in base[i].prepare(events: perGateway) }
        }
        let preparedCalls = feeds.reduce(0) { $0 + $1.preparedCalls }
        let prepareSeconds = Double(System.monotonicNs() - prepareStart) / 1e9
        log("prepared \(preparedCalls) calls for \(workload.connections) gateways in \(fmt(prepareSeconds, 1)) s")

        // Connect gradually.
        let context = LoadContext(recorder: Recorder(), timeoutMs: timeoutMs)
        let connectStart = System.monotonicNs()
        var options = ConnectionOptions()
        options.connectTimeoutMs = 10_000
        options.authToken = authToken
        let (connections, failures) = await connectAll(count: workload.connections + queryConnections, to: address, options: options)
        let connectSeconds = Double(System.monotonicNs() - connectStart) / 1e9
        log("connected \(connections.count)/\(workload.connections + queryConnections) in \(fmt(connectSeconds, 1)) s")
        var gateways: [IngestGateway] = []
        var queriers: [QueryClient] = []
        let kinds = try queryKinds()
        for (slot, c) in connections {
            if slot < workload.connections {
                gateways.append(IngestGateway(index: slot, connection: c, feed: feeds[slot], batch: workload.batch, context: context))
            } else {
                queriers.append(QueryClient(index: slot, connection: c, mix: kinds, context: context))
            }
        }
        feeds = []
        defer { for c in connections { c.1.close() } }
        guard !gateways.isEmpty || !queriers.isEmpty else {
            log("no connection could be opened: \(failures.first ?? "")")
            throw ExitCode(2)
        }

        let before: ServerStats
        do { before = try await control.stats() } catch {
            log("Stats failed before the run: \(error)")
            throw ExitCode(2)
        }

        // Load.
        let t0 = System.monotonicNs()
        let measureFrom = t0 + UInt64(warmup * 1e9)
        let scheduleEnd = measureFrom + UInt64(measureSeconds * 1e9)
        context.recorder.measureFromNs.store(measureFrom, ordering: .relaxed)
        var cpuAtMeasureStart: Double?
        var machineAtMeasureStart: CPUSample?
        var pacers: [Thread] = []
        if let r = rate {
            let gw = gateways
            let perSecond = r / Double(workload.batch)
            pacers.append(Thread {
                Self.pace(start: t0, end: scheduleEnd, perSecond: perSecond, clients: gw.count, context: context,
                          send: { i, at in gw[i].sendScheduled(at: at) })
                context.ingestPacerDone.store(true, ordering: .relaxed)
                context.pacersDone.add(1, ordering: .relaxed)
            })
        } else {
            for g in gateways { g.startClosedLoop(depth: depth) }
        }
        if let q = queryRate, !queriers.isEmpty {
            let qs = queriers
            pacers.append(Thread {
                Self.pace(start: t0, end: scheduleEnd, perSecond: q, clients: qs.count, context: context,
                          send: { i, at in qs[i].sendScheduled(at: at); return true })
                context.pacersDone.add(1, ordering: .relaxed)
            })
        } else {
            for q in queriers { q.startClosedLoop() }
        }
        for p in pacers { p.stackSize = 1 << 20; p.start() }

        // Wait for the end of the measured window.
        let hardEnd = scheduleEnd
        while true {
            let now = System.monotonicNs()
            if cpuAtMeasureStart == nil && now >= measureFrom {
                cpuAtMeasureStart = cpuSeconds()
                machineAtMeasureStart = CPUSample.take(pid: serverPid)
            }
            if now >= hardEnd { break }
            if events != nil {
                let ingestDone = rate == nil
                    ? context.activeGateways.load(ordering: .relaxed) == 0
                    : context.ingestPacerDone.load(ordering: .relaxed)
                if ingestDone && context.inFlight.load(ordering: .relaxed) == 0 { break }
            }
            try? await Task.sleep(nanoseconds: 2_000_000)
        }
        let windowEnd = System.monotonicNs()
        let window = context.recorder.windowCounts(ingestOnly: true)
        let windowSnapshot = context.recorder.snapshot()
        let cpuEnd = cpuSeconds()
        let machineEnd = CPUSample.take(pid: serverPid)
        let memory = serverPid.flatMap { ProcessMemory.of(pid: $0) }
        context.stopping.store(true, ordering: .relaxed)

        // Drain: every call still in flight is answered or times out.
        let drainDeadline = System.monotonicNs() + UInt64(timeoutMs + 5_000) * 1_000_000
        while (context.inFlight.load(ordering: .relaxed) > 0 || context.queryInFlight.load(ordering: .relaxed) > 0
                || context.pacersDone.load(ordering: .relaxed) < pacers.count)
                && System.monotonicNs() < drainDeadline {
            try? await Task.sleep(nanoseconds: 2_000_000)
        }
        var warnings: [String] = []
        let stillInFlight = context.inFlight.load(ordering: .relaxed) + context.queryInFlight.load(ordering: .relaxed)
        if stillInFlight > 0 { warnings.append("\(stillInFlight) calls still unanswered after the drain period") }
        let after: ServerStats
        do { after = try await control.stats() } catch {
            log("Stats failed after the run: \(error)")
            throw ExitCode(2)
        }

        // Report.
        let measured = Double(windowEnd - min(measureFrom, windowEnd)) / 1e9
        let tallies = context.recorder.snapshot()
        var statuses: [String: Int] = [:]
        var codes: [ResultCode: Int] = [:]
        var kindSummaries: [KindSummary] = []
        for kind in CallKind.allCases {
            guard let t = tallies[kind] else { continue }
            for (s, n) in t.statuses { statuses[s, default: 0] += n }
            for (c, n) in t.codes.dictionary { codes[c, default: 0] += n }
            let w = windowSnapshot[kind]
            kindSummaries.append(KindSummary(
                kind: kind.name, calls: t.calls, events: t.events, statuses: t.statuses,
                results: Dictionary(uniqueKeysWithValues: t.codes.dictionary.map { ($0.key.name, $0.value) }),
                callsPerSecond: measured > 0 ? Double(w?.windowCalls ?? 0) / measured : 0,
                eventsPerSecond: measured > 0 ? Double(w?.windowEvents ?? 0) / measured : 0,
                latency: LatencySummary(t.latencyUs)))
        }
        let accepted = codes[.accepted] ?? 0
        let unknown = context.unknownOutcomeEvents.load(ordering: .relaxed) + (stillInFlight > 0 ? 1 : 0)
        let growth = Int64(after.eventsStored) - Int64(before.eventsStored)
        let exact = growth == Int64(accepted)
        var message = "server stored-event count grew by \(growth) (\(before.eventsStored) -> \(after.eventsStored)); "
            + "events acknowledged ACCEPTED: \(accepted)"
        message += exact ? " - exact match" : " - differs by \(growth - Int64(accepted))"
        let serverAccepted = Int64(after.results[.accepted] ?? 0) - Int64(before.results[.accepted] ?? 0)
        if !exact { message += "; the server's own ACCEPTED counter grew by \(serverAccepted)" }
        if !exact && unknown > 0 {
            message += " (\(context.unknownOutcomeEvents.load(ordering: .relaxed)) events were in calls that failed with a status, whose outcome the client cannot know; another client ingesting at the same time also breaks the check)"
        } else if !exact {
            message += " (another client ingesting into the same server at the same time would explain it; otherwise the server lost or invented events)"
        }
        let served = gateways.filter { let c = $0.callCounts; return c.failed == 0 && c.succeeded > 0 }.count
        if gateways.contains(where: { $0.caughtUpWithClock }) {
            warnings.append("the simulation reached the wall clock: use an earlier --start-ms or more --workers")
        }
        let backlog = gateways.map(\.maxBacklog).max() ?? 0
        if backlog > 0 {
            warnings.append("the server fell behind the schedule: up to \(backlog) calls per gateway waited for one of the server's in-flight slots (their wait counts as latency)")
        }
        if !failures.isEmpty { warnings.append("\(failures.count) connections failed: \(failures.first!)") }
        let cpu = cpuEnd - (cpuAtMeasureStart ?? cpuEnd)
        var serverCPU: Double?
        var machineBusy: Double?
        if let m0 = machineAtMeasureStart, measured > 0 {
            if let a = m0.processSeconds, let b = machineEnd.processSeconds { serverCPU = (b - a) / measured * 100 }
            let total = machineEnd.machineTotal - m0.machineTotal
            if total > 0 { machineBusy = (machineEnd.machineBusy - m0.machineBusy) / total * 100 }
        }
        let summary = RunSummary(
            mode: rate == nil ? "closed" : "open", server: server, connections: workload.connections,
            connected: gateways.count, connectFailures: Array(failures.prefix(10)), connectSeconds: connectSeconds,
            queryConnections: queriers.count, batch: workload.batch, depth: rate == nil ? depth : nil,
            targetEventsPerSecond: rate, targetQueriesPerSecond: queryRate, seed: workload.seed, workers: workload.workerCount,
            simulationStartMs: startMs, warmupSeconds: warmup, measuredSeconds: measured, preparedCalls: preparedCalls,
            prepareSeconds: prepareSeconds,
            eventsPerSecond: measured > 0 ? Double(window.events) / measured : 0,
            callsPerSecond: measured > 0 ? Double(window.calls) / measured : 0,
            kinds: kindSummaries, statuses: statuses,
            results: Dictionary(uniqueKeysWithValues: codes.map { ($0.key.name, $0.value) }),
            gatewaysServed: served, clientCPUSeconds: cpu,
            clientCPUPercentOfOneCore: measured > 0 ? cpu / measured * 100 : 0,
            serverCPUPercentOfOneCore: serverCPU, machineBusyPercent: machineBusy,
            serverBefore: ServerSnapshot(before), serverAfter: ServerSnapshot(after), serverMemory: memory,
            warnings: warnings,
            verification: Verification(acceptedAcknowledged: accepted, storedBefore: before.eventsStored,
                                       storedAfter: after.eventsStored,
                                       eventsWithUnknownOutcome: context.unknownOutcomeEvents.load(ordering: .relaxed),
                                       exact: exact, message: message))
        print(json ? summary.json() : summary.human())
        if !exact { throw ExitCode(1) }
    }

    /// Opens `count` connections, `connectWave` at a time. Returns (slot, connection) pairs and failures.
    func connectAll(count: Int, to address: SocketAddress, options: ConnectionOptions) async
        -> ([(Int, ClientConnection)], [String]) {
        var connected: [(Int, ClientConnection)] = []
        var failures: [String] = []
        var next = 0
        while next < count {
            let wave = next..<min(count, next + connectWave)
            await withTaskGroup(of: (Int, Result<ClientConnection, RPCError>).self) { group in
                for slot in wave {
                    var o = options
                    o.clientName = "takt-load/\(slot)"
                    group.addTask {
                        do throws(RPCError) {
                            return (slot, .success(try await ClientConnection.connect(to: address, options: o)))
                        } catch {
                            return (slot, .failure(error))
                        }
                    }
                }
                for await (slot, r) in group {
                    switch r {
                    case .success(let c): connected.append((slot, c))
                    case .failure(let e): failures.append("connection \(slot): \(e)")
                    }
                }
            }
            next = wave.upperBound
        }
        connected.sort { $0.0 < $1.0 }
        return (connected, failures)
    }

    /// Open loop: call k (over all clients) is due at start + k / perSecond and goes to client k % clients.
    /// Late sends keep their scheduled time, so their delay counts as latency. `send` returns false when
    /// that client has nothing more to send.
    static func pace(start: UInt64, end: UInt64, perSecond: Double, clients: Int, context: LoadContext,
                     send: (Int, UInt64) -> Bool) {
        guard clients > 0 else { return }
        let intervalNs = 1e9 / perSecond
        var exhausted = [Bool](repeating: false, count: clients)
        var exhaustedCount = 0
        var k: UInt64 = 0
        while exhaustedCount < clients {
            let due = start + UInt64(Double(k) * intervalNs)
            if due >= end || context.stopping.load(ordering: .relaxed) { return }
            let now = System.monotonicNs()
            if due > now {
                let wait = min(due - now, 2_000_000)
                if wait > 20_000 { usleep(UInt32(wait / 1_000)) }
                continue
            }
            let i = Int(k % UInt64(clients))
            k += 1
            if exhausted[i] { continue }
            if !send(i, due) {
                exhausted[i] = true
                exhaustedCount += 1
            }
        }
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the limit in force.
func raiseDescriptorLimit() -> Int {
    var rl = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl) == 0 else { return 1024 }
    if rl.rlim_cur < rl.rlim_max {
        var raised = rl
        raised.rlim_cur = rl.rlim_max
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return Int(clamping: raised.rlim_cur) }
    }
    return Int(clamping: rl.rlim_cur)
}

/// User + system CPU seconds of this process.
func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(Int32(RUSAGE_SELF.rawValue), &u)
    return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
}
