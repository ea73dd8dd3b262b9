// Events as defined by spec/metrics.md section 1. Pure Swift: no C, no I/O.

/// What a camera saw. The raw values are the wire enum values of `takt.v1.EventKind`.
public enum EventKind: Int, Sendable, Hashable, CaseIterable, Comparable {
    case absent = 1
    case idle = 2
    case working = 3
    case productCount = 4

    /// Spec name (`working`, `idle`, `absent`, `product_count`).
    public var name: String {
        switch self {
        case .working: return "working"
        case .idle: return "idle"
        case .absent: return "absent"
        case .productCount: return "product_count"
        }
    }

    public init?(name: String) {
        switch name {
        case "working": self = .working
        case "idle": self = .idle
        case "absent": self = .absent
        case "product_count": self = .productCount
        default: return nil
        }
    }

    /// State kinds change the worker's state timeline; `product_count` never does.
    public var isState: Bool { self != .productCount }

    /// Same-instant order of spec section 2: absent < idle < working (product_count last).
    public static func < (lhs: EventKind, rhs: EventKind) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Sender-chosen idempotency key: a gateway id plus a sequence number unique within that gateway.
public struct IdempotencyKey: Sendable, Hashable {
    public var gatewayID: String
    public var sequence: UInt64
    public init(gatewayID: String, sequence: UInt64) {
        self.gatewayID = gatewayID
        self.sequence = sequence
    }
}

/// One activity event as sent by a gateway (not yet validated).
public struct Event: Sendable, Hashable {
    public static let defaultSite = "default"

    /// Event time, ms since the Unix epoch (UTC). Must be > 0.
    public var eventTimeMs: Int64
    public var workerID: String
    public var workstationID: String
    public var kind: EventKind
    /// In [0, 1].
    public var confidence: Double
    /// Units for `product_count`: 1...10_000; 0 means 1. Ignored for state kinds.
    public var count: UInt32
    /// Empty means `"default"`.
    public var siteID: String
    /// At most 64 bytes; may be empty.
    public var modelVersion: String
    public var idempotencyKey: IdempotencyKey?

    public init(
        eventTimeMs: Int64, workerID: String, workstationID: String, kind: EventKind,
        confidence: Double, count: UInt32 = 0, siteID: String = Event.defaultSite,
        modelVersion: String = "", idempotencyKey: IdempotencyKey? = nil
    ) {
        self.eventTimeMs = eventTimeMs
        self.workerID = workerID
        self.workstationID = workstationID
        self.kind = kind
        self.confidence = confidence
        self.count = count
        self.siteID = siteID
        self.modelVersion = modelVersion
        self.idempotencyKey = idempotencyKey
    }

    /// The site with the spec default applied.
    public var effectiveSiteID: String { siteID.isEmpty ? Event.defaultSite : siteID }

    /// Units this event contributes: `count` with 0 meaning 1; 0 for state kinds.
    public var units: UInt32 {
        guard kind == .productCount else { return 0 }
        return count == 0 ? 1 : count
    }

    /// The event's identity (spec section 1): a replay with the same identity is a duplicate.
    public var identity: EventIdentity {
        EventIdentity(siteID: effectiveSiteID, workerID: workerID, workstationID: workstationID,
                      kind: kind, eventTimeMs: eventTimeMs)
    }
}

/// `(site_id, worker_id, workstation_id, kind, event_time_ms)`.
public struct EventIdentity: Sendable, Hashable {
    public var siteID: String
    public var workerID: String
    public var workstationID: String
    public var kind: EventKind
    public var eventTimeMs: Int64
    public init(siteID: String, workerID: String, workstationID: String, kind: EventKind, eventTimeMs: Int64) {
        self.siteID = siteID
        self.workerID = workerID
        self.workstationID = workstationID
        self.kind = kind
        self.eventTimeMs = eventTimeMs
    }
}

/// An accepted event as stored: the event (site defaulted, count normalised) plus the server's receive time.
public struct StoredEvent: Sendable, Hashable {
    public var event: Event
    /// Processing time, ms since the epoch, set by the server.
    public var receivedAtMs: Int64
    /// Store-assigned row id: increases with commit order; used as a listing cursor.
    public var sequence: Int64
    public init(event: Event, receivedAtMs: Int64, sequence: Int64) {
        self.event = event
        self.receivedAtMs = receivedAtMs
        self.sequence = sequence
    }
}

/// Per-event result codes of spec section 1. Raw values are the wire enum values.
public enum ResultCode: Int, Sendable, Hashable, CaseIterable {
    case accepted = 1
    case duplicate = 2
    case lowConfidence = 3
    case invalid = 4
    case unknownEntity = 5

    public var name: String {
        switch self {
        case .accepted: return "ACCEPTED"
        case .duplicate: return "DUPLICATE"
        case .lowConfidence: return "LOW_CONFIDENCE"
        case .invalid: return "INVALID"
        case .unknownEntity: return "UNKNOWN_ENTITY"
        }
    }

    public init?(name: String) {
        guard let code = ResultCode.allCases.first(where: { $0.name == name }) else { return nil }
        self = code
    }
}

/// The result of one event: a code and, for anything not accepted, a message naming the reason.
public struct EventResult: Sendable, Hashable {
    public var code: ResultCode
    public var message: String
    public init(_ code: ResultCode, _ message: String = "") {
        self.code = code
        self.message = message
    }
    public static let accepted = EventResult(.accepted)
}
