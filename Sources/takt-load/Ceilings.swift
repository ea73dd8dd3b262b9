// `takt-load ceiling sqlite|tcp` (hidden): what the hardware allows without taktd, measured in the
// same run as the scenarios. SQLite: the scenario's own rows inserted by TaktStore.RawInsertBenchmark
// (one prepared statement, fixed-size transactions, the store's schema and unique index). TCP: raw
// round trips of call-sized messages on one loopback connection, one at a time and pipelined, and on
// N connections with one in flight each (scenario 2a's shape) between two single-threaded poll() loops.
import ArgumentParser
import Foundation
import Glibc
import Logging
import Synchronization
import TaktClient
import TaktProto
import TaktDomain
import TaktPosix
import TaktMetrics
import TaktStore

struct Ceiling: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the raw SQLite insert and raw TCP ping-pong ceilings.",
        shouldDisplay: false, subcommands: [SQLiteCeiling.self, StoreCeiling.self, TCPCeiling.self, RPCRoundTrips.self])
}

struct SQLiteCeilingResult: Codable {
    var rowsPerSecond: Double
    var runs: [Double]
    var rows: Int
    var rowsPerTransaction: Int
    var durability: String
    var directory: String
    /// nil: the current schema.
    var schemaVersion: Int?
}

/// What both insert ceilings (`sqlite`, `store`) take: which rows, how durable, where, how many runs.
struct InsertCeilingOptions: ParsableArguments {
    @OptionGroup var workload: WorkloadOptions

    @Option(help: "Events to generate (low-confidence ones are left out: the server does not store them as events).")
    var events: Int = 1_000_000

    @Option(help: "full (synchronous=FULL, like taktd's default) or normal.")
    var durability: String = "full"

    @Option(help: "Directory for the scratch database (deleted afterwards); use the file system taktd uses.")
    var dir: String = "/tmp/takt-ceiling"

    @Option(help: "Runs; the best counts.")
    var `repeat`: Int = 1

    @Flag(help: "Print JSON.")
    var json = false

    func parsedDurability() throws -> Durability {
        guard let d = Durability(rawValue: durability) else { throw ValidationError("--durability must be full or normal") }
        return d
    }

    /// The events of a run with these workload options (see `SQLiteCeiling.rows`).
    func rows() -> [Event] { SQLiteCeiling.rows(workload, events: events, nowMs: System.nowMs()) }
}

struct SQLiteCeiling: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sqlite",
        abstract: "Insert the rows a takt-load run would send with one prepared statement, N rows per transaction; best of --repeat runs.")

    @OptionGroup var options: InsertCeilingOptions

    @Option(help: "Rows per transaction.")
    var rowsPerTransaction: Int = 500

    @Option(help: "Store schema version to measure (default: the current one; 1: the schema before the time-first identity index).")
    var schemaVersion: Int?

    func run() throws {
        let d = try options.parsedDurability()
        if let v = schemaVersion, !(1...RawInsertBenchmark.latestSchemaVersion).contains(v) {
            throw ValidationError("--schema-version must be between 1 and \(RawInsertBenchmark.latestSchemaVersion), got \(v)")
        }
        let rows = options.rows()
        let dir = options.dir, durability = options.durability
        var runs: [Double] = []
        for _ in 0..<max(1, options.repeat) {
            do {
                runs.append(try RawInsertBenchmark.run(directory: dir, rows: rows, rowsPerTransaction: rowsPerTransaction, durability: d,
                                                       schemaVersion: schemaVersion))
            } catch {
                FileHandle.standardError.write(Data("raw insert benchmark failed: \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
        let result = SQLiteCeilingResult(rowsPerSecond: runs.max() ?? 0, runs: runs, rows: rows.count,
                                         rowsPerTransaction: rowsPerTransaction, durability: durability, directory: dir,
                                         schemaVersion: schemaVersion)
        if options.json {
            print(encodeJSON(result))
        } else {
            print("raw SQLite insert: \(fmt(result.rowsPerSecond, 0)) rows/s (\(rows.count) rows, \(rowsPerTransaction) per transaction, synchronous \(durability); runs \(runs.map { fmt($0, 0) }.joined(separator: ", ")))")
        }
    }

    /// The events of a run with the same workload options, in the order the gateways' calls interleave.
    static func rows(_ workload: WorkloadOptions, events: Int, nowMs: Int64) -> [Event] {
        var feeds = workload.feeds(startMs: workload.resolvedStartMs(nowMs: nowMs), totalEvents: events, nowMs: nowMs)
        var rows: [Event] = []
        rows.reserveCapacity(events)
        var live = Array(feeds.indices)
        while !live.isEmpty {
            live = live.filter { i in
                let batch = feeds[i].nextEvents()
                rows.append(contentsOf: batch.filter { $0.confidence >= AcceptancePolicy().minConfidence })
                return !batch.isEmpty
            }
        }
        return rows
    }
}

struct StoreCeilingResult: Codable {
    var eventsPerSecond: Double
    var runs: [Double]
    var events: Int
    var batch: Int
    var inFlight: Int
    var metricsIndex: Bool
    var commits: UInt64
    var durability: String
}

/// The store alone: the same rows as `ceiling sqlite`, submitted to `EventStore` in batches with a fixed
/// number in flight (group commit, the writer, the completion stage and optionally the metric index),
/// no network and no protobuf. Between the raw SQLite ceiling and scenario 1 it shows which layer costs what.
struct StoreCeiling: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Submit the rows a takt-load run would send straight to the store (no network): events per second; best of --repeat runs.")

    @OptionGroup var options: InsertCeilingOptions

    @Option(help: "Submissions in flight at once (scenario 1 has one per connection).")
    var inFlight: Int = 8

    @Flag(help: "Also maintain the metric index on every commit, as taktd does.")
    var metricsIndex = false

    func run() throws {
        let d = try options.parsedDurability()
        guard inFlight >= 1, inFlight <= 1_024 else { throw ValidationError("--in-flight must be in 1...1024") }
        let rows = options.rows()
        let batch = max(1, options.workload.batch)
        let submissions: [[IngestItem]] = stride(from: 0, to: rows.count, by: batch).map { start in
            rows[start..<min(start + batch, rows.count)].map { IngestItem.candidate($0) }
        }
        var runs: [Double] = []
        var commits: UInt64 = 0
        for _ in 0..<max(1, options.repeat) {
            let directory = options.dir + "/store-\(getpid())"
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let store: EventStore
            do {
                store = try EventStore.open(directory: directory, configuration: StoreConfiguration(durability: d),
                                            logger: Logger(label: "takt-load.store-ceiling", factory: { _ in SwiftLogNoOpLogHandler() }))
            } catch {
                FileHandle.standardError.write(Data("cannot open the scratch store in \(directory): \(error)\n".utf8))
                throw ExitCode(1)
            }
            if metricsIndex {
                let index = MetricsIndex()
                store.onCommit = { accepted, low in
                    index.insert(accepted)
                    index.insertLowConfidence(low)
                }
            }
            let slots = DispatchSemaphore(value: inFlight)
            let failures = Atomic<Int>(0)
            let start = System.monotonicNs()
            for items in submissions {
                slots.wait()
                store.submit(items) { result in
                    if case .failure = result { failures.add(1, ordering: .relaxed) }
                    slots.signal()
                }
            }
            for _ in 0..<inFlight { slots.wait() }
            let seconds = Double(System.monotonicNs() - start) / 1e9
            for _ in 0..<inFlight { slots.signal() }  // libdispatch traps on freeing a semaphore below its start value
            commits = store.commits
            store.close()
            guard failures.load(ordering: .relaxed) == 0 else {
                FileHandle.standardError.write(Data("\(failures.load(ordering: .relaxed)) submissions failed\n".utf8))
                throw ExitCode(1)
            }
            runs.append(Double(rows.count) / max(seconds, 1e-9))
        }
        let result = StoreCeilingResult(eventsPerSecond: runs.max() ?? 0, runs: runs, events: rows.count, batch: batch,
                                        inFlight: inFlight, metricsIndex: metricsIndex, commits: commits,
                                        durability: options.durability)
        if options.json {
            print(encodeJSON(result))
        } else {
            print("store without network: \(fmt(result.eventsPerSecond, 0)) events/s (\(rows.count) events, \(batch) per submission, \(inFlight) in flight, metric index \(metricsIndex ? "on" : "off"), \(commits) commits; runs \(runs.map { fmt($0, 0) }.joined(separator: ", ")))")
        }
    }
}

struct RPCRoundTripsResult: Codable {
    var roundTripsPerSecond: Double
    var pipelinedCallsPerSecond: Double
    var pipelineDepth: Int
    /// `connections` connections with one call in flight on each (scenario 2a's shape without storage).
    var manyConnectionsCallsPerSecond: Double?
    var connections: Int?
    var seconds: Double
}

/// Health.Check calls on one taktd connection: the RPC layer's own cost (framing, Dispatch
/// sources, protobuf-c), to set beside the raw TCP ping-pong of the same run.
struct RPCRoundTrips: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rpc",
        abstract: "Health.Check calls per second to taktd: one connection one at a time, then --depth in flight; then --connections connections with one in flight each.")

    @Option(help: "taktd address (loopback).")
    var server: String

    @Option(help: "Seconds per measurement.")
    var seconds: Double = 3

    @Option(help: "Calls in flight in the pipelined measurement.")
    var depth: Int = 64

    @Option(help: "Connections in the many-connections measurement (one call in flight on each).")
    var connections: Int = 64

    @Option(help: "Access token (default: $TAKT_TOKEN).")
    var token: String?

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        guard seconds > 0, seconds <= 60, depth >= 1, depth <= 256, connections >= 1, connections <= 1_024 else {
            throw ValidationError("out-of-range option")
        }
    }

    /// Keeps `depth` calls in flight on each connection until `seconds` pass; returns completed calls per second.
    static func measure(_ connections: [ClientConnection], depth: Int, seconds: Double) -> Double {
        let payload = HealthCheckRequest(service: "").protobufBytes()
        let done = DispatchSemaphore(value: 0)
        let completed = Atomic<Int>(0)
        let end = System.monotonicNs() + UInt64(seconds * 1e9)
        let start = System.monotonicNs()
        @Sendable func issue(_ c: ClientConnection) {
            c.unary(.healthCheck, payload, timeoutMs: 5_000) { r in
                if case .success = r { completed.add(1, ordering: .relaxed) }
                if System.monotonicNs() < end, case .success = r { issue(c) } else { done.signal() }
            }
        }
        for c in connections { for _ in 0..<depth { issue(c) } }
        for _ in 0..<(depth * connections.count) { done.wait() }
        return Double(completed.load(ordering: .relaxed)) / (Double(System.monotonicNs() - start) / 1e9)
    }

    func run() throws {
        let address = try SocketAddress(parsing: server)
        guard address.isLoopback else { throw ValidationError("--server must be a loopback address") }
        var options = ConnectionOptions()
        options.clientName = "takt-load/rpc-ceiling"
        options.authToken = token ?? ProcessInfo.processInfo.environment["TAKT_TOKEN"] ?? ""
        let connectOptions = options
        func connect() throws -> ClientConnection {
            let box = ConnectionBox()
            let ready = DispatchSemaphore(value: 0)
            Task {
                do throws(RPCError) {
                    box.result = .success(try await ClientConnection.connect(to: address, options: connectOptions))
                } catch {
                    box.result = .failure(error)
                }
                ready.signal()
            }
            ready.wait()
            return try box.result!.get()
        }
        let c = try connect()
        defer { c.close() }
        _ = Self.measure([c], depth: 1, seconds: min(0.5, seconds))   // warm-up
        let single = Self.measure([c], depth: 1, seconds: seconds)
        let pipelined = Self.measure([c], depth: depth, seconds: seconds)
        var many = [c]
        defer { for other in many.dropFirst() { other.close() } }
        while many.count < connections { many.append(try connect()) }
        let spread = Self.measure(many, depth: 1, seconds: seconds)
        let r = RPCRoundTripsResult(roundTripsPerSecond: single, pipelinedCallsPerSecond: pipelined, pipelineDepth: depth,
                                    manyConnectionsCallsPerSecond: spread, connections: connections, seconds: seconds)
        if json {
            print(encodeJSON(r))
        } else {
            print("Health.Check: \(Int(single)) round trips/s one at a time on one connection; \(Int(pipelined)) calls/s with \(depth) in flight on it; \(Int(spread)) calls/s on \(connections) connections with one in flight each")
        }
    }
}

final class ConnectionBox: @unchecked Sendable {
    // @unchecked: written by one task before the semaphore is signalled, read after the wait.
    var result: Result<ClientConnection, RPCError>?
}

struct TCPCeilingResult: Codable {
    var pingPongRoundTripsPerSecond: Double
    var pipelinedRoundTripsPerSecond: Double
    var pipelineDepth: Int
    /// N connections, one round trip in flight on each; both ends one thread with poll() and no work.
    var manyConnectionsRoundTripsPerSecond: Double?
    var connections: Int?
    var requestBytes: Int
    var replyBytes: Int
    var seconds: Double
}

struct TCPCeiling: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tcp",
        abstract: "Round trips per second on loopback TCP: one connection one at a time, then --depth in flight; then --connections connections with one in flight each.")

    @Option(help: "Seconds per measurement.")
    var seconds: Double = 3

    @Option(help: "Requests in flight in the pipelined measurement.")
    var depth: Int = 64

    @Option(help: "Connections in the many-connections measurement (one round trip in flight on each).")
    var connections: Int = 64

    @Option(help: "Request size (a SubmitEvent frame is about 80 bytes).")
    var requestBytes: Int = 80

    @Option(help: "Reply size (an EventAck frame is about 20 bytes).")
    var replyBytes: Int = 20

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        guard seconds > 0, seconds <= 60, depth >= 1, depth <= 4_096, connections >= 1, connections <= 1_024, requestBytes >= 1, requestBytes <= 65_536,
              replyBytes >= 1, replyBytes <= 65_536 else { throw ValidationError("out-of-range option") }
    }

    func run() throws {
        System.ignoreSIGPIPE()
        let listener = try Socket.listen(on: SocketAddress(host: "127.0.0.1", port: 0))
        let address = try listener.localAddress()
        try setBlocking(listener.descriptor)
        let req = requestBytes, rep = replyBytes
        let listenFD = listener.descriptor
        let server = Thread {
            let fd = accept(listenFD, nil, nil)
            guard fd >= 0 else { return }
            defer { close(fd) }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            var buffer = [UInt8](repeating: 0, count: 256 * 1024)
            let replies = [UInt8](repeating: 7, count: rep * 4_096)
            var partial = 0
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { return }
                partial += n
                var complete = partial / req
                partial -= complete * req
                while complete > 0 {
                    let k = min(complete, 4_096)
                    guard writeAll(fd, replies, count: k * rep) else { return }
                    complete -= k
                }
            }
        }
        server.start()
        let client = try Socket.connect(to: address, timeoutMs: 2_000)
        let fd = client.descriptor
        try setBlocking(fd)
        // Bounded even if the echo thread stalls: a read waits at most 5 s.
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = [UInt8](repeating: 3, count: req * depth)
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)

        // One at a time.
        var trips = 0
        var start = System.monotonicNs()
        var end = start + UInt64(seconds * 1e9)
        while System.monotonicNs() < end {
            guard writeAll(fd, request, count: req), readExactly(fd, &buffer, rep) else { throw ExitCode(1) }
            trips += 1
        }
        let pingPong = Double(trips) / (Double(System.monotonicNs() - start) / 1e9)

        // Pipelined: keep `depth` requests in flight, refill as replies arrive.
        trips = 0
        var inFlight = depth
        guard writeAll(fd, request, count: req * depth) else { throw ExitCode(1) }
        start = System.monotonicNs()
        end = start + UInt64(seconds * 1e9)
        var partial = 0
        var sending = true
        while inFlight > 0 {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw ExitCode(1) }
            partial += n
            let done = partial / rep
            partial -= done * rep
            inFlight -= done
            trips += done
            if sending && System.monotonicNs() >= end { sending = false }
            if sending && done > 0 {
                guard writeAll(fd, request, count: req * min(done, depth)) else { throw ExitCode(1) }
                inFlight += min(done, depth)
            }
        }
        let pipelined = Double(trips) / (Double(System.monotonicNs() - start) / 1e9)
        shutdown(fd, Int32(SHUT_RDWR))
        withExtendedLifetime(listener) {}
        let many = try manyConnections(count: connections, requestBytes: req, replyBytes: rep, seconds: seconds)
        let result = TCPCeilingResult(pingPongRoundTripsPerSecond: pingPong, pipelinedRoundTripsPerSecond: pipelined,
                                      pipelineDepth: depth, manyConnectionsRoundTripsPerSecond: many,
                                      connections: connections, requestBytes: req, replyBytes: rep, seconds: seconds)
        if json {
            print(encodeJSON(result))
        } else {
            print("raw TCP loopback: \(fmt(pingPong, 0)) round trips/s one at a time, \(fmt(pipelined, 0)) with \(depth) in flight (\(req)-byte requests, \(rep)-byte replies); \(fmt(many, 0))/s on \(connections) connections with one in flight each")
        }
    }

    /// Closed-loop round trips on `count` connections, one in flight on each: the shape of scenario 2a with
    /// no work per call. Each side is one thread running poll() over every connection, the cheapest loop
    /// there is (no thread hand-offs), so this bounds what any server can answer on this machine.
    private func manyConnections(count: Int, requestBytes req: Int, replyBytes rep: Int, seconds: Double) throws -> Double {
        let listener = try Socket.listen(on: SocketAddress(host: "127.0.0.1", port: 0))
        let address = try listener.localAddress()
        var clients: [Socket] = []
        for _ in 0..<count { clients.append(try Socket.connect(to: address, timeoutMs: 2_000)) }
        var accepted: [Int32] = []
        try setBlocking(listener.descriptor)
        for _ in 0..<count {
            let fd = accept(listener.descriptor, nil, nil)
            guard fd >= 0 else { throw SystemError("accept", errno: errno) }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            accepted.append(fd)
        }
        let stop = Atomic<Bool>(false)
        let serverFDs = accepted
        // Server: answer every complete request; requests never straddle reads here but partials are handled.
        let server = Thread {
            var fds = serverFDs.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            var partial = [Int](repeating: 0, count: fds.count)
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            let replies = [UInt8](repeating: 7, count: rep * 64)
            while !stop.load(ordering: .relaxed) {
                let ready = poll(&fds, nfds_t(fds.count), 100)
                if ready <= 0 { continue }
                for i in fds.indices where fds[i].revents != 0 {
                    let n = buffer.withUnsafeMutableBytes { read(fds[i].fd, $0.baseAddress, $0.count) }
                    if n <= 0 { if n == 0 || (errno != EAGAIN && errno != EINTR) { fds[i].events = 0 }; continue }
                    partial[i] += n
                    let complete = partial[i] / req
                    partial[i] -= complete * req
                    if complete > 0 { _ = writeAll(fds[i].fd, replies, count: min(complete, 64) * rep) }
                }
            }
        }
        server.start()
        defer {
            stop.store(true, ordering: .relaxed)
            for fd in accepted { close(fd) }
        }
        var fds = clients.map { pollfd(fd: $0.descriptor, events: Int16(POLLIN), revents: 0) }
        var partial = [Int](repeating: 0, count: count)
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let request = [UInt8](repeating: 3, count: req)
        for c in clients { guard writeAll(c.descriptor, request, count: req) else { throw ExitCode(1) } }
        var inFlight = count
        var trips = 0
        let start = System.monotonicNs()
        let end = start + UInt64(seconds * 1e9)
        var sending = true
        while inFlight > 0 {
            let ready = poll(&fds, nfds_t(fds.count), 5_000)
            guard ready > 0 else { throw ExitCode(1) }  // 5 s without a reply: the echo loop is stuck
            if sending && System.monotonicNs() >= end { sending = false }
            for i in fds.indices where fds[i].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(fds[i].fd, $0.baseAddress, $0.count) }
                guard n > 0 else { throw ExitCode(1) }
                partial[i] += n
                guard partial[i] >= rep else { continue }
                partial[i] -= rep
                inFlight -= 1
                trips += 1
                if sending {
                    guard writeAll(fds[i].fd, request, count: req) else { throw ExitCode(1) }
                    inFlight += 1
                }
            }
        }
        let rate = Double(trips) / (Double(System.monotonicNs() - start) / 1e9)
        withExtendedLifetime((listener, clients)) {}
        return rate
    }
}

private func setBlocking(_ fd: Int32) throws {
    let flags = fcntl(fd, F_GETFL)
    guard flags >= 0, fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0 else { throw SystemError("fcntl", errno: errno) }
}

private func writeAll(_ fd: Int32, _ bytes: [UInt8], count: Int) -> Bool {
    var off = 0
    while off < count {
        let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + off, count - off, Int32(MSG_NOSIGNAL)) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return false }
        off += n
    }
    return true
}

private func readExactly(_ fd: Int32, _ buffer: inout [UInt8], _ count: Int) -> Bool {
    var got = 0
    while got < count {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, count - got) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return false }
        got += n
    }
    return true
}

func encodeJSON(_ value: some Encodable) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self)
}
