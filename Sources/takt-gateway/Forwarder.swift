// Sends the spool to taktd: batches of up to --batch-size events (or whatever waited --max-delay-ms),
// several SubmitBatch calls in flight on one connection, each event keyed (gateway id, sequence).
// An event leaves the spool only with the server's answer for it (docs/GATEWAY.md, "Delivery").
//
// Every mutable field is confined to `queue`. Events taken for sending are tracked as sequence
// ranges: a range whose call failed goes back to `retry` and is read again from the spool when it
// is resent, so events dropped or settled meanwhile are not sent again.
@preconcurrency import Dispatch
import Logging
import Synchronization
import TaktClient
import TaktDomain
import TaktPosix
import TaktProto
import TaktSync

struct ForwarderOptions: Sendable {
    var address: SocketAddress
    var connection = ConnectionOptions()
    var batchSize = 500
    var maxDelayMs = 200
    var maxInFlight = 4
    var callTimeoutMs = 30_000
    var backoff: RetryPolicy = {
        var p = RetryPolicy()
        p.initialBackoffMs = 100
        p.maxBackoffMs = 30_000
        return p
    }()
}

/// What the forwarder reports for status.
struct ForwarderState: Sendable {
    var connected = false
    /// Since when the current connection state holds (wall ms).
    var sinceMs: Int64 = System.nowMs()
    var attempts = 0
    var inFlightBatches = 0
    var inFlightEvents = 0
    var deliveredThisRun: Int64 = 0
    var deadLetteredThisRun: Int64 = 0
    var lastError: String?
    var lastErrorMs: Int64?
}

final class Forwarder: @unchecked Sendable {
    // @unchecked: everything below `queue` is touched only on `queue`.
    let spool: Spool
    let options: ForwarderOptions
    let logger: Logger
    private let queue = DispatchQueue(label: "takt.gateway.forwarder")
    private let published = LockedValue(ForwarderState())
    private let kickPending = Atomic<Bool>(false)

    private var connection: ClientConnection?
    private var connecting = false
    private var nextConnectNs: UInt64 = 0
    private var holdUntilNs: UInt64 = 0
    private var attempt = 0
    private var cursor: UInt64 = 0
    private var retry: [ClosedRange<UInt64>] = []
    private var inFlight = 0
    private var inFlightEvents = 0
    private var draining = false
    private var stopped = false
    private var wakeAtNs: UInt64 = .max
    private var lastConnectLogNs: UInt64 = 0
    private var wasConnected = false
    private var idle: [@Sendable () -> Void] = []

    init(spool: Spool, options: ForwarderOptions, logger: Logger) {
        self.spool = spool
        self.options = options
        self.logger = logger
    }

    var state: ForwarderState { published.withLock { $0 } }

    func start() { queue.async { self.pump() } }

    /// New events are in the spool (coalesced: one pump per burst).
    func kick() {
        if kickPending.exchange(true, ordering: .acquiringAndReleasing) { return }
        queue.async {
            self.kickPending.store(false, ordering: .releasing)
            self.pump()
        }
    }

    /// The input ended: send partial batches at once.
    func drain() { queue.async { self.draining = true; self.pump() } }

    /// Sends nothing more; `done` runs when the calls in flight have answered (or after `graceMs`).
    func stop(graceMs: Int, done: @escaping @Sendable () -> Void) {
        queue.async {
            self.stopped = true
            if self.inFlight == 0 { done(); return }
            let once = Atomic<Bool>(false)
            let finish: @Sendable () -> Void = { if !once.exchange(true, ordering: .relaxed) { done() } }
            self.idle.append(finish)
            self.queue.asyncAfter(deadline: .now() + .milliseconds(graceMs), execute: finish)
        }
    }

    // MARK: The pump

    private func pump() {
        guard !stopped else { return }
        let now = System.monotonicNs()
        guard let c = connection, c.isUsable else {
            if connection != nil { connectionLost(nil) }
            if !connecting {
                if now >= nextConnectNs { connect() } else { wake(at: nextConnectNs) }
            }
            return
        }
        if now < holdUntilNs {
            wake(at: holdUntilNs)
            return
        }
        let serverMax = Int(c.serverHello.maxBatchEvents)
        let batchSize = serverMax > 0 ? min(options.batchSize, serverMax) : options.batchSize
        while inFlight < options.maxInFlight {
            let events: [SpooledEvent]
            do {
                if let range = retry.first {
                    retry.removeFirst()
                    events = try spool.events(in: range)
                    if events.isEmpty { continue }
                    if events.count > batchSize {
                        // The server's batch limit shrank: send the range in pieces.
                        let split = events[batchSize - 1].sequence
                        retry.insert(split + 1...range.upperBound, at: 0)
                        send(Array(events.prefix(batchSize)), range: range.lowerBound...split, on: c)
                        continue
                    }
                    send(events, range: range, on: c)
                    continue
                }
                events = try spool.unsent(after: cursor, limit: batchSize)
            } catch {
                note("cannot read the spool: \(error)", level: .error)
                wake(at: now + 1_000_000_000)
                return
            }
            guard let first = events.first, let last = events.last else { return }
            if events.count < batchSize && !draining {
                let dueMs = first.spooledMs + Int64(options.maxDelayMs)
                let nowMs = System.nowMs()
                if nowMs < dueMs {
                    wake(at: now + UInt64(dueMs - nowMs) * 1_000_000)
                    return
                }
            }
            cursor = last.sequence
            send(events, range: first.sequence...last.sequence, on: c)
        }
    }

    private func wake(at ns: UInt64) {
        guard ns < wakeAtNs else { return }
        wakeAtNs = ns
        let now = System.monotonicNs()
        queue.asyncAfter(deadline: .now() + .nanoseconds(Int(ns > now ? ns - now : 0))) {
            if self.wakeAtNs == ns { self.wakeAtNs = .max }
            self.pump()
        }
    }

    private func send(_ events: [SpooledEvent], range: ClosedRange<UInt64>, on c: ClientConnection) {
        var batch = EventBatch(events: [], gatewayID: spool.gatewayID)
        batch.events.reserveCapacity(events.count)
        var sendable: [SpooledEvent] = []
        var corrupt: [(SpooledEvent, Settlement)] = []
        for e in events {
            guard var event = EventText.parseJSONLine(e.text)?.event else {
                corrupt.append((e, .deadLetter(code: "CORRUPT", reason: "the spooled text no longer parses as an event")))
                continue
            }
            event.idempotencyKey = IdempotencyKey(gatewayID: spool.gatewayID, sequence: e.sequence)
            batch.events.append(event)
            sendable.append(e)
        }
        if !corrupt.isEmpty { try? spool.settle(corrupt) }
        guard !sendable.isEmpty else { return }
        inFlight += 1
        inFlightEvents += sendable.count
        publish()
        let sent = sendable
        c.unary(.submitBatch, batch.protobufBytes(), timeoutMs: options.callTimeoutMs) { result in
            self.queue.async { self.completed(sent, range: range, result, on: c) }
        }
    }

    private func completed(_ events: [SpooledEvent], range: ClosedRange<UInt64>, _ result: Result<[UInt8], RPCError>,
                           on c: ClientConnection) {
        inFlight -= 1
        inFlightEvents -= events.count
        defer {
            publish()
            if inFlight == 0 && !idle.isEmpty {
                let waiting = idle
                idle.removeAll()
                for w in waiting { w() }
            }
            pump()
        }
        switch result {
        case .success(let bytes):
            let ack: BatchAck
            do {
                ack = try BatchAck(protobuf: bytes)
            } catch {
                failed(range, RPCError(.internal, "undecodable BatchAck: \(error)"), on: c)
                return
            }
            guard ack.codes.count == events.count else {
                failed(range, RPCError(.internal, "BatchAck has \(ack.codes.count) codes for \(events.count) events"), on: c)
                return
            }
            settle(events, ack)
        case .failure(let error):
            failed(range, error, on: c)
        }
    }

    private func settle(_ events: [SpooledEvent], _ ack: BatchAck) {
        var reasons: [Int: String] = [:]
        for r in ack.rejections { reasons[r.index] = r.result.message }
        var outcomes: [(SpooledEvent, Settlement)] = []
        outcomes.reserveCapacity(events.count)
        var dead = 0
        for (i, e) in events.enumerated() {
            let code = ack.codes[i]
            switch code {
            case .accepted, .duplicate:
                outcomes.append((e, .delivered(code)))
            case .invalid, .unknownEntity, .lowConfidence:
                outcomes.append((e, .deadLetter(code: code.name, reason: reasons[i] ?? "")))
                dead += 1
                logger.warning("event rejected by taktd; moved to dead letters",
                               metadata: ["sequence": "\(e.sequence)", "origin": "\(e.origin)", "code": "\(code.name)",
                                          "reason": "\(reasons[i] ?? "")"])
            }
        }
        do {
            try spool.settle(outcomes)
        } catch {
            // Still spooled: sent again later, and answered DUPLICATE then.
            note("cannot update the spool after an acknowledgement: \(error)", level: .error)
            if let f = events.first, let l = events.last { requeue(f.sequence...l.sequence) }
            holdUntilNs = System.monotonicNs() + 1_000_000_000
            return
        }
        attempt = 0
        published.withLock {
            $0.deliveredThisRun += Int64(events.count - dead)
            $0.deadLetteredThisRun += Int64(dead)
            $0.attempts = 0
        }
    }

    private func failed(_ range: ClosedRange<UInt64>, _ error: RPCError, on c: ClientConnection) {
        let now = System.monotonicNs()
        switch error.code {
        case .invalidArgument:
            // The whole batch was refused (not one event's code): find the event by halving.
            bisect(range, error)
            return
        case .resourceExhausted where c.isUsable:
            requeue(range)
            let delay = max(options.backoff.backoffMs(attempt: min(attempt, 8)), Int(error.retryAfterMs ?? 0))
            holdUntilNs = max(holdUntilNs, now + UInt64(delay) * 1_000_000)
            note("\(error)", level: .debug)
        case let code where code.isRetryable || code == .cancelled:
            requeue(range)
            if code == .deadlineExceeded { c.abort() }
            if connection === c {
                connectionLost(error)
            } else {
                nextConnectNs = max(nextConnectNs, now + UInt64(error.retryAfterMs ?? 0) * 1_000_000)
            }
        default:
            // PERMISSION_DENIED, UNAUTHENTICATED, INTERNAL, …: a server-side problem, not the events'. Keep them.
            requeue(range)
            let delay = options.backoff.maxBackoffMs
            holdUntilNs = max(holdUntilNs, now + UInt64(delay) * 1_000_000)
            note("taktd refuses batches (\(error)); events stay spooled, retrying in \(delay / 1000) s", level: .error)
        }
    }

    private func bisect(_ range: ClosedRange<UInt64>, _ error: RPCError) {
        let events = (try? spool.events(in: range)) ?? []
        if events.count <= 1 {
            if let e = events.first {
                try? spool.settle([(e, .deadLetter(code: error.code.name, reason: error.message))])
                published.withLock { $0.deadLetteredThisRun += 1 }
                logger.warning("event refused by taktd (the batch call failed); moved to dead letters",
                               metadata: ["sequence": "\(e.sequence)", "origin": "\(e.origin)", "error": "\(error)"])
            }
            return
        }
        let mid = events[events.count / 2 - 1].sequence
        retry.insert(contentsOf: [range.lowerBound...mid, (mid + 1)...range.upperBound], at: 0)
        retry.sort { $0.lowerBound < $1.lowerBound }
    }

    private func requeue(_ range: ClosedRange<UInt64>) {
        let i = retry.firstIndex { $0.lowerBound > range.lowerBound } ?? retry.endIndex
        retry.insert(range, at: i)
    }

    // MARK: Connection

    private func connect() {
        connecting = true
        let address = options.address, opts = options.connection
        Task {
            let result: Result<ClientConnection, RPCError>
            do throws(RPCError) {
                result = .success(try await ClientConnection.connect(to: address, options: opts))
            } catch {
                result = .failure(error)
            }
            self.queue.async { self.connected(result) }
        }
    }

    private func connected(_ result: Result<ClientConnection, RPCError>) {
        connecting = false
        switch result {
        case .success(let c):
            if stopped {
                c.close()
                return
            }
            connection = c
            let downFor = published.withLock { s -> Int64 in
                let d = System.nowMs() - s.sinceMs
                s.connected = true
                s.sinceMs = System.nowMs()
                return d
            }
            var metadata: Logger.Metadata = ["server": "\(options.address)", "spooled": "\(spool.depthNow)"]
            if wasConnected { metadata["down_ms"] = "\(downFor)" }
            logger.info(wasConnected ? "reconnected to taktd" : "connected to taktd", metadata: metadata)
            wasConnected = true
            lastConnectLogNs = 0
        case .failure(let error):
            attempt += 1
            let delay = max(options.backoff.backoffMs(attempt: attempt), Int(error.retryAfterMs ?? 0))
            nextConnectNs = System.monotonicNs() + UInt64(delay) * 1_000_000
            published.withLock { $0.attempts = attempt }
            noteConnectFailure(error, delayMs: delay)
        }
        pump()
    }

    /// Forgets the current connection; the next pump reconnects after the backoff.
    private func connectionLost(_ error: RPCError?) {
        guard let c = connection else { return }
        connection = nil
        // After a GOAWAY the calls the server took are still answered: let them finish.
        if error == nil { c.close() } else { c.abort() }
        attempt += 1
        let delay = max(options.backoff.backoffMs(attempt: attempt), Int(error?.retryAfterMs ?? 0))
        nextConnectNs = System.monotonicNs() + UInt64(delay) * 1_000_000
        published.withLock {
            $0.connected = false
            $0.sinceMs = System.nowMs()
            $0.attempts = attempt
        }
        if let error { recordError("\(error)") }
        logger.warning("lost the connection to taktd; events stay spooled and are resent (duplicates are answered DUPLICATE)",
                       metadata: ["server": "\(options.address)", "error": "\(error.map { "\($0)" } ?? "the server closed the connection or sent GOAWAY")",
                                  "retry_in_ms": "\(delay)", "spooled": "\(spool.depthNow)"])
    }

    private func noteConnectFailure(_ error: RPCError, delayMs: Int) {
        recordError("\(error)")
        let now = System.monotonicNs()
        // First failure, then at most one line per 30 s.
        if lastConnectLogNs == 0 || now - lastConnectLogNs >= 30_000_000_000 {
            lastConnectLogNs = now
            logger.warning("cannot reach taktd; events stay spooled, retrying with backoff",
                           metadata: ["server": "\(options.address)", "error": "\(error)", "attempt": "\(attempt)",
                                      "retry_in_ms": "\(delayMs)", "spooled": "\(spool.depthNow)"])
        } else {
            logger.debug("cannot reach taktd", metadata: ["error": "\(error)", "retry_in_ms": "\(delayMs)"])
        }
    }

    private func note(_ message: String, level: Logger.Level) {
        recordError(message)
        logger.log(level: level, "\(message)")
    }

    private func recordError(_ message: String) {
        published.withLock {
            $0.lastError = message
            $0.lastErrorMs = System.nowMs()
        }
    }

    private func publish() {
        let batches = inFlight, events = inFlightEvents
        published.withLock {
            $0.inFlightBatches = batches
            $0.inFlightEvents = events
        }
    }
}
