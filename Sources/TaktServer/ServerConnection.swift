// The server side of one connection: preface and HELLO, call bookkeeping, keepalive,
// GOAWAY. Confined to its channel's queue.
@preconcurrency import Dispatch
import Synchronization
import TaktDomain
import TaktPosix
import TaktProto
import TaktWire

final class ServerConnection: @unchecked Sendable {
    // @unchecked: all mutable state is confined to `channel.queue`.
    enum Phase { case awaitingPreface, awaitingHello, rejected, open, goingAway, closed }

    let channel: FramedChannel
    unowned let server: RPCServer
    private var phase = Phase.awaitingPreface
    private var calls: [UInt32: ServerCall] = [:]
    private var lastCallID: UInt32 = 0
    private var clientName = ""
    private var principal: Principal?
    /// Largest payload the client accepts (its ClientHello.max_frame_size, 0 meaning ours).
    private var clientMaxFrame = 0
    private var openStreams = 0
    private let openedNs = System.monotonicNs()
    /// Stream messages refused because the peer was too far behind.
    private static let maxStreamBacklog = 512 << 10

    let shard: ConnectionShard

    init(channel: FramedChannel, server: RPCServer, shard: ConnectionShard) {
        self.channel = channel
        self.server = server
        self.shard = shard
    }

    private func record(_ method: MethodID, _ status: StatusCode) {
        shard.counts.withLock { $0[method, default: [:]][status, default: 0] += 1 }
    }

    var config: RPCServerConfiguration { server.configuration }

    func start() {
        channel.start { [self] event in
            switch event {
            case .preface:
                phase = .awaitingHello
            case .frame(let frame):
                receive(frame)
            case .protocolError(let error):
                protocolError(error.message)
            case .closed(let reason):
                closed(reason)
            }
        }
    }

    /// Accept-and-close for connections over the limit: a GOAWAY says why.
    func refuse(reason: String) {
        channel.start { [self] event in
            if case .closed = event { server.connectionClosed(self) }
        }
        channel.sendRaw(Preface.bytes())
        sendGoaway(code: .resourceExhausted, reason: reason)
        channel.closeAfterWriting()
    }

    /// Removes a call from the books: in-flight bytes and stream count.
    private func forget(_ call: ServerCall) {
        calls[call.callID] = nil
        if call.method.isServerStreaming { openStreams -= 1 }
        server.release(call.payload.count)
    }

    private func closed(_ reason: String) {
        phase = .closed
        for call in calls.values {
            forget(call)
            call.markCancelled()
        }
        server.connectionClosed(self)
        server.logger.debug("connection closed", metadata: ["peer": "\(channel.peer)", "reason": "\(reason)"])
    }

    private func sendGoaway(code: StatusCode, reason: String) {
        channel.send(Frame(type: .goaway, payload: Goaway(lastCallID: lastCallID, code: code, reason: reason).protobufBytes()))
    }

    /// A framing or protocol violation: say why, then close.
    private func protocolError(_ message: String) {
        guard phase != .closed else { return }
        server.logger.info("protocol error", metadata: ["peer": "\(channel.peer)", "error": "\(message)"])
        if phase == .awaitingPreface { channel.sendRaw(Preface.bytes()) }
        sendGoaway(code: .invalidArgument, reason: message)
        phase = .closed
        for call in calls.values {
            forget(call)
            call.markCancelled()
        }
        channel.closeAfterWriting()
    }

    /// Graceful close: no new calls, in-flight calls finish, then the connection closes.
    func goAway(code: StatusCode, reason: String) {
        guard phase == .open || phase == .awaitingHello || phase == .awaitingPreface else { return }
        if phase == .awaitingPreface { channel.sendRaw(Preface.bytes()) }
        sendGoaway(code: code, reason: reason)
        phase = .goingAway
        if calls.isEmpty { channel.closeAfterWriting() }
    }

    private func receive(_ frame: Frame) {
        switch phase {
        case .awaitingPreface, .closed, .rejected:
            return
        case .awaitingHello:
            guard frame.type == .hello else {
                protocolError("expected a HELLO frame after the preface, got frame type \(frame.type.rawValue)")
                return
            }
            let hello: ClientHello
            do {
                hello = try ClientHello(protobuf: frame.payload)
            } catch {
                protocolError("HELLO payload is not a valid ClientHello: \(error)")
                return
            }
            if hello.protocolVersion != 1 {
                protocolError("unsupported protocol_version \(hello.protocolVersion) in HELLO; this server speaks 1")
                return
            }
            clientName = String(hello.clientName.prefix(128))
            clientMaxFrame = hello.maxFrameSize == 0 ? config.maxFramePayload : Int(hello.maxFrameSize)
            if let auth = config.authenticator {
                switch auth.authenticate(hello.authToken) {
                case .success(let p):
                    principal = p
                case .failure(let error):
                    rejectAuthentication(error)
                    return
                }
            } else {
                principal = .anonymous(limiter: config.rateLimit.map {
                    TokenBucket(ratePerSecond: $0, burst: config.rateBurst ?? $0)
                })
            }
            let reply = ServerHello(
                protocolVersion: 1, serverName: config.serverName, maxFrameSize: UInt32(config.maxFramePayload),
                maxInFlightCalls: UInt32(config.maxInFlightCalls), keepaliveIntervalMs: UInt32(config.keepaliveIntervalMs),
                idleTimeoutMs: UInt32(config.idleTimeoutMs), compression: [], maxBatchEvents: UInt32(config.maxBatchEvents))
            channel.sendRaw(Preface.bytes())
            channel.send(Frame(type: .helloAck, payload: reply.protobufBytes()))
            phase = .open
        case .open, .goingAway:
            receiveOpen(frame)
        }
    }

    /// Wrong or missing token: say so after a short delay (slowing down guessing), then close.
    /// The token itself is never logged.
    private func rejectAuthentication(_ error: RPCError) {
        phase = .rejected
        server.logger.warning("authentication failed", metadata: [
            "peer": "\(channel.peer)", "client": "\(clientName)", "reason": "\(error.message)",
            "failures_total": "\(config.authenticator?.failures.load(ordering: .relaxed) ?? 0)",
        ])
        channel.queue.asyncAfter(deadline: .now() + .milliseconds(config.authFailureDelayMs)) { [self] in
            guard !channel.isClosed else { return }
            channel.sendRaw(Preface.bytes())
            sendGoaway(code: .unauthenticated, reason: error.message)
            channel.closeAfterWriting()
        }
    }

    private func receiveOpen(_ frame: Frame) {
        switch frame.type {
        case .request:
            startCall(frame)
        case .cancel:
            if let call = calls[frame.callID] {
                forget(call)
                call.markCancelled()
                record(call.method, .cancelled)
                if phase == .goingAway && calls.isEmpty { channel.closeAfterWriting() }
            }
        case .ping:
            channel.send(Frame(type: .pong, param: frame.param))
        case .pong:
            break
        case .goaway:
            // The client is leaving: finish what is in flight, then close.
            phase = .goingAway
            if calls.isEmpty { channel.closeAfterWriting() }
        case .hello:
            protocolError("HELLO sent twice on one connection")
        case .helloAck, .response, .streamMessage, .status:
            protocolError("frame type \(frame.type.rawValue) is sent by servers only")
        }
    }

    private func startCall(_ frame: Frame) {
        let id = frame.callID
        if phase == .goingAway {
            sendStatus(id, RPCError(.unavailable, "server is shutting down; retry on a new connection", retryAfterMs: 1000))
            return
        }
        if id == 0 {
            protocolError("call id 0 is reserved for connection-level frames")
            return
        }
        if calls[id] != nil {
            protocolError("call id \(id) is already in flight on this connection")
            return
        }
        guard let method = MethodID(rawValue: frame.methodID) else {
            sendStatus(id, RPCError(.unimplemented, "unknown method id \(frame.methodID)"))
            return
        }
        if calls.count >= config.maxInFlightCalls {
            record(method, .resourceExhausted)
            sendStatus(id, RPCError(.resourceExhausted,
                                    "too many calls in flight on this connection (max_in_flight_calls \(config.maxInFlightCalls))",
                                    retryAfterMs: 50))
            return
        }
        if method.isServerStreaming && openStreams >= config.maxStreamsPerConnection {
            record(method, .resourceExhausted)
            sendStatus(id, RPCError(.resourceExhausted,
                                    "too many streams open on this connection (max_streams_per_connection \(config.maxStreamsPerConnection))"))
            return
        }
        guard let principal else { return }
        lastCallID = max(lastCallID, id)
        let deadline = frame.param == 0 ? nil : System.monotonicNs() + UInt64(frame.param) * 1_000_000
        let call = ServerCall(method: method, callID: id, payload: frame.payload, deadlineNs: deadline,
                              peer: channel.peer, principal: principal, connection: self)
        calls[id] = call
        if method.isServerStreaming { openStreams += 1 }
        if server.reserve(frame.payload.count, for: self) { channel.setReadingPaused(true) }
        server.handler.handle(call)
    }

    private func sendStatus(_ callID: UInt32, _ error: RPCError) {
        channel.send(Frame(type: .status, callID: callID, payload: RPCStatus(error).protobufBytes()))
    }

    /// From any thread: the call's last frame.
    func finish(_ call: ServerCall, frame: Frame, status: StatusCode) {
        if channel.isOnQueue {
            // Answered while its request is being handled: the read handler flushes afterwards.
            complete(call, frame: frame, status: status)
            return
        }
        shard.post(ConnectionShard.Completion(connection: self, call: call, frame: frame, status: status))
    }

    /// On the queue: sends the call's last frame (the caller flushes).
    func complete(_ call: ServerCall, frame: Frame, status: StatusCode) {
        guard calls[call.callID] === call else { return }  // cancelled or connection gone
        forget(call)
        if frame.payload.count > clientMaxFrame {
            // The client could not read it: a clean status instead of a broken connection.
            let error = RPCError(.resourceExhausted,
                "response of \(frame.payload.count) bytes exceeds the client's max_frame_size \(clientMaxFrame); narrow the query or page it")
            record(call.method, error.code)
            channel.send(Frame(type: .status, callID: call.callID, payload: RPCStatus(error).protobufBytes()), deferFlush: true)
        } else {
            record(call.method, status)
            channel.send(frame, deferFlush: true)
        }
        if phase == .goingAway && calls.isEmpty { channel.closeAfterWriting() }
    }

    /// From any thread: one stream message, unless the peer is too far behind.
    func sendStreamMessage(_ call: ServerCall, weight: UInt64, _ encode: @escaping @Sendable (UInt64) -> [UInt8]) {
        channel.queue.async { [self] in
            guard calls[call.callID] === call else { return }
            if channel.outboundBacklog >= Self.maxStreamBacklog {
                call.droppedSinceLastMessage += weight
                return
            }
            let payload = encode(call.droppedSinceLastMessage)
            if payload.count > clientMaxFrame {
                call.droppedSinceLastMessage += weight
                return
            }
            call.droppedSinceLastMessage = 0
            channel.send(Frame(type: .streamMessage, callID: call.callID, payload: payload))
        }
    }

    /// Called every 500 ms: hello timeout, keepalive, idle and slow-reader limits.
    func checkTimers(nowNs: UInt64) {
        guard phase != .closed, !channel.isClosed else { return }
        let ms: (UInt64) -> UInt64 = { nowNs > $0 ? (nowNs - $0) / 1_000_000 : 0 }
        if phase == .awaitingPreface || phase == .awaitingHello {
            if ms(openedNs) > UInt64(config.helloTimeoutMs) {
                goAway(code: .unavailable, reason: "no preface and HELLO within \(config.helloTimeoutMs) ms")
                channel.close(reason: "hello timeout")
            }
            return
        }
        let silent = ms(channel.lastReadNs)
        if config.keepaliveIntervalMs > 0 && silent > UInt64(2 * config.keepaliveIntervalMs) {
            sendGoaway(code: .unavailable, reason: "keepalive: nothing received for \(silent) ms (interval \(config.keepaliveIntervalMs) ms)")
            channel.closeAfterWriting()
            return
        }
        if config.idleTimeoutMs > 0 && calls.isEmpty && silent > UInt64(config.idleTimeoutMs) {
            sendGoaway(code: .unavailable, reason: "idle for \(silent) ms (idle_timeout \(config.idleTimeoutMs) ms)")
            channel.closeAfterWriting()
            return
        }
        if channel.outboundBacklog > config.maxOutboundBytes
            || (channel.outboundBacklog > 0 && ms(channel.lastWriteProgressNs) > UInt64(config.slowReaderTimeoutMs)) {
            server.logger.info("closing slow reader", metadata: ["peer": "\(channel.peer)", "backlog": "\(channel.outboundBacklog)"])
            channel.abort(reason: "slow reader: replies not read")
        }
    }
}
