// docs/PROTOCOL.md against a real taktd over real sockets: pipelining, deadlines, cancel,
// GOAWAY on shutdown, and hostile peers (while a well-behaved client keeps being served).
import Foundation
import Glibc
import Testing
import TaktClient
import TaktDomain
import TaktPosix
import TaktProto
import TaktWire

/// A raw, blocking-with-timeout peer for speaking (and breaking) the protocol by hand.
final class RawPeer {
    let fd: Int32
    var decoder = FrameDecoder(maxPayloadSize: 64 << 20)
    var gotPreface = false

    init(port: UInt16) throws {
        let s = try Socket.connect(to: SocketAddress(host: "127.0.0.1", port: port), timeoutMs: 5_000)
        fd = s.takeDescriptor()
    }
    deinit { System.close(fd) }

    func send(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { off += n; continue }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0); _ = poll(&p, 1, 100); continue }
            return
        }
    }

    func handshake() throws {
        send(Preface.bytes())
        send(Frame(type: .hello, payload: ClientHello(clientName: "raw").protobufBytes()).encoded())
        guard let f = try next(timeoutMs: 5_000), f.type == .helloAck else { throw HarnessError(description: "no HELLO_ACK") }
    }

    /// Reads until one frame is available, EOF, or timeout. nil on EOF/timeout.
    func next(timeoutMs: Int) throws -> Frame? {
        let deadline = System.monotonicNs() + UInt64(timeoutMs) * 1_000_000
        while true {
            if !gotPreface, let p = decoder.takeRaw(Preface.size) {
                #expect(Preface.check(p) == .valid(version: 1))
                gotPreface = true
            }
            if gotPreface, let f = try decoder.next() { return f }
            let now = System.monotonicNs()
            if now >= deadline { return nil }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, Int32((deadline - now) / 1_000_000) + 1)
            if r <= 0 { continue }
            var buf = [UInt8](repeating: 0, count: 65536)
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 {
                if n < 0 && (errno == EAGAIN || errno == EINTR) { continue }
                return nil
            }
            decoder.append(Array(buf[0..<n]))
        }
    }

    /// True when the server closed the connection within the timeout.
    func isClosedByServer(timeoutMs: Int) -> Bool {
        let deadline = System.monotonicNs() + UInt64(timeoutMs) * 1_000_000
        while System.monotonicNs() < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 50) > 0 {
                var buf = [UInt8](repeating: 0, count: 65536)
                let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) { return true }
            }
        }
        return false
    }

    /// True when the server hung up within the timeout, found without reading (so a peer that
    /// "never reads" stays that way while we wait).
    func hungUpWithoutReading(timeoutMs: Int) -> Bool {
        let deadline = System.monotonicNs() + UInt64(timeoutMs) * 1_000_000
        while System.monotonicNs() < deadline {
            var p = pollfd(fd: fd, events: Int16(0x2000 /* POLLRDHUP */), revents: 0)
            if poll(&p, 1, 50) > 0 && p.revents & Int16(0x2000 | POLLHUP | POLLERR) != 0 { return true }
        }
        return false
    }

    func goaway(timeoutMs: Int = 5_000) throws -> Goaway? {
        while let f = try next(timeoutMs: timeoutMs) {
            if f.type == .goaway { return try Goaway(protobuf: f.payload) }
        }
        return nil
    }
}

func request(_ method: MethodID, _ id: UInt32, _ payload: [UInt8], timeoutMs: UInt32 = 0) -> [UInt8] {
    Frame(type: .request, methodID: method.rawValue, callID: id, param: timeoutMs, payload: payload).encoded()
}

func sampleEvent(_ i: Int, worker: String = "W1", at base: Int64 = 1_764_000_000_000) -> Event {
    Event(eventTimeMs: base + Int64(i) * 1_000, workerID: worker, workstationID: "S1",
          kind: i % 3 == 0 ? .productCount : (i % 2 == 0 ? .working : .idle), confidence: 0.9, count: 1)
}

/// The well-behaved client still gets answers.
func assertServes(_ server: TaktdProcess) async throws {
    let c = try server.client(retry: .none)
    defer { c.close() }
    #expect(try await c.health() == .serving)
}

@Suite(.serialized) struct ProtocolTests {
    @Test func pipelinedCallsOnOneConnectionRepliesMatchedByCallID() async throws {
        let server = try TaktdProcess()
        defer { server.stop() }
        let c = try server.client()
        defer { c.close() }
        let conn = try await c.connection()
        // 200 calls of mixed kinds in flight at once on one connection.
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<200 {
                group.addTask {
                    if i % 2 == 0 {
                        let b = try await conn.unary(.submitBatch, EventBatch(events: (0..<10).map { sampleEvent(i * 10 + $0) }).protobufBytes(), timeoutMs: 30_000)
                        return try BatchAck(protobuf: b).codes.count == 10
                    } else {
                        let b = try await conn.unary(.healthCheck, HealthCheckRequest(service: "").protobufBytes(), timeoutMs: 30_000)
                        return try ServingStatus(protobuf: b) == .serving
                    }
                }
            }
            for try await ok in group { #expect(ok) }
        }
        #expect(try await c.stats().eventsStored == 1_000)
    }

    @Test func repliesArriveOutOfOrder() async throws {
        let server = try TaktdProcess()
        defer { server.stop() }
        let peer = try RawPeer(port: server.port)
        try peer.handshake()
        // Call 1 is a stream that stays open; call 2 (health) is answered while 1 is in flight.
        peer.send(request(.subscribe, 1, SubscribeRequest().protobufBytes()))
        peer.send(request(.healthCheck, 2, HealthCheckRequest(service: "").protobufBytes()))
        let f = try #require(try peer.next(timeoutMs: 5_000))
        #expect(f.type == .response && f.callID == 2)
        // An event reaches the open stream 1 afterwards.
        let c = try server.client()
        defer { c.close() }
        _ = try await c.submit(sampleEvent(1))
        let s = try #require(try peer.next(timeoutMs: 5_000))
        #expect(s.type == .streamMessage && s.callID == 1)
        #expect(try SubscriptionUpdate(protobuf: s.payload).events.count == 1)
    }

    @Test func deadlineExpiresWhileServerIsStalled() async throws {
        let server = try TaktdProcess()
        defer { kill(server.process.processIdentifier, SIGCONT); server.stop() }
        let c = try server.client(retry: .none)
        defer { c.close() }
        #expect(try await c.health() == .serving)
        kill(server.process.processIdentifier, SIGSTOP)
        let error = await #expect(throws: RPCError.self) {
            try await c.metrics(MetricsQuery(scope: .factory), timeoutMs: 300)
        }
        #expect(error?.code == .deadlineExceeded)
        kill(server.process.processIdentifier, SIGCONT)
        #expect(try await c.health() == .serving)
    }

    @Test func cancelEndsASubscription() async throws {
        let server = try TaktdProcess()
        defer { server.stop() }
        let c = try server.client()
        defer { c.close() }
        let stream = try await c.subscribe(EventFilter())
        let consumer = Task { () -> Int in
            var n = 0
            do { for try await u in stream { n += u.events.count } } catch {}
            return n
        }
        var subscribed = false
        for _ in 0..<100 where !subscribed {
            subscribed = try await c.stats().subscribers == 1
            if !subscribed { try await Task.sleep(nanoseconds: 20_000_000) }
        }
        #expect(subscribed)
        consumer.cancel()
        _ = await consumer.value
        var gone = false
        for _ in 0..<100 where !gone {
            gone = try await c.stats().subscribers == 0
            if !gone { try await Task.sleep(nanoseconds: 20_000_000) }
        }
        #expect(gone, "server still holds the cancelled subscription")
    }

    @Test func goawayOnShutdownLosesNothingInFlight() async throws {
        let dir = TempDir()
        let server = try TaktdProcess(dataDir: dir.path)
        let c = try server.client(retry: .none)
        let conn = try await c.connection()
        let accepted = LockedCounter()
        let failedUnavailable = LockedCounter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<100 {
                group.addTask {
                    do {
                        let b = try await conn.unary(.submitBatch,
                            EventBatch(events: (0..<100).map { sampleEvent(i * 100 + $0, worker: "W\(i % 7)") }).protobufBytes(),
                            timeoutMs: 30_000)
                        accepted.add(try BatchAck(protobuf: b).count(.accepted))
                    } catch let e as RPCError {
                        #expect(e.code == .unavailable, "\(e)")
                        failedUnavailable.add(1)
                    }
                }
                if i == 50 { group.addTask { _ = server.stop() } }
            }
            try await group.waitForAll()
        }
        #expect(server.output.contains("shutting down"))
        #expect(server.process.terminationStatus == 0)
        // Restart on the same data: exactly the acknowledged events are there.
        let again = try TaktdProcess(dataDir: dir.path)
        defer { again.stop() }
        let c2 = try again.client()
        defer { c2.close() }
        #expect(try await c2.stats().eventsStored == UInt64(accepted.value))
        #expect(accepted.value + failedUnavailable.value * 100 == 10_000 || accepted.value <= 10_000)
    }

    // MARK: Hostile peers

    @Test func randomBytesGetGoawayAndClose() async throws {
        let server = try TaktdProcess()
        defer { server.stop() }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let peer = try RawPeer(port: server.port)
            peer.send((0..<Int.random(in: 1...4096, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
            #expect(peer.isClosedByServer(timeoutMs: 12_000))
        }
        try await assertServes(server)
    }

    @Test func wrongPrefaceIsNamed() async throws {
        let server = try TaktdProcess()
        defer { server.stop() }
        let peer = try RawPeer(port: server.port)
        peer.send(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        let g = try #require(try peer.goaway())
        #expect(g.code == .invalidArgument)
        #expect(g.reason.contains("preface"))
        #expect(peer.isClosedByServer(timeoutMs: 5_000))
        try await assertServes(server)
    }

    @Test func oversizeLengthRefusedWithoutAllocating() async throws {
        let server = try TaktdProcess()
        defer { server.stop() }
        let before = rssKiB(server.process.processIdentifier)
        for _ in 0..<20 {
            let peer = try RawPeer(port: server.port)
            try peer.handshake()
            // Claims 1 GiB; sends only the header.
            peer.send([0x40, 0, 0, 0, 3, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0])
            let g = try #require(try peer.goaway())
            #expect(g.code == .invalidArgument)
            #expect(g.reason.contains("exceeds the limit"))
        }
        let after = rssKiB(server.process.processIdentifier)
        #expect(after - before < 64 * 1024, "RSS grew from \(before) KiB to \(after) KiB")
        try await assertServes(server)
    }

    @Test func truncatedFrameThenClose() async throws {
        let server = try TaktdProcess()
        defer { server.stop() }
        for _ in 0..<10 {
            let peer = try RawPeer(port: server.port)
            try peer.handshake()
            let full = request(.submitBatch, 1, EventBatch(events: [sampleEvent(1)]).protobufBytes())
            peer.send(Array(full.prefix(full.count / 2)))
        }
        try await assertServes(server)
        let c = try server.client()
        defer { c.close() }
        #expect(try await c.stats().eventsStored == 0)
    }

    @Test func unknownMethodAndUndecodablePayloadKeepTheConnection() async throws {
        let server = try TaktdProcess()
        defer { server.stop() }
        let peer = try RawPeer(port: server.port)
        try peer.handshake()
        peer.send(request(MethodID.healthCheck, 1, [], timeoutMs: 0).enumerated().map { $0.offset == 7 ? 99 : $0.element })
        let f1 = try #require(try peer.next(timeoutMs: 5_000))
        #expect(f1.type == .status && f1.callID == 1)
        let s1 = try RPCStatus(protobuf: f1.payload)
        #expect(s1.code == .unimplemented && s1.message.contains("99"))
        peer.send(request(.submitBatch, 2, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]))
        let f2 = try #require(try peer.next(timeoutMs: 5_000))
        #expect(f2.type == .status && f2.callID == 2)
        let s2 = try RPCStatus(protobuf: f2.payload)
        #expect(s2.code == .invalidArgument && s2.message.contains("Batch"))
        peer.send(request(.healthCheck, 3, HealthCheckRequest(service: "").protobufBytes()))
        let f3 = try #require(try peer.next(timeoutMs: 5_000))
        #expect(f3.type == .response && f3.callID == 3)
    }

    @Test func tooManyCallsInFlightGetResourceExhausted() async throws {
        let server = try TaktdProcess(arguments: ["--max-in-flight", "4"])
        defer { server.stop() }
        let peer = try RawPeer(port: server.port)
        try peer.handshake()
        // Four open streams fill the limit; the fifth call is refused with a retry delay.
        for id in UInt32(1)...4 { peer.send(request(.subscribe, id, SubscribeRequest().protobufBytes())) }
        peer.send(request(.healthCheck, 5, HealthCheckRequest(service: "").protobufBytes()))
        let f = try #require(try peer.next(timeoutMs: 5_000))
        #expect(f.callID == 5 && f.type == .status)
        let s = try RPCStatus(protobuf: f.payload)
        #expect(s.code == .resourceExhausted && s.retryAfterMs > 0)
    }

    @Test func peerThatNeverReadsDoesNotBlockOthers() async throws {
        let server = try TaktdProcess(arguments: ["--slow-reader-ms", "2000"])
        defer { server.stop() }
        let peer = try RawPeer(port: server.port)
        try peer.handshake()
        // Shrink our receive buffer and flood requests whose replies we never read.
        var small: Int32 = 4096
        setsockopt(peer.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        let listReq = ListEventsRequest(pageSize: 10_000).protobufBytes()
        let c = try server.client()
        defer { c.close() }
        _ = try await c.submit(EventBatch(events: (0..<2_000).map { sampleEvent($0) }))
        // ~1000 × 80 KB of replies: far more than the kernel's socket buffers can absorb.
        for id in UInt32(1)...1000 { peer.send(request(.listEvents, id, listReq)) }
        // Others are still served promptly, and the stuck peer is eventually cut off.
        try await assertServes(server)
        #expect(try await c.stats().eventsStored == 2_000)
        #expect(peer.hungUpWithoutReading(timeoutMs: 15_000))
        try await assertServes(server)
    }

    @Test func manySilentConnectionsAreClosedAndOthersServed() async throws {
        let server = try TaktdProcess(arguments: ["--hello-timeout-ms", "1000"])
        defer { server.stop() }
        var peers: [RawPeer] = []
        for _ in 0..<300 { peers.append(try RawPeer(port: server.port)) }
        try await assertServes(server)
        var closed = 0
        for p in peers where p.isClosedByServer(timeoutMs: 8_000) { closed += 1 }
        #expect(closed == peers.count)
        try await assertServes(server)
    }

    @Test func clientOnlyFramesFromTheServerSideAreRejected() async throws {
        let server = try TaktdProcess()
        defer { server.stop() }
        let peer = try RawPeer(port: server.port)
        try peer.handshake()
        peer.send(Frame(type: .response, callID: 1).encoded())
        let g = try #require(try peer.goaway())
        #expect(g.code == .invalidArgument && g.reason.contains("servers only"))
    }

    @Test func pingIsAnsweredWithPong() async throws {
        let server = try TaktdProcess()
        defer { server.stop() }
        let peer = try RawPeer(port: server.port)
        try peer.handshake()
        peer.send(Frame(type: .ping, param: 12345).encoded())
        let f = try #require(try peer.next(timeoutMs: 5_000))
        #expect(f.type == .pong && f.param == 12345)
    }

    @Test func keepaliveClosesSilentConnections() async throws {
        let server = try TaktdProcess(arguments: ["--keepalive-ms", "500"])
        defer { server.stop() }
        let peer = try RawPeer(port: server.port)
        try peer.handshake()
        let g = try #require(try peer.goaway(timeoutMs: 5_000))
        #expect(g.code == .unavailable && g.reason.contains("keepalive"))
        // The Swift client pings on its own and survives the same interval.
        let c = try server.client()
        defer { c.close() }
        #expect(try await c.health() == .serving)
        try await Task.sleep(nanoseconds: 1_500_000_000)
        let conn = try await c.connection()
        #expect(conn.isUsable)
        #expect(try await c.health() == .serving)
    }
}

final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add(_ k: Int) { lock.lock(); n += k; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}

func rssKiB(_ pid: Int32) -> Int {
    guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }
    return 0
}
