// Metric queries and results, spec/metrics.md sections 3–7. Field names follow the spec.

/// A half-open window `[fromMs, toMs)` in ms since the epoch.
public struct TimeWindow: Sendable, Hashable {
    public var fromMs: Int64
    public var toMs: Int64
    public init(fromMs: Int64, toMs: Int64) {
        self.fromMs = fromMs
        self.toMs = toMs
    }
    public var lengthMs: Int64 { toMs - fromMs }
}

public enum MetricsScope: Int, Sendable, Hashable, CaseIterable {
    case factory = 1
    case workers = 2
    case workstations = 3
    case timeline = 4
    case modelHealth = 5
    /// Factory, workers and workstations of one window together (one consistent snapshot).
    case all = 6
}

/// Which entity a timeline follows.
public enum TimelineSubject: Int, Sendable, Hashable {
    case factory = 1
    case worker = 2
    case workstation = 3
}

public struct MetricsQuery: Sendable, Hashable {
    public static let maxIDs = 1_000
    public static let defaultWindowMs: Int64 = 24 * 3_600_000
    public static let maxTimelineBuckets = 10_000

    public var scope: MetricsScope
    /// nil: `toMs − 24 h`.
    public var fromMs: Int64?
    /// nil: now. Always clipped to now.
    public var toMs: Int64?
    /// nil or empty: every site.
    public var siteID: String?
    /// Filters for `workers` / `workstations` / timeline rows; empty means all.
    public var workerIDs: [String]
    public var workstationIDs: [String]
    /// Timeline: the bucket length in ms (must divide 24 h); default 1 h.
    public var bucketMs: Int64
    /// Timeline: fixed offset of bucket boundaries from UTC, in minutes (−14 h … +14 h).
    public var utcOffsetMinutes: Int32
    /// Timeline: which entity each row follows.
    public var timelineSubject: TimelineSubject

    public init(scope: MetricsScope, fromMs: Int64? = nil, toMs: Int64? = nil, siteID: String? = nil,
                workerIDs: [String] = [], workstationIDs: [String] = [], bucketMs: Int64 = 3_600_000,
                utcOffsetMinutes: Int32 = 0, timelineSubject: TimelineSubject = .factory) {
        self.scope = scope
        self.fromMs = fromMs
        self.toMs = toMs
        self.siteID = siteID
        self.workerIDs = workerIDs
        self.workstationIDs = workstationIDs
        self.bucketMs = bucketMs
        self.utcOffsetMinutes = utcOffsetMinutes
        self.timelineSubject = timelineSubject
    }

    /// Applies spec section 4 (defaults, clipping to now) and checks every field.
    /// Throws `INVALID_ARGUMENT` naming the field.
    public func resolvedWindow(nowMs: Int64) throws(RPCError) -> TimeWindow {
        var to = toMs ?? nowMs
        if to > nowMs { to = nowMs }
        let from = fromMs ?? (to - Self.defaultWindowMs)
        if from >= to {
            throw .invalidArgument("from_ms: must be before to_ms (after clipping to now), got from_ms=\(from) to_ms=\(to)")
        }
        if let site = siteID, !site.isEmpty, !IdentifierRules.isValid(site) {
            throw .invalidArgument("site_id: not a valid id")
        }
        if workerIDs.count > Self.maxIDs {
            throw .invalidArgument("worker_ids: at most \(Self.maxIDs) ids, got \(workerIDs.count)")
        }
        if workstationIDs.count > Self.maxIDs {
            throw .invalidArgument("workstation_ids: at most \(Self.maxIDs) ids, got \(workstationIDs.count)")
        }
        if scope == .timeline {
            let day: Int64 = 24 * 3_600_000
            if bucketMs <= 0 || day % bucketMs != 0 {
                throw .invalidArgument("bucket_ms: must divide 24 h (86400000) evenly, got \(bucketMs)")
            }
            if bucketMs < 60_000 {
                throw .invalidArgument("bucket_ms: must be at least 60000 (one minute), got \(bucketMs)")
            }
            if abs(Int(utcOffsetMinutes)) > 14 * 60 {
                throw .invalidArgument("utc_offset_minutes: must be within ±840, got \(utcOffsetMinutes)")
            }
            let buckets = (to - from + bucketMs - 1) / bucketMs + 1
            if buckets > Int64(Self.maxTimelineBuckets) {
                throw .invalidArgument("bucket_ms: window would need \(buckets) buckets, more than \(Self.maxTimelineBuckets)")
            }
        }
        return TimeWindow(fromMs: from, toMs: to)
    }
}

public struct WorkerMetrics: Sendable, Hashable {
    public var siteID: String
    public var workerID: String
    public var workingMs: Int64
    public var idleMs: Int64
    public var absentMs: Int64
    public var utilizationPct: Double
    public var units: Int64
    public var unitsOutsideWorking: Int64
    public var unitsPerHour: Double
    /// nil when the worker has no event in the window.
    public var lastSeenMs: Int64?

    public init(siteID: String, workerID: String, workingMs: Int64 = 0, idleMs: Int64 = 0, absentMs: Int64 = 0,
                utilizationPct: Double = 0, units: Int64 = 0, unitsOutsideWorking: Int64 = 0,
                unitsPerHour: Double = 0, lastSeenMs: Int64? = nil) {
        self.siteID = siteID
        self.workerID = workerID
        self.workingMs = workingMs
        self.idleMs = idleMs
        self.absentMs = absentMs
        self.utilizationPct = utilizationPct
        self.units = units
        self.unitsOutsideWorking = unitsOutsideWorking
        self.unitsPerHour = unitsPerHour
        self.lastSeenMs = lastSeenMs
    }
}

public struct WorkstationMetrics: Sendable, Hashable {
    public var siteID: String
    public var workstationID: String
    public var occupancyMs: Int64
    public var workingMs: Int64
    public var utilizationPct: Double
    public var units: Int64
    public var throughputPerHour: Double
    public var lastActivityMs: Int64?

    public init(siteID: String, workstationID: String, occupancyMs: Int64 = 0, workingMs: Int64 = 0,
                utilizationPct: Double = 0, units: Int64 = 0, throughputPerHour: Double = 0,
                lastActivityMs: Int64? = nil) {
        self.siteID = siteID
        self.workstationID = workstationID
        self.occupancyMs = occupancyMs
        self.workingMs = workingMs
        self.utilizationPct = utilizationPct
        self.units = units
        self.throughputPerHour = throughputPerHour
        self.lastActivityMs = lastActivityMs
    }
}

public struct FactoryMetrics: Sendable, Hashable {
    public var activeWorkers: Int64
    public var activeWorkstations: Int64
    public var totalWorkingMs: Int64
    public var totalUnits: Int64
    public var avgUtilizationPct: Double
    public var avgUnitsPerHour: Double

    public init(activeWorkers: Int64 = 0, activeWorkstations: Int64 = 0, totalWorkingMs: Int64 = 0,
                totalUnits: Int64 = 0, avgUtilizationPct: Double = 0, avgUnitsPerHour: Double = 0) {
        self.activeWorkers = activeWorkers
        self.activeWorkstations = activeWorkstations
        self.totalWorkingMs = totalWorkingMs
        self.totalUnits = totalUnits
        self.avgUtilizationPct = avgUtilizationPct
        self.avgUnitsPerHour = avgUnitsPerHour
    }
}

/// All three views of one window (what a dashboard shows at once).
public struct MetricsReport: Sendable, Hashable {
    public var window: TimeWindow
    public var workers: [WorkerMetrics]
    public var workstations: [WorkstationMetrics]
    public var factory: FactoryMetrics
    public init(window: TimeWindow, workers: [WorkerMetrics], workstations: [WorkstationMetrics], factory: FactoryMetrics) {
        self.window = window
        self.workers = workers
        self.workstations = workstations
        self.factory = factory
    }
}

/// One bucket `[startMs, endMs)` of a timeline (spec section 7).
public struct TimelineBucket: Sendable, Hashable {
    public var startMs: Int64
    public var endMs: Int64
    public var workingMs: Int64
    public var idleMs: Int64
    public var utilizationPct: Double
    public var units: Int64
    public init(startMs: Int64, endMs: Int64, workingMs: Int64 = 0, idleMs: Int64 = 0, utilizationPct: Double = 0,
                units: Int64 = 0) {
        self.startMs = startMs
        self.endMs = endMs
        self.workingMs = workingMs
        self.idleMs = idleMs
        self.utilizationPct = utilizationPct
        self.units = units
    }
}

/// One row of a timeline: the factory, or one worker / workstation.
public struct TimelineRow: Sendable, Hashable {
    public var subject: TimelineSubject
    public var siteID: String
    /// Worker or workstation id; empty for the factory row.
    public var entityID: String
    public var buckets: [TimelineBucket]
    public init(subject: TimelineSubject, siteID: String, entityID: String, buckets: [TimelineBucket]) {
        self.subject = subject
        self.siteID = siteID
        self.entityID = entityID
        self.buckets = buckets
    }
}

public enum ModelStatus: Int, Sendable, Hashable {
    case unknown = 1
    case healthy = 2
    case caution = 3
    case warning = 4

    public var name: String {
        switch self {
        case .unknown: return "UNKNOWN"
        case .healthy: return "HEALTHY"
        case .caution: return "CAUTION"
        case .warning: return "WARNING"
        }
    }

    /// Spec section 6 thresholds on the mean confidence of the last 100 accepted events.
    public init(mean: Double, samples: Int) {
        if samples == 0 { self = .unknown } else if mean >= 0.85 { self = .healthy } else if mean >= 0.75 { self = .caution } else { self = .warning }
    }
}

/// Model health for one `model_version`, or for all versions together (`modelVersion == nil`).
public struct ModelHealth: Sendable, Hashable {
    public var modelVersion: String?
    public var samples: Int64
    public var meanConfidence: Double
    public var stddevConfidence: Double
    public var status: ModelStatus
    public var lowConfidenceRejections24h: Int64
    public var recentMean: Double?
    public var baselineMean: Double?
    public var driftPct: Double?
    public var driftDetected: Bool

    public init(modelVersion: String?, samples: Int64 = 0, meanConfidence: Double = 0, stddevConfidence: Double = 0,
                status: ModelStatus = .unknown, lowConfidenceRejections24h: Int64 = 0, recentMean: Double? = nil,
                baselineMean: Double? = nil, driftPct: Double? = nil, driftDetected: Bool = false) {
        self.modelVersion = modelVersion
        self.samples = samples
        self.meanConfidence = meanConfidence
        self.stddevConfidence = stddevConfidence
        self.status = status
        self.lowConfidenceRejections24h = lowConfidenceRejections24h
        self.recentMean = recentMean
        self.baselineMean = baselineMean
        self.driftPct = driftPct
        self.driftDetected = driftDetected
    }
}

public struct ModelHealthReport: Sendable, Hashable {
    public var toMs: Int64
    public var overall: ModelHealth
    public var versions: [ModelHealth]
    public init(toMs: Int64, overall: ModelHealth, versions: [ModelHealth]) {
        self.toMs = toMs
        self.overall = overall
        self.versions = versions
    }
}
