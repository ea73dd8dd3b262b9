// Request and response values of every RPC (proto/takt/v1), as plain Swift. TaktProto maps
// these to and from the protobuf-c messages; nothing above TaktProto sees a C pointer.

/// Stable method ids (proto `MethodId`); never reordered or reused.
public enum MethodID: UInt16, Sendable, Hashable, CaseIterable {
    case healthCheck = 1
    case stats = 2
    case submitEvent = 10
    case submitBatch = 11
    case queryMetrics = 20
    case listEvents = 21
    case subscribe = 22
    case upsertWorkers = 30
    case listWorkers = 31
    case upsertWorkstations = 32
    case listWorkstations = 33
    case listSites = 34

    public var name: String {
        switch self {
        case .healthCheck: return "Health.Check"
        case .stats: return "Health.Stats"
        case .submitEvent: return "Ingest.SubmitEvent"
        case .submitBatch: return "Ingest.SubmitBatch"
        case .queryMetrics: return "Query.QueryMetrics"
        case .listEvents: return "Query.ListEvents"
        case .subscribe: return "Query.Subscribe"
        case .upsertWorkers: return "Registry.UpsertWorkers"
        case .listWorkers: return "Registry.ListWorkers"
        case .upsertWorkstations: return "Registry.UpsertWorkstations"
        case .listWorkstations: return "Registry.ListWorkstations"
        case .listSites: return "Registry.ListSites"
        }
    }

    /// Whether the method answers with a stream of messages rather than one response.
    public var isServerStreaming: Bool { self == .subscribe }
}

/// `Batch`: events plus the default gateway id for their idempotency keys.
public struct EventBatch: Sendable, Hashable {
    public var events: [Event]
    public var gatewayID: String
    public init(events: [Event], gatewayID: String = "") {
        self.events = events
        self.gatewayID = gatewayID
    }
}

/// An event that was not accepted, with its index in the batch.
public struct Rejection: Sendable, Hashable {
    public var index: Int
    public var result: EventResult
    public init(index: Int, result: EventResult) {
        self.index = index
        self.result = result
    }
}

/// `BatchAck`: a code per event in order, counts per code and the reason of every rejection.
public struct BatchAck: Sendable, Hashable {
    public var codes: [ResultCode]
    public var rejections: [Rejection]

    public init(codes: [ResultCode], rejections: [Rejection]) {
        self.codes = codes
        self.rejections = rejections
    }

    /// Builds the ack from one result per event.
    public init(results: [EventResult]) {
        codes = results.map(\.code)
        rejections = []
        for (i, r) in results.enumerated() where r.code != .accepted {
            rejections.append(Rejection(index: i, result: r))
        }
    }

    public func count(_ code: ResultCode) -> Int { codes.reduce(0) { $0 + ($1 == code ? 1 : 0) } }
}

/// Filters shared by event listing and live subscription.
public struct EventFilter: Sendable, Hashable {
    public static let maxIDs = 1_000
    public var siteID: String?
    public var workerIDs: [String]
    public var workstationIDs: [String]
    public var kinds: [EventKind]
    /// Inclusive lower bound on event time; nil: none.
    public var fromMs: Int64?
    /// Exclusive upper bound on event time; nil: none.
    public var toMs: Int64?

    public init(siteID: String? = nil, workerIDs: [String] = [], workstationIDs: [String] = [],
                kinds: [EventKind] = [], fromMs: Int64? = nil, toMs: Int64? = nil) {
        self.siteID = siteID
        self.workerIDs = workerIDs
        self.workstationIDs = workstationIDs
        self.kinds = kinds
        self.fromMs = fromMs
        self.toMs = toMs
    }

    public func validate() throws(RPCError) {
        if workerIDs.count > Self.maxIDs { throw .invalidArgument("worker_ids: at most \(Self.maxIDs) ids, got \(workerIDs.count)") }
        if workstationIDs.count > Self.maxIDs { throw .invalidArgument("workstation_ids: at most \(Self.maxIDs) ids, got \(workstationIDs.count)") }
        if let f = fromMs, let t = toMs, f >= t { throw .invalidArgument("from_ms: must be before to_ms") }
    }

    public func matches(_ e: Event) -> Bool {
        if let s = siteID, !s.isEmpty, e.effectiveSiteID != s { return false }
        if !workerIDs.isEmpty && !workerIDs.contains(e.workerID) { return false }
        if !workstationIDs.isEmpty && !workstationIDs.contains(e.workstationID) { return false }
        if !kinds.isEmpty && !kinds.contains(e.kind) { return false }
        if let f = fromMs, e.eventTimeMs < f { return false }
        if let t = toMs, e.eventTimeMs >= t { return false }
        return true
    }
}

public struct ListEventsRequest: Sendable, Hashable {
    public static let defaultPageSize = 100
    public static let maxPageSize = 10_000
    public var filter: EventFilter
    /// 1...10_000; 0 means 100.
    public var pageSize: Int
    /// Opaque cursor from a previous page; empty for the first page.
    public var pageToken: String
    public init(filter: EventFilter = EventFilter(), pageSize: Int = 0, pageToken: String = "") {
        self.filter = filter
        self.pageSize = pageSize
        self.pageToken = pageToken
    }
}

public struct EventPage: Sendable, Hashable {
    public var events: [StoredEvent]
    /// Empty when there is nothing more.
    public var nextPageToken: String
    public init(events: [StoredEvent], nextPageToken: String) {
        self.events = events
        self.nextPageToken = nextPageToken
    }
}

/// One message of a live subscription.
public struct SubscriptionUpdate: Sendable, Hashable {
    public var events: [StoredEvent]
    /// Events skipped because the subscriber fell behind.
    public var dropped: UInt64
    public init(events: [StoredEvent], dropped: UInt64 = 0) {
        self.events = events
        self.dropped = dropped
    }
}

/// `MetricsResponse`: the window used and whichever parts the scope asked for.
public struct MetricsResponse: Sendable, Hashable {
    public var window: TimeWindow
    public var factory: FactoryMetrics?
    public var workers: [WorkerMetrics]
    public var workstations: [WorkstationMetrics]
    public var timeline: [TimelineRow]
    public var modelHealth: ModelHealthReport?
    public init(window: TimeWindow, factory: FactoryMetrics? = nil, workers: [WorkerMetrics] = [],
                workstations: [WorkstationMetrics] = [], timeline: [TimelineRow] = [],
                modelHealth: ModelHealthReport? = nil) {
        self.window = window
        self.factory = factory
        self.workers = workers
        self.workstations = workstations
        self.timeline = timeline
        self.modelHealth = modelHealth
    }
}

public struct UpsertResult: Sendable, Hashable {
    public var created: Int
    public var updated: Int
    public init(created: Int, updated: Int) {
        self.created = created
        self.updated = updated
    }
}

/// Connection preface from the client (`ClientHello`).
public struct ClientHello: Sendable, Hashable {
    public var protocolVersion: UInt32
    public var clientName: String
    public var authToken: String
    public var maxFrameSize: UInt32
    public init(protocolVersion: UInt32 = 1, clientName: String = "", authToken: String = "", maxFrameSize: UInt32 = 0) {
        self.protocolVersion = protocolVersion
        self.clientName = clientName
        self.authToken = authToken
        self.maxFrameSize = maxFrameSize
    }
}

/// What the server supports on a connection (`ServerHello`).
public struct ServerHello: Sendable, Hashable {
    public var protocolVersion: UInt32
    public var serverName: String
    public var maxFrameSize: UInt32
    public var maxInFlightCalls: UInt32
    public var keepaliveIntervalMs: UInt32
    public var idleTimeoutMs: UInt32
    public var compression: [String]
    public var maxBatchEvents: UInt32
    public init(protocolVersion: UInt32 = 1, serverName: String = "", maxFrameSize: UInt32 = 4 << 20,
                maxInFlightCalls: UInt32 = 256, keepaliveIntervalMs: UInt32 = 30_000, idleTimeoutMs: UInt32 = 0,
                compression: [String] = [], maxBatchEvents: UInt32 = 10_000) {
        self.protocolVersion = protocolVersion
        self.serverName = serverName
        self.maxFrameSize = maxFrameSize
        self.maxInFlightCalls = maxInFlightCalls
        self.keepaliveIntervalMs = keepaliveIntervalMs
        self.idleTimeoutMs = idleTimeoutMs
        self.compression = compression
        self.maxBatchEvents = maxBatchEvents
    }
}

public struct Goaway: Sendable, Hashable {
    public var lastCallID: UInt32
    public var code: StatusCode
    public var reason: String
    public init(lastCallID: UInt32, code: StatusCode, reason: String) {
        self.lastCallID = lastCallID
        self.code = code
        self.reason = reason
    }
}

public enum ServingStatus: Int, Sendable, Hashable {
    case unknown = 0
    case serving = 1
    case notServing = 2
    case serviceUnknown = 3
    public var name: String {
        switch self {
        case .unknown: return "UNKNOWN"
        case .serving: return "SERVING"
        case .notServing: return "NOT_SERVING"
        case .serviceUnknown: return "SERVICE_UNKNOWN"
        }
    }
}

public struct MethodStats: Sendable, Hashable {
    public var method: MethodID
    public var calls: UInt64
    public var statuses: [StatusCode: UInt64]
    public init(method: MethodID, calls: UInt64, statuses: [StatusCode: UInt64]) {
        self.method = method
        self.calls = calls
        self.statuses = statuses
    }
}

public struct ServerStats: Sendable, Hashable {
    public var uptimeMs: Int64
    public var connectionsOpen: UInt64
    public var connectionsTotal: UInt64
    public var methods: [MethodStats]
    public var results: [ResultCode: UInt64]
    public var eventsStored: UInt64
    public var storeBytes: UInt64
    public var walBytes: UInt64
    public var commits: UInt64
    public var subscribers: UInt64
    public var version: String
    public var durability: String
    public var strict: Bool
    /// Failed authentication attempts since start.
    public var authFailures: UInt64 = 0
    /// Request bytes held by calls in flight, all connections.
    public var inFlightBytes: UInt64 = 0
    /// Authentication mode: "tokens", "none (loopback only)" or "none, INSECURE".
    public var auth: String = ""
    public init(uptimeMs: Int64 = 0, connectionsOpen: UInt64 = 0, connectionsTotal: UInt64 = 0, methods: [MethodStats] = [],
                results: [ResultCode: UInt64] = [:], eventsStored: UInt64 = 0, storeBytes: UInt64 = 0, walBytes: UInt64 = 0,
                commits: UInt64 = 0, subscribers: UInt64 = 0, version: String = "", durability: String = "", strict: Bool = false) {
        self.uptimeMs = uptimeMs
        self.connectionsOpen = connectionsOpen
        self.connectionsTotal = connectionsTotal
        self.methods = methods
        self.results = results
        self.eventsStored = eventsStored
        self.storeBytes = storeBytes
        self.walBytes = walBytes
        self.commits = commits
        self.subscribers = subscribers
        self.version = version
        self.durability = durability
        self.strict = strict
    }
}
