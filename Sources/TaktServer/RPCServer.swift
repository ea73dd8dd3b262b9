// The RPC server of docs/PROTOCOL.md on Dispatch sources: one listening socket, one
// FramedChannel per connection, no thread per connection. Methods are served by a `CallHandler`.
@preconcurrency import Dispatch
import Logging
import Synchronization
import TaktDomain
import TaktPosix
import TaktProto
import TaktWire
import TaktSync

public struct RPCServerConfiguration: Sendable {
    public var listen: SocketAddress = SocketAddress(host: "127.0.0.1", port: 7411)
    /// Largest frame payload accepted (checked before allocation).
    public var maxFramePayload: Int = 4 << 20
    /// Calls one connection may have open at once; more get RESOURCE_EXHAUSTED.
    public var maxInFlightCalls: Int = 256
    /// Announced keepalive interval; a connection silent for two intervals is closed.
    public var keepaliveIntervalMs: Int = 30_000
    /// A connection with no call in flight and no frame for this long is closed; 0 disables.
    public var idleTimeoutMs: Int = 0
    /// Preface and HELLO must arrive within this time.
    public var helloTimeoutMs: Int = 10_000
    /// A peer that takes no bytes for this long while replies wait is closed.
    public var slowReaderTimeoutMs: Int = 30_000
    /// Hard cap on bytes waiting for one peer; past it the connection is closed.
    public var maxOutboundBytes: Int = 64 << 20
    /// Connections open at once; more are accepted and closed at once with a GOAWAY.
    public var maxConnections: Int = 20_000
    /// Announced in ServerHello.
    public var maxBatchEvents: Int = 10_000
    public var serverName: String = "taktd"
    /// Tokens (nil: no authentication; then only loopback listening unless `insecure`).
    public var authenticator: Authenticator?
    /// Events per second per token (or per connection without auth); nil: unlimited.
    public var rateLimit: Double?
    public var rateBurst: Double?
    /// Connections open at once from one address.
    public var maxConnectionsPerAddress: Int = 1_000
    /// Request bytes held by calls in flight across all connections; past it the server stops
    /// reading sockets until calls finish.
    public var maxInFlightBytes: Int = 256 << 20
    /// Live subscriptions per connection.
    public var maxStreamsPerConnection: Int = 16
    /// A failed authentication is answered (GOAWAY UNAUTHENTICATED) after this delay.
    public var authFailureDelayMs: Int = 200
    public init() {}
}

/// One call as the service sees it. Thread-safe: complete it from any thread, exactly once.
public final class ServerCall: @unchecked Sendable {
    // @unchecked: immutable fields, atomic flags, and a cancel hook confined to the connection's queue.
    public let method: MethodID
    public let callID: UInt32
    public let payload: [UInt8]
    /// Monotonic ns after which the client no longer wants the answer; nil: no deadline.
    public let deadlineNs: UInt64?
    public let peer: SocketAddress
    /// Who is calling (the anonymous full-access principal when auth is off).
    public let principal: Principal
    /// Strong on purpose: a weak reference gives the connection a side table, which sends every retain
    /// and release of it through the runtime's slow path (3-4 % of taktd under single-event load).
    /// No cycle outlives the call: the connection forgets a call when it is answered, cancelled or the
    /// connection closes, and then only the service holds it until it completes.
    let connection: ServerConnection
    private let finished = Atomic<Bool>(false)
    /// Set and run only on the connection's queue (`handle` runs there, and so does every cancellation),
    /// so it needs no lock: a lock per call was an allocation per call for a hook only streams use.
    private var cancelHook: (@Sendable () -> Void)?
    let cancelledFlag = Atomic<Bool>(false)

    init(method: MethodID, callID: UInt32, payload: [UInt8], deadlineNs: UInt64?, peer: SocketAddress,
         principal: Principal, connection: ServerConnection) {
        self.principal = principal
        self.method = method
        self.callID = callID
        self.payload = payload
        self.deadlineNs = deadlineNs
        self.peer = peer
        self.connection = connection
    }

    public var isCancelled: Bool { cancelledFlag.load(ordering: .relaxed) }
    public var isExpired: Bool { deadlineNs.map { System.monotonicNs() >= $0 } ?? false }

    /// Runs `hook` when the client cancels (or the connection closes); at once if that already happened.
    /// Call it from `CallHandler.handle`, on the connection's queue.
    public func onCancel(_ hook: @escaping @Sendable () -> Void) {
        dispatchPrecondition(condition: .onQueue(connection.channel.queue))
        if isCancelled { return hook() }
        cancelHook = hook
    }

    /// On the connection's queue.
    func markCancelled() {
        cancelledFlag.store(true, ordering: .relaxed)
        let hook = cancelHook
        cancelHook = nil
        hook?()
    }

    /// Unary success.
    public func respond(_ message: [UInt8]) {
        guard !finished.exchange(true, ordering: .acquiringAndReleasing) else { return }
        connection.finish(self, frame: Frame(type: .response, callID: callID, payload: message), status: .ok)
    }

    /// Ends the call (unary or stream) with an error status.
    public func fail(_ error: RPCError) {
        guard !finished.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let status = RPCStatus(error)
        connection.finish(self, frame: Frame(type: .status, callID: callID, payload: status.protobufBytes()),
                           status: error.code)
    }

    /// Ends a stream with OK.
    public func finishStream() {
        guard !finished.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let status = RPCStatus(code: .ok, message: "")
        connection.finish(self, frame: Frame(type: .status, callID: callID, payload: status.protobufBytes()), status: .ok)
    }

    /// Stream messages dropped since the last one sent (confined to the connection queue).
    var droppedSinceLastMessage: UInt64 = 0

    /// Sends one stream message, built on the connection's queue. When the peer is too far behind,
    /// nothing is sent and `weight` is added to the drop count that `encode` receives next time,
    /// so a live subscription reports drops instead of growing memory.
    public func sendStreamMessage(weight: UInt64, _ encode: @escaping @Sendable (_ dropped: UInt64) -> [UInt8]) {
        guard !finished.load(ordering: .relaxed), !isCancelled else { return }
        connection.sendStreamMessage(self, weight: weight, encode)
    }
}

/// The service behind the server.
public protocol CallHandler: AnyObject, Sendable {
    /// Called on a connection queue: must not block. Complete `call` later from any thread.
    func handle(_ call: ServerCall)
}

/// Connection counts, for the stats RPC.
struct CallCounters {
    var connectionsOpen: UInt64 = 0
    var connectionsTotal: UInt64 = 0
}

/// A serial queue shared by a fixed share of the connections, with what those connections share:
/// per-method status counters (so recording a finished call never contends across shards) and a
/// mailbox for call completions from other threads. The store's writer finishes dozens of calls per
/// transaction; the mailbox turns those into one hop per shard instead of one per call, and the
/// shard then writes each touched connection once.
final class ConnectionShard: @unchecked Sendable {
    // @unchecked: `counts` and `mailbox` are mutexes; everything else is immutable.
    struct Completion {
        let connection: ServerConnection
        let call: ServerCall
        let frame: Frame
        let status: StatusCode
    }

    let queue: DispatchQueue
    let counts = LockedValue<[MethodID: [StatusCode: UInt64]]>([:])
    /// Completions waiting, and an emptied buffer to take their place: delivering swaps the two, so
    /// steady state allocates nothing (taking a copy and `removeAll(keepingCapacity:)` allocated a
    /// fresh buffer, often tens of KiB, on every delivery).
    private let mailbox = LockedValue<(waiting: [Completion], spare: [Completion])>(([], []))

    init(index: Int) {
        // Targets the width-limited global pool (about one thread per core) rather than an overcommit
        // queue of its own: under load 16 shards then wake a couple of threads, not 16 (measured: a
        // quarter more single-event calls per second).
        queue = DispatchQueue(label: "takt.conn.\(index)", target: .global(qos: .userInitiated))
    }

    /// From any thread: `completion` runs on the shard's queue, in a batch with every other completion
    /// posted before that batch runs.
    func post(_ completion: Completion) {
        let first = mailbox.withLock { m -> Bool in
            m.waiting.append(completion)
            return m.waiting.count == 1
        }
        if first { queue.async { self.deliver() } }
    }

    private func deliver() {
        var batch: [Completion] = []
        mailbox.withLock { m in
            swap(&batch, &m.waiting)
            swap(&m.waiting, &m.spare)
        }
        for c in batch { c.connection.complete(c.call, frame: c.frame, status: c.status) }
        // One write per connection for the whole batch.
        var flushed = Set<ObjectIdentifier>()
        for c in batch where flushed.insert(ObjectIdentifier(c.connection)).inserted { c.connection.channel.flush() }
        batch.removeAll(keepingCapacity: true)  // the only reference now: keeps the buffer
        mailbox.withLock { m in
            if m.spare.capacity < batch.capacity { swap(&m.spare, &batch) }
        }
    }
}

public final class RPCServer: @unchecked Sendable {
    // @unchecked: mutable state is either confined to `acceptQueue` or guarded by `state`.
    public let configuration: RPCServerConfiguration
    let logger: Logger
    let handler: any CallHandler
    private let acceptQueue = DispatchQueue(label: "takt.accept")
    private let shards: [ConnectionShard]
    /// Request bytes held by calls in flight; the lock is taken only to pause or wake connections.
    private let inFlight = Atomic<Int>(0)
    private let pausedCount = Atomic<Int>(0)
    private var listener: Socket?
    private var acceptSource: (any DispatchSourceRead)?
    private var sweepTimer: (any DispatchSourceTimer)?
    private var nextQueue = 0
    let state = LockedValue(State())
    public private(set) var boundAddress: SocketAddress?

    struct State {
        var connections: [ObjectIdentifier: ServerConnection] = [:]
        var perAddress: [String: Int] = [:]
        var counters = CallCounters()
        var shuttingDown = false
        var pausedForBudget: [ServerConnection] = []
    }

    public init(configuration: RPCServerConfiguration, handler: any CallHandler, logger: Logger) {
        self.configuration = configuration
        self.handler = handler
        self.logger = logger
        // A fixed set of serial queues shared by all connections: Dispatch multiplexes them onto its pool.
        shards = (0..<16).map { ConnectionShard(index: $0) }
    }

    /// Binds and starts accepting. Returns the bound address (port 0 resolved).
    @discardableResult
    public func start() throws(SystemError) -> SocketAddress {
        System.ignoreSIGPIPE()
        let socket = try Socket.listen(on: configuration.listen)
        let address = try socket.localAddress()
        listener = socket
        boundAddress = address
        let source = DispatchSource.makeReadSource(fileDescriptor: socket.descriptor, queue: acceptQueue)
        source.setEventHandler { [unowned self] in self.acceptPending() }
        source.resume()
        acceptSource = source
        let timer = DispatchSource.makeTimerSource(queue: acceptQueue)
        timer.schedule(deadline: .now() + .seconds(1), repeating: .milliseconds(500))
        timer.setEventHandler { [unowned self] in self.sweep() }
        timer.resume()
        sweepTimer = timer
        return address
    }

    private func acceptPending() {
        guard let listener else { return }
        for _ in 0..<256 {
            let accepted: (Socket, SocketAddress)?
            do {
                accepted = try listener.accept()
            } catch {
                // EMFILE and friends: log, and let the level-triggered source retry later.
                logger.warning("accept failed", metadata: ["error": "\(error)"])
                return
            }
            guard let (socket, peer) = accepted else { return }
            let shard = shards[nextQueue % shards.count]
            let queue = shard.queue
            nextQueue &+= 1
            let limits = FramedChannel.Limits(maxFramePayload: configuration.maxFramePayload)
            let channel = FramedChannel(socket: socket, peer: peer, queue: queue, expectPreface: true, limits: limits)
            let connection = ServerConnection(channel: channel, server: self, shard: shard)
            let refusal = state.withLock { s -> String? in
                if s.shuttingDown { return "server is shutting down" }
                if s.connections.count >= configuration.maxConnections {
                    return "server is at its connection limit (max_connections \(configuration.maxConnections))"
                }
                if s.perAddress[peer.host, default: 0] >= configuration.maxConnectionsPerAddress {
                    return "too many connections from \(peer.host) (max_connections_per_address \(configuration.maxConnectionsPerAddress))"
                }
                s.connections[ObjectIdentifier(connection)] = connection
                s.perAddress[peer.host, default: 0] += 1
                s.counters.connectionsOpen += 1
                s.counters.connectionsTotal += 1
                return nil
            }
            queue.async {
                if let refusal {
                    connection.refuse(reason: refusal)
                } else {
                    connection.start()
                }
            }
        }
    }

    func connectionClosed(_ c: ServerConnection) {
        state.withLock { s in
            if s.connections.removeValue(forKey: ObjectIdentifier(c)) != nil {
                s.counters.connectionsOpen -= 1
                let host = c.channel.peer.host
                s.perAddress[host, default: 1] -= 1
                if s.perAddress[host] == 0 { s.perAddress[host] = nil }
            }
        }
    }

    /// Accounts a call's request bytes against the global budget. Returns true when the budget is
    /// now exceeded: the caller's connection then stops reading until `release` brings it back.
    func reserve(_ bytes: Int, for c: ServerConnection) -> Bool {
        let now = inFlight.add(bytes, ordering: .relaxed).newValue
        guard now > configuration.maxInFlightBytes else { return false }
        state.withLock { s in s.pausedForBudget.append(c) }
        pausedCount.add(1, ordering: .relaxed)
        return true
    }

    func release(_ bytes: Int) {
        let now = inFlight.subtract(bytes, ordering: .relaxed).newValue
        guard pausedCount.load(ordering: .relaxed) > 0, now <= configuration.maxInFlightBytes * 3 / 4 else { return }
        let resume = state.withLock { s -> [ServerConnection] in
            let r = s.pausedForBudget
            s.pausedForBudget.removeAll()
            return r
        }
        pausedCount.subtract(resume.count, ordering: .relaxed)
        for c in resume { c.channel.queue.async { c.channel.setReadingPaused(false) } }
    }

    /// Bytes held by calls in flight (stats).
    public var inFlightBytes: Int { inFlight.load(ordering: .relaxed) }

    private func sweep() {
        let connections = state.withLock { Array($0.connections.values) }
        let now = System.monotonicNs()
        for c in connections {
            c.channel.queue.async { c.checkTimers(nowNs: now) }
        }
    }

    /// Connection and call counters for the stats RPC.
    public func statistics() -> (open: UInt64, total: UInt64, methods: [MethodStats]) {
        var byMethod: [MethodID: [StatusCode: UInt64]] = [:]
        for shard in shards {
            shard.counts.withLock { c in
                for (m, statuses) in c {
                    for (code, n) in statuses { byMethod[m, default: [:]][code, default: 0] += n }
                }
            }
        }
        let methods = byMethod.map { (m, statuses) in
            MethodStats(method: m, calls: statuses.values.reduce(0, +), statuses: statuses)
        }.sorted { $0.method.rawValue < $1.method.rawValue }
        let (open, total) = state.withLock { ($0.counters.connectionsOpen, $0.counters.connectionsTotal) }
        return (open, total, methods)
    }

    /// Stops accepting, sends GOAWAY everywhere, lets in-flight calls finish for up to `graceMs`,
    /// then closes what is left. Blocks until every connection is closed.
    public func shutdown(graceMs: Int) {
        let connections = state.withLock { s -> [ServerConnection] in
            s.shuttingDown = true
            return Array(s.connections.values)
        }
        acceptQueue.sync {
            acceptSource?.cancel()
            acceptSource = nil
            listener = nil
        }
        for c in connections { c.channel.queue.async { c.goAway(code: .ok, reason: "server shutting down") } }
        let deadline = System.monotonicNs() + UInt64(graceMs) * 1_000_000
        while System.monotonicNs() < deadline {
            if state.withLock({ $0.connections.isEmpty }) { break }
            usleepMs(10)
        }
        let left = state.withLock { Array($0.connections.values) }
        for c in left { c.channel.queue.sync { c.channel.close(reason: "shutdown grace period over") } }
        acceptQueue.sync {
            sweepTimer?.cancel()
            sweepTimer = nil
        }
    }
}

func usleepMs(_ ms: Int) {
    _ = DispatchSemaphore(value: 0).wait(timeout: .now() + .milliseconds(ms))
}
