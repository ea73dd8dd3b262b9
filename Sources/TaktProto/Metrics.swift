// metrics.proto: MetricsQuery and MetricsResponse.
import TaktDomain
import TaktProtoC

/// `MetricsQuery`. On the wire 0 means "unset" for the window bounds (nil here) and for `bucket_ms`
/// (3,600,000 here); an empty site id is nil.
extension MetricsQuery: ProtoMessage, ProtoDecoderBacked {
    public static var protoMessageName: String { "takt.v1.MetricsQuery" }
    static let defaultBucketMs: Int64 = 3_600_000

    public func appendProtobuf(to buffer: inout [UInt8]) {
        var arena = PackArena(expectedBytes: (siteID?.utf8.count ?? 0) + (workerIDs.count + workstationIDs.count) * 32 + 64)
        var m = Takt__V1__MetricsQuery()
        takt__v1__metrics_query__init(&m)
        m.scope = cEnum(scope.rawValue)
        m.from_ms = fromMs ?? 0
        m.to_ms = toMs ?? 0
        if let s = siteID { arena.set(&m.site_id, s) }
        m.n_worker_ids = workerIDs.count
        m.worker_ids = arena.strings(workerIDs)
        m.n_workstation_ids = workstationIDs.count
        m.workstation_ids = arena.strings(workstationIDs)
        m.bucket_ms = bucketMs
        m.utc_offset_minutes = utcOffsetMinutes
        m.timeline_subject = cEnum(timelineSubject.rawValue)
        appendPacked(&m, to: &buffer, size: takt__v1__metrics_query__get_packed_size, pack: takt__v1__metrics_query__pack)
    }

    public init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try Self.protoDecoder.decode(bytes)
    }

    static let protoDecoder = ProtoDecoder<Takt__V1__MetricsQuery, MetricsQuery>(
        protoMessageName, unpack: { takt__v1__metrics_query__unpack($0, $1, $2) },
        free: { takt__v1__metrics_query__free_unpacked($0, $1) },
        map: { (m: borrowing Takt__V1__MetricsQuery) throws(DecodeError) in
            let scopeValue = enumValue(m.scope)
            guard let scope = MetricsScope(rawValue: scopeValue) else {
                switch scopeValue {
                case 0: throw DecodeError(field: "scope", "required, got METRICS_SCOPE_UNSPECIFIED")
                default: throw DecodeError(field: "scope", "unknown MetricsScope \(scopeValue)")
                }
            }
            let site = try string(m.site_id, "site_id")
            return MetricsQuery(
                scope: scope, fromMs: m.from_ms == 0 ? nil : m.from_ms, toMs: m.to_ms == 0 ? nil : m.to_ms,
                siteID: site.isEmpty ? nil : site,
                workerIDs: try strings(m.worker_ids, m.n_worker_ids, "worker_ids"),
                workstationIDs: try strings(m.workstation_ids, m.n_workstation_ids, "workstation_ids"),
                bucketMs: m.bucket_ms == 0 ? defaultBucketMs : m.bucket_ms,
                utcOffsetMinutes: m.utc_offset_minutes,
                timelineSubject: try TimelineSubject(wire: enumValue(m.timeline_subject), "timeline_subject"))
        })
}

extension TimelineSubject {
    /// 0 (UNSPECIFIED) means FACTORY.
    init(wire value: Int, _ field: @autoclosure () -> String) throws(DecodeError) {
        if value == 0 { self = .factory; return }
        guard let s = TimelineSubject(rawValue: value) else {
            throw DecodeError(field: field(), "unknown TimelineSubject \(value)")
        }
        self = s
    }
}

/// `MetricsResponse`. The window is `from_ms`/`to_ms`; a present `model_health_overall` means the model
/// health report is present (its `toMs` is the window's `to_ms`: the wire does not carry it twice).
/// Absent times (`lastSeenMs`, `lastActivityMs`) are 0 on the wire; optional model-health means use `has_*`.
extension MetricsResponse: ProtoMessage, ProtoDecoderBacked {
    public static var protoMessageName: String { "takt.v1.MetricsResponse" }

    public func appendProtobuf(to buffer: inout [UInt8]) {
        let healthCount = modelHealth.map { $0.versions.count + 1 } ?? 0
        let buckets = timeline.reduce(0) { $0 + $1.buckets.count }
        var arena = PackArena(expectedBytes:
            workers.count * (MemoryLayout<Takt__V1__WorkerMetrics>.stride + 48)
            + workstations.count * (MemoryLayout<Takt__V1__WorkstationMetrics>.stride + 48)
            + timeline.count * (MemoryLayout<Takt__V1__TimelineRow>.stride + 48)
            + buckets * (MemoryLayout<Takt__V1__TimelineBucket>.stride + 8)
            + healthCount * (MemoryLayout<Takt__V1__ModelHealth>.stride + 32) + 256)
        var m = Takt__V1__MetricsResponse()
        takt__v1__metrics_response__init(&m)
        m.from_ms = window.fromMs
        m.to_ms = window.toMs
        if let f = factory {
            m.factory = arena.message { _, p in
                takt__v1__factory_metrics__init(p)
                p.pointee.active_workers = f.activeWorkers
                p.pointee.active_workstations = f.activeWorkstations
                p.pointee.total_working_ms = f.totalWorkingMs
                p.pointee.total_units = f.totalUnits
                p.pointee.avg_utilization_pct = f.avgUtilizationPct
                p.pointee.avg_units_per_hour = f.avgUnitsPerHour
            }
        }
        m.n_workers = workers.count
        m.workers = arena.messages(workers) { arena, p, w in
            takt__v1__worker_metrics__init(p)
            arena.set(&p.pointee.site_id, w.siteID)
            arena.set(&p.pointee.worker_id, w.workerID)
            p.pointee.working_ms = w.workingMs
            p.pointee.idle_ms = w.idleMs
            p.pointee.absent_ms = w.absentMs
            p.pointee.utilization_pct = w.utilizationPct
            p.pointee.units = w.units
            p.pointee.units_outside_working = w.unitsOutsideWorking
            p.pointee.units_per_hour = w.unitsPerHour
            p.pointee.last_seen_ms = w.lastSeenMs ?? 0
        }
        m.n_workstations = workstations.count
        m.workstations = arena.messages(workstations) { arena, p, s in
            takt__v1__workstation_metrics__init(p)
            arena.set(&p.pointee.site_id, s.siteID)
            arena.set(&p.pointee.workstation_id, s.workstationID)
            p.pointee.occupancy_ms = s.occupancyMs
            p.pointee.working_ms = s.workingMs
            p.pointee.utilization_pct = s.utilizationPct
            p.pointee.units = s.units
            p.pointee.throughput_per_hour = s.throughputPerHour
            p.pointee.last_activity_ms = s.lastActivityMs ?? 0
        }
        m.n_timeline = timeline.count
        m.timeline = arena.messages(timeline) { arena, p, row in
            takt__v1__timeline_row__init(p)
            p.pointee.subject = cEnum(row.subject.rawValue)
            arena.set(&p.pointee.site_id, row.siteID)
            arena.set(&p.pointee.entity_id, row.entityID)
            p.pointee.n_buckets = row.buckets.count
            p.pointee.buckets = arena.messages(row.buckets) { _, b, bucket in
                takt__v1__timeline_bucket__init(b)
                b.pointee.start_ms = bucket.startMs
                b.pointee.end_ms = bucket.endMs
                b.pointee.working_ms = bucket.workingMs
                b.pointee.idle_ms = bucket.idleMs
                b.pointee.utilization_pct = bucket.utilizationPct
                b.pointee.units = bucket.units
            }
        }
        if let report = modelHealth {
            m.model_health_overall = arena.message { arena, p in fillModelHealth(p, report.overall, overall: true, &arena) }
            m.n_model_health = report.versions.count
            m.model_health = arena.messages(report.versions) { arena, p, h in fillModelHealth(p, h, overall: false, &arena) }
        }
        appendPacked(&m, to: &buffer, size: takt__v1__metrics_response__get_packed_size,
                     pack: takt__v1__metrics_response__pack)
    }

    public init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try Self.protoDecoder.decode(bytes)
    }

    static let protoDecoder = ProtoDecoder<Takt__V1__MetricsResponse, MetricsResponse>(
        protoMessageName, unpack: { takt__v1__metrics_response__unpack($0, $1, $2) },
        free: { takt__v1__metrics_response__free_unpacked($0, $1) },
        map: { (m: borrowing Takt__V1__MetricsResponse) throws(DecodeError) in
            let window = TimeWindow(fromMs: m.from_ms, toMs: m.to_ms)
            let factory = m.factory.map { p in
                FactoryMetrics(activeWorkers: p.pointee.active_workers, activeWorkstations: p.pointee.active_workstations,
                               totalWorkingMs: p.pointee.total_working_ms, totalUnits: p.pointee.total_units,
                               avgUtilizationPct: p.pointee.avg_utilization_pct,
                               avgUnitsPerHour: p.pointee.avg_units_per_hour)
            }
            let workers = try messages(m.workers, m.n_workers, "workers") {
                (w: borrowing Takt__V1__WorkerMetrics, path) throws(DecodeError) in
                WorkerMetrics(siteID: try string(w.site_id, "\(path()).site_id"),
                              workerID: try string(w.worker_id, "\(path()).worker_id"),
                              workingMs: w.working_ms, idleMs: w.idle_ms, absentMs: w.absent_ms,
                              utilizationPct: w.utilization_pct, units: w.units,
                              unitsOutsideWorking: w.units_outside_working, unitsPerHour: w.units_per_hour,
                              lastSeenMs: w.last_seen_ms == 0 ? nil : w.last_seen_ms)
            }
            let workstations = try messages(m.workstations, m.n_workstations, "workstations") {
                (s: borrowing Takt__V1__WorkstationMetrics, path) throws(DecodeError) in
                WorkstationMetrics(siteID: try string(s.site_id, "\(path()).site_id"),
                                   workstationID: try string(s.workstation_id, "\(path()).workstation_id"),
                                   occupancyMs: s.occupancy_ms, workingMs: s.working_ms,
                                   utilizationPct: s.utilization_pct, units: s.units,
                                   throughputPerHour: s.throughput_per_hour,
                                   lastActivityMs: s.last_activity_ms == 0 ? nil : s.last_activity_ms)
            }
            let timeline = try messages(m.timeline, m.n_timeline, "timeline") {
                (r: borrowing Takt__V1__TimelineRow, path) throws(DecodeError) in
                TimelineRow(subject: try TimelineSubject(wire: enumValue(r.subject), "\(path()).subject"),
                            siteID: try string(r.site_id, "\(path()).site_id"),
                            entityID: try string(r.entity_id, "\(path()).entity_id"),
                            buckets: try messages(r.buckets, r.n_buckets, "\(path()).buckets") {
                                (b: borrowing Takt__V1__TimelineBucket, _) in
                                TimelineBucket(startMs: b.start_ms, endMs: b.end_ms, workingMs: b.working_ms,
                                               idleMs: b.idle_ms, utilizationPct: b.utilization_pct, units: b.units)
                            })
            }
            var health: ModelHealthReport?
            if let overall = m.model_health_overall {
                health = ModelHealthReport(
                    toMs: m.to_ms,
                    overall: try mapModelHealth(overall.pointee, { "model_health_overall" }),
                    versions: try messages(m.model_health, m.n_model_health, "model_health", mapModelHealth))
            } else if m.n_model_health > 0 {
                throw DecodeError(field: "model_health_overall", "missing while model_health has \(m.n_model_health) rows")
            }
            return MetricsResponse(window: window, factory: factory, workers: workers, workstations: workstations,
                                   timeline: timeline, modelHealth: health)
        })
}

/// The all-versions row has `overall` set and no version (nil in the domain).
func fillModelHealth(_ p: UnsafeMutablePointer<Takt__V1__ModelHealth>, _ h: ModelHealth, overall: Bool,
                     _ arena: inout PackArena) {
    takt__v1__model_health__init(p)
    if !overall, let v = h.modelVersion { arena.set(&p.pointee.model_version, v) }
    p.pointee.overall = overall ? 1 : 0
    p.pointee.samples = h.samples
    p.pointee.mean_confidence = h.meanConfidence
    p.pointee.stddev_confidence = h.stddevConfidence
    p.pointee.status = cEnum(h.status.rawValue)
    p.pointee.low_confidence_rejections_24h = h.lowConfidenceRejections24h
    if let v = h.recentMean {
        p.pointee.has_recent_mean = 1
        p.pointee.recent_mean = v
    }
    if let v = h.baselineMean {
        p.pointee.has_baseline_mean = 1
        p.pointee.baseline_mean = v
    }
    if let v = h.driftPct {
        p.pointee.has_drift_pct = 1
        p.pointee.drift_pct = v
    }
    p.pointee.drift_detected = h.driftDetected ? 1 : 0
}

func mapModelHealth(_ h: borrowing Takt__V1__ModelHealth, _ path: () -> String) throws(DecodeError) -> ModelHealth {
    let statusValue = enumValue(h.status)
    guard let status = ModelStatus(rawValue: statusValue) else {
        throw DecodeError(field: "\(path()).status", statusValue == 0 ? "required, got MODEL_STATUS_UNSPECIFIED"
                                                                       : "unknown ModelStatus \(statusValue)")
    }
    let version = try string(h.model_version, "\(path()).model_version")
    return ModelHealth(
        modelVersion: h.overall != 0 ? nil : version, samples: h.samples, meanConfidence: h.mean_confidence,
        stddevConfidence: h.stddev_confidence, status: status,
        lowConfidenceRejections24h: h.low_confidence_rejections_24h,
        recentMean: h.has_recent_mean != 0 ? h.recent_mean : nil,
        baselineMean: h.has_baseline_mean != 0 ? h.baseline_mean : nil,
        driftPct: h.has_drift_pct != 0 ? h.drift_pct : nil,
        driftDetected: h.drift_detected != 0)
}
