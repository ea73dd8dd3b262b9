// The Takt service behind the RPC server: ingest (precheck → group-commit store → ack),
// metric queries over the in-memory index, event listing, live subscriptions, registry, health.
@preconcurrency import Dispatch
import Logging
import Synchronization
import TaktDomain
import TaktMetrics
import TaktPosix
import TaktProto
import TaktStore
import TaktSync

public final class TaktService: CallHandler, @unchecked Sendable {
    // @unchecked: immutable references to thread-safe components, plus locked and atomic counters.
    public let store: EventStore
    public let index: MetricsIndex
    let hub: SubscriptionHub
    let policy: AcceptancePolicy
    let maxBatchEvents: Int
    let logger: Logger
    let durability: Durability
    private let startedNs = System.monotonicNs()
    private let results = LockedValue<[ResultCode: UInt64]>([:])
    /// Queries and listings run here: concurrent, off the connection queues.
    private let queryQueue = DispatchQueue(label: "takt.query", attributes: .concurrent)
    public static let version = "0.1.0"

    init(store: EventStore, index: MetricsIndex, policy: AcceptancePolicy, maxBatchEvents: Int, durability: Durability,
         logger: Logger) {
        self.store = store
        self.index = index
        self.hub = SubscriptionHub()
        self.policy = policy
        self.maxBatchEvents = maxBatchEvents
        self.durability = durability
        self.logger = logger
    }

    /// Wires the store's commit hook: the index and live subscribers see every committed event
    /// before the calls that carried them are answered.
    func attach() {
        let index = self.index
        let hub = self.hub
        store.onCommit = { accepted, lowConfidence in
            index.insert(accepted)
            if !lowConfidence.isEmpty { index.insertLowConfidence(lowConfidence) }
            hub.publish(accepted)
        }
    }

    public func handle(_ call: ServerCall) {
        if call.isExpired {
            call.fail(RPCError(.deadlineExceeded, "deadline passed before \(call.method.name) started"))
            return
        }
        do {
            try call.principal.authorize(call.method)
            switch call.method {
            case .healthCheck: try healthCheck(call)
            case .stats: try stats(call)
            case .submitEvent: try submitEvent(call)
            case .submitBatch: try submitBatch(call)
            case .queryMetrics: try queryMetrics(call)
            case .listEvents: try listEvents(call)
            case .subscribe: try subscribe(call)
            case .upsertWorkers: try registry(call) { store in
                let req = try WorkerList(protobuf: call.payload)
                try call.principal.authorizeWrite(sites: req.workers.map(\.siteID))
                return try store.upsertWorkers(req.workers).protobufBytes()
            }
            case .upsertWorkstations: try registry(call) { store in
                let req = try WorkstationList(protobuf: call.payload)
                try call.principal.authorizeWrite(sites: req.workstations.map(\.siteID))
                return try store.upsertWorkstations(req.workstations).protobufBytes()
            }
            case .listWorkers: try registry(call) { store in
                let req = try RegistryListRequest(protobuf: call.payload)
                try call.principal.authorizeRead(site: req.siteID)
                return WorkerList(try store.listWorkers(siteID: req.siteID)).protobufBytes()
            }
            case .listWorkstations: try registry(call) { store in
                let req = try RegistryListRequest(protobuf: call.payload)
                try call.principal.authorizeRead(site: req.siteID)
                return WorkstationList(try store.listWorkstations(siteID: req.siteID)).protobufBytes()
            }
            case .listSites: try registry(call) { store in
                _ = try RegistryListRequest(protobuf: call.payload)
                let principal = call.principal
                return SiteList(try store.listSites().filter { principal.mayUse($0.siteID) }).protobufBytes()
            }
            }
        } catch let e as any RPCErrorConvertible {
            call.fail(e.rpcError)
        } catch {
            call.fail(RPCError(.internal, "\(error)"))
        }
    }

    // MARK: Ingest

    private func count(_ codes: some Sequence<ResultCode>) {
        results.withLock { r in for c in codes { r[c, default: 0] += 1 } }
    }

    /// Where one incoming event goes: to the store (to be stored, or recorded as low-confidence), or
    /// straight back with the rejection that needs no store.
    private enum Admission {
        case store(IngestItem)
        case answer(EventResult)
    }

    private func classify(_ e: IncomingEvent, nowMs: Int64) -> Admission {
        switch (e.precheck(policy, nowMs: nowMs), e.event) {
        case (nil, let event?): return .store(.candidate(event))
        case (let rejection?, let event?) where rejection.code == .lowConfidence: return .store(.lowConfidence(event))
        case (let rejection?, _): return .answer(rejection)
        case (nil, nil): return .answer(EventResult(.invalid, "event could not be decoded"))
        }
    }

    /// Prechecks every event, stores the storable ones in one submission, answers with one result per event.
    private func ingest(_ incoming: [IncomingEvent],
                        done: @escaping @Sendable (Result<[EventResult], RPCError>) -> Void) {
        let now = System.nowMs()
        var results = [EventResult?](repeating: nil, count: incoming.count)
        var items: [IngestItem] = []
        var positions: [Int] = []
        items.reserveCapacity(incoming.count)
        positions.reserveCapacity(incoming.count)
        for (i, e) in incoming.enumerated() {
            switch classify(e, nowMs: now) {
            case .store(let item):
                items.append(item)
                positions.append(i)
            case .answer(let result):
                results[i] = result
            }
        }
        if items.isEmpty {
            let final = results.map { $0 ?? EventResult(.invalid, "event could not be decoded") }
            count(final.map(\.code))
            done(.success(final))
            return
        }
        let prechecked = results
        let storedAt = positions
        store.submit(items) { [self] outcome in
            switch outcome {
            case .success(let stored):
                var final = prechecked
                for (k, r) in stored.enumerated() { final[storedAt[k]] = r }
                let all = final.map { $0 ?? EventResult(.invalid, "event could not be decoded") }
                count(all.map(\.code))
                done(.success(all))
            case .failure(let error):
                done(.failure(error.rpcError))
            }
        }
    }

    /// Site permission for every decodable event, then the token's rate limit.
    private func admit(_ events: some Collection<IncomingEvent>, _ call: ServerCall) throws(RPCError) {
        let p = call.principal
        if p.sites != nil {
            try p.authorizeWrite(sites: Set(events.compactMap { $0.event?.effectiveSiteID }))
        }
        if let limiter = p.limiter, let wait = limiter.take(events.count) {
            throw RPCError(.resourceExhausted,
                           "rate limit of \(Int(limiter.ratePerSecond)) events/s (burst \(Int(limiter.burst))) exceeded for '\(p.name)'",
                           retryAfterMs: wait)
        }
    }

    /// The same rules as a one-event batch, without the batch's bookkeeping arrays (single events are
    /// the most frequent call and the dearest per event).
    private func submitEvent(_ call: ServerCall) throws {
        let event = try IncomingEvent(protobuf: call.payload)
        try admit(CollectionOfOne(event), call)
        switch classify(event, nowMs: System.nowMs()) {
        case .answer(let result):
            count(CollectionOfOne(result.code))
            call.respond(result.protobufBytes())
        case .store(let item):
            store.submit([item]) { [self] outcome in
                switch outcome {
                case .success(let stored):
                    count(CollectionOfOne(stored[0].code))
                    call.respond(stored[0].protobufBytes())
                case .failure(let error):
                    call.fail(error.rpcError)
                }
            }
        }
    }

    private func submitBatch(_ call: ServerCall) throws {
        let batch = try IncomingBatch(protobuf: call.payload)
        if batch.events.count > maxBatchEvents {
            throw RPCError.invalidArgument("Batch.events: \(batch.events.count) events exceed the limit of \(maxBatchEvents) per batch (max_batch_events)")
        }
        try admit(batch.events, call)
        ingest(batch.events) { r in
            switch r {
            case .success(let results): call.respond(BatchAck(results: results).protobufBytes())
            case .failure(let e): call.fail(e)
            }
        }
    }

    /// Ingest from inside the process (demo data): the same path as SubmitBatch.
    public func ingestLocally(_ events: [Event]) async throws(RPCError) -> [EventResult] {
        let r: Result<[EventResult], RPCError> = await withCheckedContinuation { cont in
            ingest(events.map { IncomingEvent.event($0) }) { cont.resume(returning: $0) }
        }
        return try r.get()
    }

    // MARK: Queries

    private func queryMetrics(_ call: ServerCall) throws {
        let query = try MetricsQuery(protobuf: call.payload)
        try call.principal.authorizeRead(site: query.siteID)
        let window = try query.resolvedWindow(nowMs: System.nowMs())
        let index = self.index
        queryQueue.async {
            if call.isCancelled { return }
            if call.isExpired {
                call.fail(RPCError(.deadlineExceeded, "deadline passed while the query waited to run"))
                return
            }
            var response = MetricsResponse(window: window)
            switch query.scope {
            case .factory:
                response.factory = index.factory(window: window, query: query)
            case .workers:
                response.workers = index.workers(window: window, query: query)
            case .workstations:
                response.workstations = index.workstations(window: window, query: query)
            case .all:
                let report = index.report(window: window, query: query)
                response.factory = report.factory
                response.workers = report.workers
                response.workstations = report.workstations
            case .timeline:
                response.timeline = index.timeline(window: window, query: query)
            case .modelHealth:
                response.modelHealth = index.modelHealth(toMs: window.toMs, siteID: query.siteID)
            }
            call.respond(response.protobufBytes())
        }
    }

    private func listEvents(_ call: ServerCall) throws {
        let request = try ListEventsRequest(protobuf: call.payload)
        try request.filter.validate()
        try call.principal.authorizeRead(site: request.filter.siteID)
        let store = self.store
        queryQueue.async {
            do {
                call.respond(try store.listEvents(request).protobufBytes())
            } catch let e as any RPCErrorConvertible {
                call.fail(e.rpcError)
            } catch {
                call.fail(RPCError(.internal, "\(error)"))
            }
        }
    }

    private func subscribe(_ call: ServerCall) throws {
        let request = try SubscribeRequest(protobuf: call.payload)
        try request.filter.validate()
        try call.principal.authorizeRead(site: request.filter.siteID)
        let id = hub.add(call: call, filter: request.filter)
        let hub = self.hub
        call.onCancel { hub.remove(id) }
    }

    private func registry(_ call: ServerCall, _ body: @escaping @Sendable (EventStore) throws -> [UInt8]) throws {
        let store = self.store
        queryQueue.async {
            do {
                call.respond(try body(store))
            } catch let e as any RPCErrorConvertible {
                call.fail(e.rpcError)
            } catch {
                call.fail(RPCError(.internal, "\(error)"))
            }
        }
    }

    // MARK: Health and stats

    private func healthCheck(_ call: ServerCall) throws {
        let req = try HealthCheckRequest(protobuf: call.payload)
        let known = ["", "takt.v1.Health", "takt.v1.Ingest", "takt.v1.Query", "takt.v1.Registry"]
        let status: ServingStatus = known.contains(req.service) ? (store.isWritable ? .serving : .notServing) : .serviceUnknown
        call.respond(status.protobufBytes())
    }

    /// `server` comes from the call (its connection's server) rather than a back reference: a weak
    /// reference would put the server's reference counting on the runtime's slow path for every call.
    func statistics(of server: RPCServer) -> ServerStats {
        let s = store.stats()
        let rpc = server.statistics()
        var stats = ServerStats(
            uptimeMs: Int64((System.monotonicNs() - startedNs) / 1_000_000),
            connectionsOpen: rpc.open, connectionsTotal: rpc.total, methods: rpc.methods,
            results: results.withLock { $0 }, eventsStored: s.events, storeBytes: s.databaseBytes, walBytes: s.walBytes,
            commits: s.commits, subscribers: UInt64(hub.count), version: Self.version,
            durability: durability.rawValue, strict: policy.strict)
        let c = server.configuration
        stats.inFlightBytes = UInt64(max(server.inFlightBytes, 0))
        stats.authFailures = c.authenticator?.failures.load(ordering: .relaxed) ?? 0
        stats.auth = c.authenticator != nil ? "tokens" : (c.listen.isLoopback ? "none (loopback only)" : "none, INSECURE")
        return stats
    }

    private func stats(_ call: ServerCall) throws {
        _ = try StatsRequest(protobuf: call.payload)
        call.respond(statistics(of: call.connection.server).protobufBytes())
    }
}
