// One client connection of docs/PROTOCOL.md: preface and HELLO, many calls in flight with
// client-chosen call ids, replies in any order, deadlines, cancel, server streams, keepalive.
@preconcurrency import Dispatch
import Synchronization
import TaktDomain
import TaktPosix
import TaktProto
import TaktWire

public struct ConnectionOptions: Sendable {
    public var connectTimeoutMs: Int = 5_000
    public var clientName: String = "takt-swift"
    public var authToken: String = ""
    /// Largest frame the client accepts / sends.
    public var maxFramePayload: Int = 4 << 20
    public init() {}
}

/// A live connection. Thread-safe: every method may be called from any thread.
public final class ClientConnection: @unchecked Sendable {
    // @unchecked: mutable state below is confined to `queue`.
    private enum Pending {
        case unary(@Sendable (Result<[UInt8], RPCError>) -> Void)
        case stream(@Sendable (StreamPart) -> Void)
    }

    /// What a server stream delivers.
    public enum StreamPart: Sendable {
        case message([UInt8])
        case end(RPCError?)
    }

    public let address: SocketAddress
    public private(set) var serverHello = ServerHello()
    let queue: DispatchQueue
    private let channel: FramedChannel
    private var pending: [UInt32: Pending] = [:]
    /// Monotonic deadlines of calls that have one; one timer per connection fires at the earliest.
    private var deadlines: [UInt32: (ns: UInt64, method: MethodID, timeoutMs: Int)] = [:]
    private var deadlineTimer: (any DispatchSourceTimer)?
    private var armedDeadlineNs: UInt64 = .max
    private var nextCallID: UInt32 = 1
    private var goawayLastCallID: UInt32?
    private var closedReason: String?
    private var handshake: (@Sendable (Result<Void, RPCError>) -> Void)?
    private var keepaliveTimer: (any DispatchSourceTimer)?
    private let closedFlag = Atomic<Bool>(false)

    /// True once the connection can take no new calls (closed or draining after GOAWAY).
    public var isUsable: Bool { !closedFlag.load(ordering: .relaxed) }

    private init(socket: Socket, address: SocketAddress, options: ConnectionOptions) {
        self.address = address
        // On the width-limited pool: a process with many connections (takt-load, a gateway fleet) then
        // wakes about one thread per core instead of one per busy connection.
        queue = DispatchQueue(label: "takt.client.\(address)", target: .global(qos: .userInitiated))
        channel = FramedChannel(socket: socket, peer: address, queue: queue, expectPreface: true,
                                limits: FramedChannel.Limits(outboundHighWatermark: 8 << 20, outboundLowWatermark: 2 << 20,
                                                             maxFramePayload: options.maxFramePayload))
    }

    /// Connects, exchanges prefaces and HELLO. Errors: UNAVAILABLE (refused, unreachable, timed out,
    /// closed during handshake) or the server's GOAWAY reason.
    public static func connect(to address: SocketAddress, options: ConnectionOptions = ConnectionOptions()) async throws(RPCError) -> ClientConnection {
        let result: Result<ClientConnection, RPCError> = await withCheckedContinuation { cont in
            DispatchQueue.global().async {
                let socket: Socket
                do {
                    socket = try Socket.connect(to: address, timeoutMs: options.connectTimeoutMs)
                } catch let error as SystemError {
                    cont.resume(returning: .failure(RPCError(.unavailable, "cannot connect to \(address): \(Self.describe(error))")))
                    return
                } catch {
                    cont.resume(returning: .failure(RPCError(.unavailable, "cannot connect to \(address): \(error)")))
                    return
                }
                let c = ClientConnection(socket: socket, address: address, options: options)
                c.queue.async {
                    c.begin(options: options) { r in
                        cont.resume(returning: r.map { c })
                    }
                }
            }
        }
        return try result.get()
    }

    static func describe(_ e: SystemError) -> String {
        switch e.errno {
        case 111: return "connection refused (is taktd running and listening there?)"
        case 110: return "timed out"
        default: return "\(e)"
        }
    }

    private func begin(options: ConnectionOptions, done: @escaping @Sendable (Result<Void, RPCError>) -> Void) {
        handshake = done
        channel.start { [self] event in
            switch event {
            case .preface:
                break
            case .frame(let frame):
                receive(frame)
            case .protocolError(let e):
                channel.close(reason: "protocol error from server: \(e.message)")
            case .closed(let reason):
                connectionClosed(reason)
            }
        }
        channel.sendRaw(Preface.bytes())
        let hello = ClientHello(protocolVersion: 1, clientName: options.clientName, authToken: options.authToken,
                                maxFrameSize: UInt32(options.maxFramePayload))
        channel.send(Frame(type: .hello, payload: hello.protobufBytes()))
        queue.asyncAfter(deadline: .now() + .milliseconds(options.connectTimeoutMs)) { [self] in
            if let h = handshake {
                handshake = nil
                h(.failure(RPCError(.unavailable, "no HELLO_ACK from \(address) within \(options.connectTimeoutMs) ms")))
                channel.close(reason: "handshake timeout")
            }
        }
    }

    private func startKeepalive() {
        let interval = Int(serverHello.keepaliveIntervalMs)
        guard interval > 0 else { return }
        let timer = DispatchSource.makeTimerSource(queue: queue)
        let period = max(interval / 2, 100)
        timer.schedule(deadline: .now() + .milliseconds(period), repeating: .milliseconds(period))
        // Strong captures (here and in the deadline timer): the channel's handler already keeps the
        // connection alive until it closes, and closing cancels both timers, which releases them.
        timer.setEventHandler { [self] in
            guard !channel.isClosed else { return }
            let quiet = (System.monotonicNs() - channel.lastReadNs) / 1_000_000
            if quiet >= UInt64(period) { channel.send(Frame(type: .ping, param: UInt32(truncatingIfNeeded: quiet))) }
        }
        timer.resume()
        keepaliveTimer = timer
    }

    private func receive(_ frame: Frame) {
        defer {
            // After a GOAWAY (either side's), close once the last answer is in.
            if goawayLastCallID != nil && pending.isEmpty && handshake == nil && !channel.isClosed { channel.closeAfterWriting() }
        }
        switch frame.type {
        case .helloAck:
            guard let h = handshake else { return }
            handshake = nil
            do {
                serverHello = try ServerHello(protobuf: frame.payload)
                startKeepalive()
                h(.success(()))
            } catch {
                h(.failure(RPCError(.internal, "server sent an invalid ServerHello: \(error)")))
                channel.close(reason: "bad HELLO_ACK")
            }
        case .response:
            deadlines[frame.callID] = nil
            if case .unary(let done)? = pending.removeValue(forKey: frame.callID) { done(.success(frame.payload)) }
        case .streamMessage:
            if case .stream(let deliver)? = pending[frame.callID] { deliver(.message(frame.payload)) }
        case .status:
            deadlines[frame.callID] = nil
            guard let p = pending.removeValue(forKey: frame.callID) else { return }
            let error: RPCError?
            do {
                error = try RPCStatus(protobuf: frame.payload).error
            } catch let decodeError {
                error = RPCError(.internal, "server sent an undecodable status: \(decodeError)")
            }
            switch p {
            case .unary(let done):
                done(.failure(error ?? RPCError(.internal, "server ended a unary call with OK but no response")))
            case .stream(let deliver):
                deliver(.end(error))
            }
        case .ping:
            channel.send(Frame(type: .pong, param: frame.param))
        case .pong:
            break
        case .goaway:
            let goaway = try? Goaway(protobuf: frame.payload)
            let last = goaway?.lastCallID ?? 0
            goawayLastCallID = last
            closedFlag.store(true, ordering: .relaxed)
            let reason = goaway.map { "\($0.code.name): \($0.reason)" } ?? "server sent GOAWAY"
            // Calls above last_call_id were never processed: safe to retry elsewhere.
            for (id, p) in pending where id > last {
                pending[id] = nil
                fail(p, RPCError(.unavailable, "call not processed: \(reason)", retryAfterMs: 100))
            }
            if handshake != nil {
                let h = handshake
                handshake = nil
                let code = goaway?.code ?? .unavailable
                h?(.failure(RPCError(code == .ok ? .unavailable : code, "server refused the connection: \(reason)")))
            }
            if pending.isEmpty { channel.closeAfterWriting() }
        case .hello, .request, .cancel:
            channel.close(reason: "server sent a client-only frame type \(frame.type.rawValue)")
        }
    }

    private func fail(_ p: Pending, _ error: RPCError) {
        switch p {
        case .unary(let done): done(.failure(error))
        case .stream(let deliver): deliver(.end(error))
        }
    }

    private func connectionClosed(_ reason: String) {
        closedFlag.store(true, ordering: .relaxed)
        closedReason = reason
        keepaliveTimer?.cancel()
        keepaliveTimer = nil
        deadlineTimer?.cancel()
        deadlineTimer = nil
        deadlines.removeAll()
        if let h = handshake {
            handshake = nil
            h(.failure(RPCError(.unavailable, "connection to \(address) closed during handshake: \(reason)")))
        }
        let all = pending
        pending.removeAll()
        for (_, p) in all { fail(p, RPCError(.unavailable, "connection to \(address) closed: \(reason)", retryAfterMs: 100)) }
    }

    private func allocateCallID() -> UInt32 {
        repeat {
            nextCallID &+= 1
            if nextCallID == 0 { nextCallID = 1 }
        } while pending[nextCallID] != nil
        return nextCallID
    }

    /// Starts a unary call; `completion` runs exactly once on the connection's queue.
    /// Returns a handle that cancels the call.
    @discardableResult
    public func unary(_ method: MethodID, _ request: [UInt8], timeoutMs: Int?,
                      completion: @escaping @Sendable (Result<[UInt8], RPCError>) -> Void) -> CallHandle {
        let handle = CallHandle(connection: self)
        onQueue { [self] in
            guard closedReason == nil, goawayLastCallID == nil else {
                completion(.failure(RPCError(.unavailable, "connection to \(address) is closed", retryAfterMs: 0)))
                return
            }
            let id = allocateCallID()
            handle.callID = id
            pending[id] = .unary(completion)
            channel.send(Frame(type: .request, methodID: method.rawValue, callID: id,
                               param: UInt32(clamping: max(timeoutMs ?? 0, 0)), payload: request), deferFlush: true)
            if let t = timeoutMs, t > 0 {
                let ns = System.monotonicNs() + UInt64(t) * 1_000_000
                deadlines[id] = (ns, method, t)
                if ns < armedDeadlineNs { armDeadlineTimer(at: ns) }
            }
        }
        return handle
    }

    public func unary(_ method: MethodID, _ request: [UInt8], timeoutMs: Int?) async throws(RPCError) -> [UInt8] {
        let r: Result<[UInt8], RPCError> = await withCheckedContinuation { cont in
            unary(method, request, timeoutMs: timeoutMs) { cont.resume(returning: $0) }
        }
        return try r.get()
    }

    /// Starts a server stream; `deliver` gets each message then exactly one `.end`.
    @discardableResult
    public func serverStream(_ method: MethodID, _ request: [UInt8],
                             deliver: @escaping @Sendable (StreamPart) -> Void) -> CallHandle {
        let handle = CallHandle(connection: self)
        queue.async { [self] in
            guard closedReason == nil, goawayLastCallID == nil else {
                deliver(.end(RPCError(.unavailable, "connection to \(address) is closed")))
                return
            }
            let id = allocateCallID()
            handle.callID = id
            pending[id] = .stream(deliver)
            channel.send(Frame(type: .request, methodID: method.rawValue, callID: id, payload: request))
        }
        return handle
    }

    /// Requests queued from other threads but not yet sent: the last one to run writes for all.
    private let pendingSubmits = Atomic<Int>(0)

    /// Runs `body` on the connection's queue: at once when already there (a completion handler
    /// issuing the next call), else as one block; either way the request is written when the
    /// burst it belongs to is queued (no extra hop per call).
    private func onQueue(_ body: @escaping @Sendable () -> Void) {
        if channel.isOnQueue {
            body()
            // Inside a read handler the channel flushes after the frames; elsewhere, flush now.
            channel.flushSoon()
            return
        }
        pendingSubmits.add(1, ordering: .relaxed)
        queue.async { [self] in
            body()
            if pendingSubmits.subtract(1, ordering: .relaxed).newValue == 0 { channel.flush() }
        }
    }

    private func armDeadlineTimer(at ns: UInt64) {
        if deadlineTimer == nil {
            let t = DispatchSource.makeTimerSource(queue: queue)
            t.setEventHandler { [self] in expireDeadlines() }
            t.schedule(deadline: .distantFuture)
            t.resume()
            deadlineTimer = t
        }
        armedDeadlineNs = ns
        let now = System.monotonicNs()
        deadlineTimer?.schedule(deadline: .now() + .nanoseconds(Int(ns > now ? ns - now : 0)))
    }

    /// Fails every call whose deadline passed (sending CANCEL), then re-arms for the next one.
    private func expireDeadlines() {
        let now = System.monotonicNs()
        var next: UInt64 = .max
        for (id, d) in deadlines {
            if d.ns <= now {
                deadlines[id] = nil
                guard let p = pending.removeValue(forKey: id) else { continue }
                channel.send(Frame(type: .cancel, callID: id))
                fail(p, RPCError(.deadlineExceeded, "\(d.method.name): no answer within \(d.timeoutMs) ms"))
            } else {
                next = min(next, d.ns)
            }
        }
        armedDeadlineNs = .max
        if next != .max { armDeadlineTimer(at: next) }
        if goawayLastCallID != nil && pending.isEmpty && !channel.isClosed { channel.closeAfterWriting() }
    }

    func cancel(callID: UInt32) {
        queue.async { [self] in
            deadlines[callID] = nil
            guard let p = pending.removeValue(forKey: callID) else { return }
            channel.send(Frame(type: .cancel, callID: callID))
            fail(p, RPCError(.cancelled, "cancelled by the client"))
        }
    }

    /// Sends a GOAWAY and closes once in-flight calls are answered.
    public func close() {
        queue.async { [self] in
            closedFlag.store(true, ordering: .relaxed)
            guard !channel.isClosed else { return }
            goawayLastCallID = goawayLastCallID ?? nextCallID
            channel.send(Frame(type: .goaway, payload: Goaway(lastCallID: nextCallID, code: .ok, reason: "client closing").protobufBytes()))
            if pending.isEmpty { channel.closeAfterWriting() }
        }
    }

    /// Closes now; in-flight calls fail with UNAVAILABLE.
    public func abort() {
        queue.async { [self] in channel.close(reason: "aborted by the client") }
    }
}

/// Cancels the call it was returned for.
public final class CallHandle: @unchecked Sendable {
    // @unchecked: callID is written once on the connection queue before any cancel can be queued behind it.
    // Strong: a weak reference would give the connection a side table and send every retain and
    // release of it through the runtime's slow path. Holding a handle keeps its connection object alive.
    let connection: ClientConnection
    var callID: UInt32 = 0
    init(connection: ClientConnection) { self.connection = connection }
    public func cancel() {
        let c = connection
        c.queue.async { [self] in
            if callID != 0 { c.cancel(callID: callID) }
        }
    }
}
