// The typed client: one logical connection to a taktd that reconnects with jittered exponential
// backoff and retries calls that failed with a retryable status (every Takt method is idempotent).
import TaktDomain
import TaktPosix
import TaktProto
import TaktSync

public struct RetryPolicy: Sendable {
    /// Attempts per call, the first included; 1 disables retries.
    public var maxAttempts: Int = 5
    public var initialBackoffMs: Int = 50
    public var maxBackoffMs: Int = 5_000
    public var multiplier: Double = 2
    public init() {}
    public static let none: RetryPolicy = { var p = RetryPolicy(); p.maxAttempts = 1; return p }()

    /// Full jitter: a random delay in [0, min(max, initial × multiplier^attempt)].
    public func backoffMs(attempt: Int) -> Int {
        var cap = Double(initialBackoffMs)
        for _ in 0..<attempt { cap *= multiplier }
        let bound = Int(min(cap, Double(maxBackoffMs)))
        return bound <= 0 ? 0 : Int.random(in: 0...bound)
    }
}

public struct ClientConfiguration: Sendable {
    public var address: SocketAddress
    public var connection = ConnectionOptions()
    /// Timeout of each call when the caller gives none (ms).
    public var defaultTimeoutMs: Int = 30_000
    public var retry = RetryPolicy()
    public init(address: SocketAddress) { self.address = address }
}

public final class TaktClient: Sendable {
    public let configuration: ClientConfiguration
    private let current = LockedValue<ClientConnection?>(nil)

    public init(_ configuration: ClientConfiguration) {
        self.configuration = configuration
    }

    public convenience init(address: String) throws(RPCError) {
        do {
            self.init(ClientConfiguration(address: try SocketAddress(parsing: address)))
        } catch {
            throw RPCError(.invalidArgument, "bad server address \"\(address)\": expected HOST:PORT")
        }
    }

    /// The live connection, connecting if needed.
    public func connection() async throws(RPCError) -> ClientConnection {
        if let c = current.withLock({ $0 }), c.isUsable { return c }
        let c = try await ClientConnection.connect(to: configuration.address, options: configuration.connection)
        current.withLock { $0 = c }
        return c
    }

    public func close() {
        let c = current.withLock { c -> ClientConnection? in
            let x = c
            c = nil
            return x
        }
        c?.close()
    }

    /// One unary call with retries on retryable statuses, honoring the server's retry delay,
    /// within the overall timeout.
    public func call<Request: ProtoEncodable, Response: ProtoDecodable>(
        _ method: MethodID, _ request: Request, as: Response.Type = Response.self, timeoutMs: Int? = nil
    ) async throws(RPCError) -> Response {
        let timeout = timeoutMs ?? configuration.defaultTimeoutMs
        let deadline = System.monotonicNs() + UInt64(timeout) * 1_000_000
        let payload = request.protobufBytes()
        var attempt = 0
        while true {
            let remaining = Int((deadline &- System.monotonicNs()) / 1_000_000)
            var failure: RPCError
            if System.monotonicNs() >= deadline {
                throw RPCError(.deadlineExceeded, "\(method.name): no answer within \(timeout) ms")
            }
            do throws(RPCError) {
                let c = try await connection()
                let bytes = try await c.unary(method, payload, timeoutMs: max(remaining, 1))
                do {
                    return try Response(protobuf: bytes)
                } catch {
                    throw RPCError(.internal, "server sent an invalid \(Response.protoMessageName): \(error)")
                }
            } catch {
                failure = error
            }
            attempt += 1
            guard failure.code.isRetryable, failure.code != .deadlineExceeded, attempt < configuration.retry.maxAttempts else {
                throw failure
            }
            let delay = max(configuration.retry.backoffMs(attempt: attempt), Int(failure.retryAfterMs ?? 0))
            if System.monotonicNs() + UInt64(delay) * 1_000_000 >= deadline { throw failure }
            try? await Task.sleep(nanoseconds: UInt64(delay) * 1_000_000)
        }
    }

    // MARK: Typed API

    public func health(service: String = "") async throws(RPCError) -> ServingStatus {
        try await call(.healthCheck, HealthCheckRequest(service: service), as: ServingStatus.self)
    }

    public func stats() async throws(RPCError) -> ServerStats {
        try await call(.stats, StatsRequest(), as: ServerStats.self)
    }

    public func submit(_ event: Event, timeoutMs: Int? = nil) async throws(RPCError) -> EventResult {
        try await call(.submitEvent, event, as: EventResult.self, timeoutMs: timeoutMs)
    }

    public func submit(_ batch: EventBatch, timeoutMs: Int? = nil) async throws(RPCError) -> BatchAck {
        try await call(.submitBatch, batch, as: BatchAck.self, timeoutMs: timeoutMs)
    }

    public func metrics(_ query: MetricsQuery, timeoutMs: Int? = nil) async throws(RPCError) -> MetricsResponse {
        try await call(.queryMetrics, query, as: MetricsResponse.self, timeoutMs: timeoutMs)
    }

    public func listEvents(_ request: ListEventsRequest) async throws(RPCError) -> EventPage {
        try await call(.listEvents, request, as: EventPage.self)
    }

    public func upsertWorkers(_ workers: [WorkerRecord]) async throws(RPCError) -> UpsertResult {
        try await call(.upsertWorkers, WorkerList(workers), as: UpsertResult.self)
    }

    public func upsertWorkstations(_ stations: [WorkstationRecord]) async throws(RPCError) -> UpsertResult {
        try await call(.upsertWorkstations, WorkstationList(stations), as: UpsertResult.self)
    }

    public func listWorkers(siteID: String? = nil) async throws(RPCError) -> [WorkerRecord] {
        try await call(.listWorkers, RegistryListRequest(siteID: siteID), as: WorkerList.self).workers
    }

    public func listWorkstations(siteID: String? = nil) async throws(RPCError) -> [WorkstationRecord] {
        try await call(.listWorkstations, RegistryListRequest(siteID: siteID), as: WorkstationList.self).workstations
    }

    public func listSites() async throws(RPCError) -> [SiteRecord] {
        try await call(.listSites, RegistryListRequest(siteID: nil), as: SiteList.self).sites
    }

    /// A live subscription: updates until the server ends it or the consumer stops iterating
    /// (which cancels the call).
    public func subscribe(_ filter: EventFilter) async throws(RPCError) -> AsyncThrowingStream<SubscriptionUpdate, any Error> {
        let c = try await connection()
        let payload = SubscribeRequest(filter: filter).protobufBytes()
        return AsyncThrowingStream { continuation in
            let handle = c.serverStream(.subscribe, payload) { part in
                switch part {
                case .message(let bytes):
                    do {
                        continuation.yield(try SubscriptionUpdate(protobuf: bytes))
                    } catch {
                        continuation.finish(throwing: RPCError(.internal, "server sent an invalid SubscribeResponse: \(error)"))
                    }
                case .end(let error):
                    if let error { continuation.finish(throwing: error) } else { continuation.finish() }
                }
            }
            continuation.onTermination = { _ in handle.cancel() }
        }
    }
}
