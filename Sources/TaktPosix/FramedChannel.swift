// A non-blocking TCP connection moved by one read and one write DispatchSource, speaking
// TaktWire frames. All state is confined to `queue`; every method below must run on it.
@preconcurrency import Dispatch
import Glibc
import TaktWire

/// What a channel tells its owner. Always delivered on the channel's queue.
public enum ChannelEvent {
    /// The peer's 8-byte preface was valid (only when the channel expects one).
    case preface(version: UInt16)
    case frame(Frame)
    /// The peer broke the framing rules; the owner should say why (GOAWAY) and close.
    case protocolError(FrameError)
    /// The channel is closed (peer EOF, I/O error, or `close`); delivered exactly once.
    case closed(reason: String)
}

public final class FramedChannel: @unchecked Sendable {
    // @unchecked: every mutable field is only touched on `queue` (checked in debug builds).

    public struct Limits: Sendable {
        /// Stop reading while more than this many bytes wait to be written (slow reader backpressure).
        public var outboundHighWatermark: Int
        /// Resume reading once the backlog drops below this.
        public var outboundLowWatermark: Int
        public var maxFramePayload: Int
        public init(outboundHighWatermark: Int = 1 << 20, outboundLowWatermark: Int = 256 << 10,
                    maxFramePayload: Int = 4 << 20) {
            self.outboundHighWatermark = outboundHighWatermark
            self.outboundLowWatermark = outboundLowWatermark
            self.maxFramePayload = maxFramePayload
        }
    }

    public let queue: DispatchQueue
    /// Marks `queue` so code can tell it already runs there (and skip a hop).
    private static let queueKey = DispatchSpecificKey<Int>()
    private let queueTag: Int
    public let peer: SocketAddress
    public let limits: Limits
    private let fd: Int32
    private let readSource: any DispatchSourceRead
    private let writeSource: any DispatchSourceWrite
    private var readRunning = false
    private var writeRunning = false
    private var decoder: FrameDecoder
    private var expectPreface: Bool
    private var outbound: [UInt8] = []
    private var outboundStart = 0
    private var flushScheduled = false
    private var readingPausedByOwner = false
    private var closeAfterFlush = false
    private var pendingCancels = 2
    public private(set) var isClosed = false
    private var handler: ((ChannelEvent) -> Void)?

    /// Monotonic ns of the last byte received / the last write progress (for keepalive and slow-reader checks).
    public private(set) var lastReadNs: UInt64
    public private(set) var lastWriteProgressNs: UInt64
    public private(set) var bytesReceived: UInt64 = 0
    public private(set) var bytesSent: UInt64 = 0

    /// Takes ownership of the connected socket's descriptor; it is closed in the sources' cancel handlers.
    public init(socket: Socket, peer: SocketAddress, queue: DispatchQueue, expectPreface: Bool, limits: Limits = Limits()) {
        let fd = socket.takeDescriptor()
        self.fd = fd
        self.peer = peer
        self.queue = queue
        self.limits = limits
        self.expectPreface = expectPreface
        self.decoder = FrameDecoder(maxPayloadSize: limits.maxFramePayload)
        queueTag = ObjectIdentifier(queue).hashValue
        queue.setSpecific(key: Self.queueKey, value: queueTag)
        self.readSource = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        self.writeSource = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: queue)
        let now = System.monotonicNs()
        lastReadNs = now
        lastWriteProgressNs = now
    }

    /// Starts reading. `handler` receives every event on `queue` until `.closed`.
    public func start(_ handler: @escaping (ChannelEvent) -> Void) {
        dispatchPrecondition(condition: .onQueue(queue))
        self.handler = handler
        let cancelled: @Sendable () -> Void = { [self] in
            pendingCancels -= 1
            if pendingCancels == 0 { System.close(fd) }
        }
        readSource.setEventHandler { [unowned self] in self.readAvailable() }
        readSource.setCancelHandler(handler: cancelled)
        writeSource.setEventHandler { [unowned self] in self.flushNow() }
        writeSource.setCancelHandler(handler: cancelled)
        readSource.resume()
        readRunning = true
    }

    /// True when the caller runs on this channel's queue.
    public var isOnQueue: Bool { DispatchQueue.getSpecific(key: Self.queueKey) == queueTag }

    /// Bytes queued for the peer and not yet written.
    public var outboundBacklog: Int { outbound.count - outboundStart }

    /// Queues a frame; writes are coalesced and happen after the current queue work item.
    /// With `deferFlush` the caller promises to call `flush()` itself (saves a queue hop when it
    /// knows it is sending the last frame of a burst).
    public func send(_ frame: Frame, deferFlush: Bool = false) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard !isClosed else { return }
        frame.encode(into: &outbound)
        if !deferFlush { scheduleFlush() }
    }

    /// Makes sure queued bytes are written after the current work item (coalescing what it queues).
    public func flushSoon() {
        dispatchPrecondition(condition: .onQueue(queue))
        if !isClosed && outboundBacklog > 0 && !inReadHandler { scheduleFlush() }
    }

    /// Writes what is queued now (unless the socket is known to be full; the write source then does it).
    public func flush() {
        dispatchPrecondition(condition: .onQueue(queue))
        guard !isClosed, !writeRunning, outboundBacklog > 0 else { return }
        flushNow()
    }

    /// Queues raw bytes (the preface).
    public func sendRaw(_ bytes: [UInt8]) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard !isClosed else { return }
        outbound.append(contentsOf: bytes)
        scheduleFlush()
    }

    /// Stops (or resumes) reading for reasons of the owner (e.g. a global memory budget).
    public func setReadingPaused(_ paused: Bool) {
        dispatchPrecondition(condition: .onQueue(queue))
        readingPausedByOwner = paused
        updateReadState()
    }

    /// Stops reading, writes what is queued, then closes.
    public func closeAfterWriting() {
        dispatchPrecondition(condition: .onQueue(queue))
        guard !isClosed else { return }
        closeAfterFlush = true
        updateReadState()
        if outboundBacklog == 0 { close(reason: "closed") } else { scheduleFlush() }
    }

    /// Closes with a reset (SO_LINGER 0): for a peer that stopped reading, whose unsent bytes would
    /// otherwise hold the FIN (and kernel memory) back indefinitely.
    public func abort(reason: String) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard !isClosed else { return }
        var l = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        close(reason: reason, abortive: true)
    }

    /// Closes now; queued bytes are dropped.
    public func close(reason: String) {
        close(reason: reason, abortive: false)
    }

    private func close(reason: String, abortive: Bool) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard !isClosed else { return }
        isClosed = true
        if handler == nil {
            // Never started: the sources were never resumed; activate them so the cancel handlers run.
            let cancelled: @Sendable () -> Void = { [self] in
                pendingCancels -= 1
                if pendingCancels == 0 { System.close(fd) }
            }
            readSource.setCancelHandler(handler: cancelled)
            writeSource.setCancelHandler(handler: cancelled)
        }
        if !abortive { _ = shutdown(fd, Int32(SHUT_RDWR)) }
        if !readRunning { readSource.resume(); readRunning = true }
        if !writeRunning { writeSource.resume(); writeRunning = true }
        readSource.cancel()
        writeSource.cancel()
        outbound = []
        outboundStart = 0
        let h = handler
        handler = nil
        h?(.closed(reason: reason))
    }

    // MARK: - Reading

    /// Set while frames are being delivered: the read handler flushes once after them.
    private var inReadHandler = false

    private func readAvailable() {
        guard !isClosed else { return }
        inReadHandler = true
        defer { inReadHandler = false }
        var reads = 0
        var sawEOF = false
        ThreadReadBuffer.withBuffer { buffer in
            // Bounded per event so one busy peer cannot monopolise a thread; the source fires again.
            while reads < 4 {
                reads += 1
                do {
                    switch try System.read(fd, into: buffer) {
                    case .processed(let n):
                        bytesReceived += UInt64(n)
                        decoder.append(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                        if n < buffer.count { return }
                    case .wouldBlock:
                        return
                    case .endOfFile:
                        sawEOF = true
                        return
                    }
                } catch {
                    sawEOF = true
                    return
                }
            }
        }
        lastReadNs = System.monotonicNs()
        deliverFrames()
        // Answers produced while handling these frames go out in one write, without another hop.
        if !isClosed && !writeRunning && outboundBacklog > 0 { flushNow() }
        if sawEOF && !isClosed {
            close(reason: decoder.bufferedByteCount > 0 ? "peer closed the connection mid-frame" : "peer closed the connection")
        }
    }

    private func deliverFrames() {
        if expectPreface {
            switch Preface.check(decoder.peekRaw(Preface.size)) {
            case .needMoreBytes:
                return
            case .invalid(let why):
                handler?(.protocolError(FrameError(.badPreface, why)))
                return
            case .valid(let version):
                _ = decoder.takeRaw(Preface.size)
                expectPreface = false
                handler?(.preface(version: version))
            }
        }
        while !isClosed && !closeAfterFlush {
            do {
                guard let frame = try decoder.next() else { return }
                handler?(.frame(frame))
            } catch {
                handler?(.protocolError(error))
                return
            }
        }
    }

    private func updateReadState() {
        guard !isClosed else { return }
        let shouldRead = !readingPausedByOwner && !closeAfterFlush
            && outboundBacklog < (readRunning ? limits.outboundHighWatermark : limits.outboundLowWatermark)
        if shouldRead && !readRunning {
            readSource.resume()
            readRunning = true
        } else if !shouldRead && readRunning {
            readSource.suspend()
            readRunning = false
        }
    }

    // MARK: - Writing

    private func scheduleFlush() {
        guard !flushScheduled, !writeRunning else { return }
        flushScheduled = true
        queue.async { [self] in
            flushScheduled = false
            flushNow()
        }
    }

    private func flushNow() {
        guard !isClosed else { return }
        while outboundStart < outbound.count {
            let result: IOResult
            do {
                result = try outbound.withUnsafeBytes { (p) throws(SystemError) -> IOResult in
                    try System.send(fd, UnsafeRawBufferPointer(rebasing: p[outboundStart...]))
                }
            } catch {
                close(reason: "write failed: \(error)")
                return
            }
            switch result {
            case .processed(let n):
                outboundStart += n
                bytesSent += UInt64(n)
                lastWriteProgressNs = System.monotonicNs()
            case .wouldBlock, .endOfFile:
                if !writeRunning {
                    writeSource.resume()
                    writeRunning = true
                }
                updateReadState()
                return
            }
        }
        // Drained.
        if outbound.capacity > 1 << 20 { outbound = [] } else { outbound.removeAll(keepingCapacity: true) }
        outboundStart = 0
        if writeRunning {
            writeSource.suspend()
            writeRunning = false
        }
        if closeAfterFlush {
            close(reason: "closed")
            return
        }
        updateReadState()
    }
}

/// One 64 KiB read buffer per thread, kept for the thread's life. `withUnsafeTemporaryAllocation` of
/// that size is a heap allocation (posix_memalign) per read event, and a request that large makes
/// glibc consolidate its fast bins: 2-3 % of taktd under single-event load. Per connection it would
/// cost 64 KiB × 10,000 gateways; Dispatch runs the connection queues on a handful of threads.
enum ThreadReadBuffer {
    static let size = 64 * 1024
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { free($0) }
        precondition(status == 0, "pthread_key_create failed: \(status)")
        return key
    }()

    /// `body` must not start another read on this thread (it only copies the bytes out).
    static func withBuffer<R>(_ body: (UnsafeMutableRawBufferPointer) -> R) -> R {
        var p = pthread_getspecific(key)
        if p == nil {
            guard let fresh = malloc(size) else { fatalError("out of memory allocating a \(size)-byte read buffer") }
            p = fresh
            pthread_setspecific(key, fresh)
        }
        return body(UnsafeMutableRawBufferPointer(start: p, count: size))
    }
}
