// The simulated clients: an ingest gateway (one connection, its own event feed) and a dashboard
// issuing metric queries. Both run closed loop (keep `depth` calls in flight, send the next as one
// completes) or open loop (a pacer calls `sendScheduled` on a fixed clock). Completions run on the
// connection's queue; the little mutable state is behind a lock.
import Synchronization
import TaktClient
import TaktDomain
import TaktPosix
import TaktProto
import TaktSync

/// What every client of one run shares.
final class LoadContext: Sendable {
    let recorder: Recorder
    let timeoutMs: Int
    /// Set at the end of the measured window: closed-loop clients send nothing more.
    let stopping = Atomic<Bool>(false)
    /// Ingest calls sent and not yet completed.
    let inFlight = Atomic<Int>(0)
    /// Query calls sent and not yet completed.
    let queryInFlight = Atomic<Int>(0)
    /// Open loop: pacer threads that have finished / whether the ingest pacer has.
    let pacersDone = Atomic<Int>(0)
    let ingestPacerDone = Atomic<Bool>(false)
    /// Ingest gateways that may still send (closed loop: not stopped, feed not exhausted).
    let activeGateways = Atomic<Int>(0)
    /// Latest event time sent: the simulated "now" that queries look at.
    let frontierMs = Atomic<Int64>(0)
    /// Ingest calls that failed with a status (not answered with an ack): their events' fate is unknown.
    let unknownOutcomeEvents = Atomic<Int>(0)

    init(recorder: Recorder, timeoutMs: Int) {
        self.recorder = recorder
        self.timeoutMs = timeoutMs
    }
}

final class IngestGateway: Sendable {
    let index: Int
    let connection: ClientConnection
    let kind: CallKind
    private let method: MethodID
    private let context: LoadContext
    private let state: LockedValue<State>

    private struct State: Sendable {
        var feed: GatewayFeed
        var finished = false
        /// Counted out of `activeGateways` (once, by whichever in-flight chain saw the end first).
        var retired = false
        var succeeded = 0
        var failed = 0
        /// Open loop: calls due while the server's in-flight limit was reached, in schedule order, with
        /// their scheduled times (a gateway queues rather than overrun the limit and be refused).
        var backlog: [(payload: Payload, scheduledNs: UInt64)] = []
        var backlogHead = 0
        var maxBacklog = 0
        var inFlightHere = 0
    }

    init(index: Int, connection: ClientConnection, feed: GatewayFeed, batch: Int, context: LoadContext) {
        self.index = index
        self.connection = connection
        self.kind = batch == 1 ? .submitEvent : .submitBatch
        self.method = batch == 1 ? .submitEvent : .submitBatch
        self.context = context
        self.state = LockedValue(State(feed: feed))
    }

    /// Calls answered with an ack / failed with a status.
    var callCounts: (succeeded: Int, failed: Int) { state.withLock { ($0.succeeded, $0.failed) } }
    /// Open loop: most calls ever waiting locally for an in-flight slot.
    var maxBacklog: Int { state.withLock { $0.maxBacklog } }
    /// The server's limit on calls in flight per connection (HELLO_ACK).
    private var inFlightLimit: Int { max(1, Int(connection.serverHello.maxInFlightCalls)) }
    var caughtUpWithClock: Bool { state.withLock { $0.feed.caughtUpWithClock } }

    /// Closed loop: `depth` calls in flight; each completion sends the next until stopped or exhausted.
    func startClosedLoop(depth: Int) {
        context.activeGateways.add(1, ordering: .relaxed)
        for _ in 0..<depth { sendNextClosedLoop() }
    }

    private func sendNextClosedLoop() {
        let payload = state.withLock { s -> Payload? in
            if s.finished { return nil }
            if context.stopping.load(ordering: .relaxed) {
                s.finished = true
                return nil
            }
            guard let p = s.feed.next() else {
                s.finished = true
                return nil
            }
            s.inFlightHere += 1
            return p
        }
        guard let payload else {
            // The first caller to find the gateway finished retires it.
            let retire = state.withLock { s in
                defer { s.retired = true }
                return !s.retired
            }
            if retire { context.activeGateways.subtract(1, ordering: .relaxed) }
            return
        }
        send(payload, startNs: System.monotonicNs()) { [self] in sendNextClosedLoop() }
    }

    /// Open loop: sends the feed's next call, latency counted from `scheduledNs`, or queues it while the
    /// server's in-flight limit is reached (the wait counts as latency). False when exhausted.
    @discardableResult
    func sendScheduled(at scheduledNs: UInt64) -> Bool {
        let limit = inFlightLimit
        enum Step { case exhausted, queued, send(Payload) }
        let step = state.withLock { s -> Step in
            guard let p = s.feed.next() else { return .exhausted }
            if s.inFlightHere >= limit || s.backlogHead < s.backlog.count {
                s.backlog.append((p, scheduledNs))
                s.maxBacklog = max(s.maxBacklog, s.backlog.count - s.backlogHead)
                return .queued
            }
            s.inFlightHere += 1
            return .send(p)
        }
        switch step {
        case .exhausted: return false
        case .queued: return true
        case .send(let p):
            send(p, startNs: scheduledNs) { [self] in sendFromBacklog() }
            return true
        }
    }

    private func sendFromBacklog() {
        let next = state.withLock { s -> (payload: Payload, scheduledNs: UInt64)? in
            guard s.backlogHead < s.backlog.count else { return nil }
            let item = s.backlog[s.backlogHead]
            s.backlogHead += 1
            s.inFlightHere += 1
            if s.backlogHead == s.backlog.count {
                s.backlog.removeAll(keepingCapacity: true)
                s.backlogHead = 0
            }
            return item
        }
        if let next { send(next.payload, startNs: next.scheduledNs) { [self] in sendFromBacklog() } }
    }

    /// The caller has already counted the call in `inFlightHere`.
    private func send(_ payload: Payload, startNs: UInt64, then: @escaping @Sendable () -> Void) {
        context.inFlight.add(1, ordering: .relaxed)
        context.frontierMs.max(payload.maxEventTimeMs)
        let kind = self.kind
        connection.unary(method, payload.bytes, timeoutMs: context.timeoutMs) { [self] result in
            let end = System.monotonicNs()
            var outcome: CallOutcome
            switch result {
            case .success(let bytes):
                outcome = Self.decodeAck(bytes, kind: kind)
            case .failure(let error):
                outcome = CallOutcome(status: error.code.name)
            }
            state.withLock { s in
                s.inFlightHere -= 1
                if outcome.ok { s.succeeded += 1 } else { s.failed += 1 }
            }
            if !outcome.ok { context.unknownOutcomeEvents.add(payload.events, ordering: .relaxed) }
            context.recorder.record(kind, shard: index, startNs: startNs, endNs: end, events: payload.events, outcome: outcome)
            // The next call is counted in flight before this one leaves, so the count never dips to 0
            // while a gateway is still sending.
            then()
            context.inFlight.subtract(1, ordering: .relaxed)
        }
    }

    /// The exact bytes of a bare ACCEPTED ack: most single-event answers, recognized without decoding them
    /// (the load generator shares the cores with taktd, so its own work per call is kept small).
    private static let acceptedAck = EventResult.accepted.protobufBytes()

    static func decodeAck(_ bytes: [UInt8], kind: CallKind) -> CallOutcome {
        do {
            if kind == .submitEvent {
                var codes = CodeCounts()
                if bytes == acceptedAck {
                    codes.add(.accepted)
                    return CallOutcome(status: "OK", codes: codes)
                }
                let r = try EventResult(protobuf: bytes)
                codes.add(r.code)
                return CallOutcome(status: "OK", codes: codes)
            }
            let ack = try BatchAck(protobuf: bytes)
            var codes = CodeCounts()
            for c in ack.codes { codes.add(c) }
            return CallOutcome(status: "OK", codes: codes)
        } catch {
            return CallOutcome(status: "UNDECODABLE_ACK")
        }
    }
}

extension Atomic where Value == Int64 {
    /// Raises the value to at least `v`.
    func max(_ v: Int64) {
        var current = load(ordering: .relaxed)
        while v > current {
            let (exchanged, original) = compareExchange(expected: current, desired: v, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}

/// A dashboard: metric queries over the 24 h of simulated time before the ingest frontier.
final class QueryClient: Sendable {
    let index: Int
    let connection: ClientConnection
    private let mix: [CallKind]
    private let context: LoadContext
    private let next = Atomic<Int>(0)
    private let finished = Atomic<Bool>(false)

    init(index: Int, connection: ClientConnection, mix: [CallKind], context: LoadContext) {
        self.index = index
        self.connection = connection
        self.mix = mix
        self.context = context
    }

    func startClosedLoop() {
        sendNextClosedLoop()
    }

    private func sendNextClosedLoop() {
        if context.stopping.load(ordering: .relaxed) {
            finished.store(true, ordering: .relaxed)
            return
        }
        send(startNs: System.monotonicNs()) { [self] in sendNextClosedLoop() }
    }

    func sendScheduled(at scheduledNs: UInt64) {
        send(startNs: scheduledNs) {}
    }

    static func query(_ kind: CallKind, frontierMs: Int64) -> MetricsQuery {
        let to = frontierMs > 0 ? frontierMs : System.nowMs()
        let from = to - 86_400_000
        switch kind {
        case .queryWorkers: return MetricsQuery(scope: .workers, fromMs: from, toMs: to)
        case .queryTimeline: return MetricsQuery(scope: .timeline, fromMs: from, toMs: to, bucketMs: 3_600_000)
        default: return MetricsQuery(scope: .factory, fromMs: from, toMs: to)
        }
    }

    private func send(startNs: UInt64, then: @escaping @Sendable () -> Void) {
        let n = next.wrappingAdd(1, ordering: .relaxed).oldValue
        let kind = mix[(n + index) % mix.count]
        let request = Self.query(kind, frontierMs: context.frontierMs.load(ordering: .relaxed)).protobufBytes()
        context.queryInFlight.add(1, ordering: .relaxed)
        connection.unary(.queryMetrics, request, timeoutMs: context.timeoutMs) { [self] result in
            let end = System.monotonicNs()
            let status: String
            switch result {
            case .success: status = "OK"
            case .failure(let e): status = e.code.name
            }
            context.recorder.record(kind, shard: index, startNs: startNs, endNs: end, events: 0, outcome: CallOutcome(status: status))
            then()
            context.queryInFlight.subtract(1, ordering: .relaxed)
        }
    }
}
