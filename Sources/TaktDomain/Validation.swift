// Acceptance rules of spec/metrics.md section 1 that need no store: shape, clock skew, confidence.
// Duplicate and unknown-entity checks need the store and happen there.

public enum IdentifierRules {
    public static let maxLength = 64

    /// 1–64 bytes of `[A-Za-z0-9_.:-]`.
    public static func isValid(_ id: String) -> Bool {
        let bytes = id.utf8
        guard !bytes.isEmpty, bytes.count <= maxLength else { return false }
        for b in bytes {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."),
                 UInt8(ascii: ":"), UInt8(ascii: "-"):
                continue
            default:
                return false
            }
        }
        return true
    }
}

/// Server-side acceptance settings (spec section 1 defaults).
public struct AcceptancePolicy: Sendable, Hashable {
    public static let maxCount: UInt32 = 10_000
    public static let maxModelVersionBytes = 64

    /// Events below this confidence are rejected with `LOW_CONFIDENCE`. Default 0.70.
    public var minConfidence: Double
    /// Events further than this ahead of the server clock are `INVALID`. Default 5 minutes.
    public var maxFutureSkewMs: Int64
    /// Events older than this lower bound (ms since epoch) are `INVALID`; nil means none (the default).
    public var minEventTimeMs: Int64?
    /// Strict mode rejects unregistered workers and workstations with `UNKNOWN_ENTITY`.
    public var strict: Bool

    public init(minConfidence: Double = 0.70, maxFutureSkewMs: Int64 = 300_000,
                minEventTimeMs: Int64? = nil, strict: Bool = false) {
        self.minConfidence = minConfidence
        self.maxFutureSkewMs = maxFutureSkewMs
        self.minEventTimeMs = minEventTimeMs
        self.strict = strict
    }

    /// Checks everything that does not need the store. Returns nil when the event may be stored,
    /// or the rejection (`INVALID` or `LOW_CONFIDENCE`) with a message naming the field.
    public func precheck(_ e: Event, nowMs: Int64) -> EventResult? {
        if e.eventTimeMs <= 0 {
            return EventResult(.invalid, "event_time_ms: must be > 0, got \(e.eventTimeMs)")
        }
        if !IdentifierRules.isValid(e.workerID) {
            return EventResult(.invalid, "worker_id: " + Self.describeBadID(e.workerID))
        }
        if !IdentifierRules.isValid(e.workstationID) {
            return EventResult(.invalid, "workstation_id: " + Self.describeBadID(e.workstationID))
        }
        if !e.siteID.isEmpty && !IdentifierRules.isValid(e.siteID) {
            return EventResult(.invalid, "site_id: " + Self.describeBadID(e.siteID))
        }
        if e.modelVersion.utf8.count > Self.maxModelVersionBytes {
            return EventResult(.invalid, "model_version: longer than \(Self.maxModelVersionBytes) bytes")
        }
        if !e.confidence.isFinite || e.confidence < 0 || e.confidence > 1 {
            return EventResult(.invalid, "confidence: must be a finite number in [0, 1], got \(e.confidence)")
        }
        if e.kind == .productCount && e.count > Self.maxCount {
            return EventResult(.invalid, "count: must be at most \(Self.maxCount), got \(e.count)")
        }
        if e.eventTimeMs > nowMs &+ maxFutureSkewMs {
            return EventResult(.invalid,
                "event_time_ms: \(e.eventTimeMs - nowMs) ms ahead of the server clock (max_future_skew \(maxFutureSkewMs) ms)")
        }
        if let floor = minEventTimeMs, e.eventTimeMs < floor {
            return EventResult(.invalid, "event_time_ms: before the configured lower bound \(floor)")
        }
        if e.confidence < minConfidence {
            return EventResult(.lowConfidence, "confidence \(e.confidence) below min_confidence \(minConfidence)")
        }
        return nil
    }

    static func describeBadID(_ id: String) -> String {
        if id.isEmpty { return "required, got an empty string" }
        if id.utf8.count > IdentifierRules.maxLength { return "longer than \(IdentifierRules.maxLength) bytes" }
        return "only [A-Za-z0-9_.:-] allowed, got \"\(id.prefix(80))\""
    }
}
