// What the simulated gateways send: one FactorySimulation split by worker into one stream per
// gateway (TaktSimulation), cut into calls of `batch` events and encoded once, ahead of the clock
// where the amount is known, so the client spends its CPU on calls rather than on generation.
import ArgumentParser
import TaktDomain
import TaktPosix
import TaktProto
import TaktSimulation

/// The shape of the generated data, shared by `run` and `ceiling sqlite` (same options, same rows).
struct WorkloadOptions: ParsableArguments {
    @Option(help: "Gateways: ingest connections, each sending its own workers' events.")
    var connections: Int = 8

    @Option(help: "Events per call: 1 sends SubmitEvent, more sends SubmitBatch of this many events.")
    var batch: Int = 1

    @Option(help: "Simulated workers in the factory (default: 200, at least one per gateway); worker i belongs to gateway i % connections.")
    var workers: Int?

    @Option(help: "Simulated workstations (default: workers / 10).")
    var workstations: Int?

    @Option(help: "Share of events re-sent by the gateway later (server answers DUPLICATE).")
    var duplicates: Double = 0.01

    @Option(help: "Share of events delivered minutes to hours after they happened (out of order).")
    var late: Double = 0.02

    @Option(help: "Share of events below confidence 0.70 (server answers LOW_CONFIDENCE).")
    var lowConfidence: Double = 0.02

    @Option(help: "Seed of the simulation: the same seed and options give the same events.")
    var seed: UInt64 = 1

    @Option(help: "Simulated time of the first event, ms since the epoch (default: 30 days ago, whole minute). Event times stay below the wall clock: the simulation runs far faster than real time. Runs with the same seed and start send the same events and idempotency keys (a replay is all DUPLICATE); other runs use other keys.")
    var startMs: Int64?

    func validate() throws {
        guard connections >= 1, connections <= 60_000 else { throw ValidationError("--connections must be 1...60000") }
        guard batch >= 1, batch <= 100_000 else { throw ValidationError("--batch must be 1...100000") }
        for (name, v) in [("--duplicates", duplicates), ("--late", late), ("--low-confidence", lowConfidence)] {
            guard (0...1).contains(v) else { throw ValidationError("\(name) must be a share in [0, 1]") }
        }
        if let w = workers, w < connections { throw ValidationError("--workers must be at least --connections (one worker per gateway)") }
        if let s = workstations, s < 1 { throw ValidationError("--workstations must be at least 1") }
    }

    var workerCount: Int { workers ?? max(200, connections) }
    var workstationCount: Int { workstations ?? max(1, workerCount / 10) }

    /// The simulation start: explicit, or 30 days before now rounded down to the minute.
    func resolvedStartMs(nowMs: Int64) -> Int64 {
        startMs ?? (nowMs - 30 * 86_400_000) / 60_000 * 60_000
    }

    func simulation(startMs: Int64) -> FactorySimulation {
        FactorySimulation(FactorySimulation.Configuration(
            seed: seed, workers: workerCount, workstations: workstationCount, startMs: startMs, endMs: nil,
            shifts: [], duplicateFraction: duplicates, lateFraction: late, lowConfidenceFraction: lowConfidence,
            idempotencyKeys: true))
    }
}

/// One call's request: encoded once, plus what the report needs about it.
struct Payload: Sendable {
    var bytes: [UInt8]
    var events: Int
    /// Latest event time in it (queries follow the simulated "now").
    var maxEventTimeMs: Int64
}

/// The calls one gateway sends, in order: pre-encoded ones first, then generated on demand.
struct GatewayFeed: Sendable {
    private var stream: SimulatedEventStream
    /// Events this gateway may still send; nil: unbounded.
    private var quota: Int?
    private let batch: Int
    /// Deliveries at or after this instant are never sent (the wall clock at the start, minus a margin).
    private let deliverBeforeMs: Int64
    /// Appended to the simulation's gateway ids (`gw-W7`) in idempotency keys, so that runs with another
    /// seed or start never reuse a (gateway, sequence) key of an earlier run.
    private let keySuffix: String
    private var ready: [Payload] = []
    private var readyHead = 0
    /// True when the simulation caught up with the wall clock (a warning in the report).
    private(set) var caughtUpWithClock = false

    init(stream: SimulatedEventStream, quota: Int?, batch: Int, deliverBeforeMs: Int64, keySuffix: String) {
        self.stream = stream
        self.keySuffix = keySuffix
        self.quota = quota
        self.batch = batch
        self.deliverBeforeMs = deliverBeforeMs
    }

    /// Encodes up to `events` events' worth of calls ahead of time.
    mutating func prepare(events: Int) {
        var prepared = 0
        while prepared < events, let p = generate() {
            ready.append(p)
            prepared += p.events
        }
    }

    var preparedCalls: Int { ready.count - readyHead }

    mutating func next() -> Payload? {
        if readyHead < ready.count {
            let p = ready[readyHead]
            readyHead += 1
            if readyHead == ready.count {
                ready = []
                readyHead = 0
            }
            return p
        }
        return generate()
    }

    /// The next `batch` events (fewer at the end of the quota), raw.
    mutating func nextEvents() -> [Event] {
        var events: [Event] = []
        let n = min(batch, quota ?? Int.max)
        events.reserveCapacity(n)
        while events.count < n {
            guard let e = stream.next(deliveredBefore: deliverBeforeMs) else {
                caughtUpWithClock = true
                break
            }
            var event = e.event
            event.idempotencyKey?.gatewayID += keySuffix
            events.append(event)
        }
        if quota != nil { quota! -= events.count }
        return events
    }

    private mutating func generate() -> Payload? {
        let events = nextEvents()
        guard !events.isEmpty else { return nil }
        let maxTime = events.reduce(Int64.min) { max($0, $1.eventTimeMs) }
        let bytes = batch == 1 ? events[0].protobufBytes() : EventBatch(events: events).protobufBytes()
        return Payload(bytes: bytes, events: events.count, maxEventTimeMs: maxTime)
    }
}

extension WorkloadOptions {
    /// One feed per gateway; with `totalEvents`, the events are split as evenly as possible.
    func feeds(startMs: Int64, totalEvents: Int?, nowMs: Int64) -> [GatewayFeed] {
        let streams = simulation(startMs: startMs).streams(count: connections)
        return streams.enumerated().map { k, s in
            let quota = totalEvents.map { $0 / connections + (k < $0 % connections ? 1 : 0) }
            return GatewayFeed(stream: s, quota: quota, batch: batch, deliverBeforeMs: nowMs - 60_000,
                               keySuffix: ".\(seed).\(startMs / 60_000)")
        }
    }
}
