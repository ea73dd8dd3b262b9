// A direct transcription of spec/metrics.md sections 2–7 over a flat list of accepted events.
// Clear over fast: tests and audits compare `MetricsIndex` with it. Row selection, timeline and model
// health conventions are the ones documented on `MetricsIndex`.
import TaktDomain

public struct ReferenceMetrics: Sendable {
    /// One interval of a worker's state timeline (spec section 2), unclipped.
    public struct Interval: Sendable, Hashable {
        public var start: Int64
        public var end: Int64
        public var kind: EventKind
        public var workstationID: String
    }

    struct WorkerKey: Hashable, Sendable {
        var siteID: String
        var workerID: String
    }

    public let capMs: Int64
    /// Accepted events, sites defaulted.
    let events: [Event]
    let lowConfidence: [Event]
    let timelines: [WorkerKey: [Interval]]

    /// `events`: accepted, deduplicated events; `lowConfidence`: `LOW_CONFIDENCE` rejections (model health only).
    public init(events: [Event], lowConfidence: [Event] = [], capMs: Int64 = MetricsFormula.defaultCapMs) {
        self.capMs = capMs
        self.events = events.map { e in
            var e = e
            e.siteID = e.effectiveSiteID
            return e
        }
        self.lowConfidence = lowConfidence.map { e in
            var e = e
            e.siteID = e.effectiveSiteID
            return e
        }
        var byWorker: [WorkerKey: [Event]] = [:]
        for e in self.events where e.kind.isState {
            byWorker[WorkerKey(siteID: e.siteID, workerID: e.workerID), default: []].append(e)
        }
        var timelines: [WorkerKey: [Interval]] = [:]
        for (key, states) in byWorker {
            timelines[key] = Self.stateTimeline(states, capMs: capMs)
        }
        self.timelines = timelines
    }

    public init(stored: [StoredEvent], lowConfidence: [Event] = [], capMs: Int64 = MetricsFormula.defaultCapMs) {
        self.init(events: stored.map(\.event), lowConfidence: lowConfidence, capMs: capMs)
    }

    /// Spec section 2: sort by (time, workstation byte-wise, kind); event i lasts until the next event or CAP.
    public static func stateTimeline(_ states: [Event], capMs: Int64) -> [Interval] {
        let sorted = states.sorted { a, b in
            if a.eventTimeMs != b.eventTimeMs { return a.eventTimeMs < b.eventTimeMs }
            if a.workstationID != b.workstationID { return MetricsFormula.byteLess(a.workstationID, b.workstationID) }
            return a.kind < b.kind
        }
        var result: [Interval] = []
        for (i, e) in sorted.enumerated() {
            var end = e.eventTimeMs + capMs
            if i + 1 < sorted.count { end = min(end, sorted[i + 1].eventTimeMs) }
            result.append(Interval(start: e.eventTimeMs, end: end, kind: e.kind, workstationID: e.workstationID))
        }
        return result
    }

    // MARK: - Which rows

    func siteMatches(_ site: String, _ query: MetricsQuery) -> Bool {
        guard let wanted = query.siteID, !wanted.isEmpty else { return true }
        return site == wanted
    }

    /// Every (site, worker) with an accepted event, in the query's site(s), byte-wise ordered.
    func knownWorkers(_ query: MetricsQuery, filtered: Bool) -> [WorkerKey] {
        var keys = Set<WorkerKey>()
        for e in events where siteMatches(e.siteID, query) {
            if filtered && !query.workerIDs.isEmpty && !query.workerIDs.contains(e.workerID) { continue }
            keys.insert(WorkerKey(siteID: e.siteID, workerID: e.workerID))
        }
        return keys.sorted { a, b in
            a.siteID != b.siteID ? MetricsFormula.byteLess(a.siteID, b.siteID) : MetricsFormula.byteLess(a.workerID, b.workerID)
        }
    }

    func knownWorkstations(_ query: MetricsQuery, filtered: Bool) -> [WorkerKey] {
        var keys = Set<WorkerKey>()
        for e in events where siteMatches(e.siteID, query) {
            if filtered && !query.workstationIDs.isEmpty && !query.workstationIDs.contains(e.workstationID) { continue }
            keys.insert(WorkerKey(siteID: e.siteID, workerID: e.workstationID))
        }
        return keys.sorted { a, b in
            a.siteID != b.siteID ? MetricsFormula.byteLess(a.siteID, b.siteID) : MetricsFormula.byteLess(a.workerID, b.workerID)
        }
    }

    // MARK: - Section 3

    /// The interval of the worker's timeline containing `t` (`start ≤ t < end`), if any.
    func interval(of key: WorkerKey, at t: Int64) -> Interval? {
        timelines[key]?.first { $0.start <= t && t < $0.end }
    }

    func workerMetrics(_ key: WorkerKey, _ window: TimeWindow) -> WorkerMetrics {
        var m = WorkerMetrics(siteID: key.siteID, workerID: key.workerID)
        for iv in timelines[key] ?? [] {
            let s = max(iv.start, window.fromMs), e = min(iv.end, window.toMs)
            guard e > s else { continue }
            if iv.kind == .working { m.workingMs += e - s }
            if iv.kind == .idle { m.idleMs += e - s }
        }
        for ev in events where ev.siteID == key.siteID && ev.workerID == key.workerID {
            let t = ev.eventTimeMs
            guard t >= window.fromMs && t < window.toMs else { continue }
            m.lastSeenMs = max(m.lastSeenMs ?? t, t)
            guard ev.kind == .productCount else { continue }
            if interval(of: key, at: t)?.kind == .working {
                m.units += Int64(ev.units)
            } else {
                m.unitsOutsideWorking += Int64(ev.units)
            }
        }
        m.absentMs = window.lengthMs - m.workingMs - m.idleMs
        m.utilizationPct = MetricsFormula.utilization(workingMs: m.workingMs, idleMs: m.idleMs)
        m.unitsPerHour = MetricsFormula.perHour(units: m.units, ms: m.workingMs)
        return m
    }

    public func workers(window: TimeWindow, query: MetricsQuery) -> [WorkerMetrics] {
        knownWorkers(query, filtered: true).map { workerMetrics($0, window) }
    }

    // MARK: - Section 5

    /// Total length of the union of half-open intervals.
    static func unionLength(_ intervals: [(Int64, Int64)]) -> Int64 {
        let sorted = intervals.filter { $0.1 > $0.0 }.sorted { $0.0 < $1.0 }
        var total: Int64 = 0
        var current: (Int64, Int64)?
        for iv in sorted {
            if let c = current, iv.0 <= c.1 {
                current = (c.0, max(c.1, iv.1))
            } else {
                if let c = current { total += c.1 - c.0 }
                current = iv
            }
        }
        if let c = current { total += c.1 - c.0 }
        return total
    }

    func workstationMetrics(_ key: WorkerKey, _ window: TimeWindow) -> WorkstationMetrics {
        let site = key.siteID, station = key.workerID
        var m = WorkstationMetrics(siteID: site, workstationID: station)
        var occupied: [(Int64, Int64)] = []
        var working: [(Int64, Int64)] = []
        for (worker, intervals) in timelines where worker.siteID == site {
            for iv in intervals where iv.workstationID == station && (iv.kind == .working || iv.kind == .idle) {
                let s = max(iv.start, window.fromMs), e = min(iv.end, window.toMs)
                occupied.append((s, e))
                if iv.kind == .working { working.append((s, e)) }
            }
        }
        m.occupancyMs = Self.unionLength(occupied)
        m.workingMs = Self.unionLength(working)
        for ev in events where ev.siteID == site && ev.workstationID == station {
            let t = ev.eventTimeMs
            guard t >= window.fromMs && t < window.toMs else { continue }
            m.lastActivityMs = max(m.lastActivityMs ?? t, t)
            guard ev.kind == .productCount else { continue }
            if let iv = interval(of: WorkerKey(siteID: site, workerID: ev.workerID), at: t),
               iv.kind == .working, iv.workstationID == station {
                m.units += Int64(ev.units)
            }
        }
        m.utilizationPct = MetricsFormula.occupancyUtilization(occupancyMs: m.occupancyMs, lengthMs: window.lengthMs)
        m.throughputPerHour = MetricsFormula.perHour(units: m.units, ms: m.occupancyMs)
        return m
    }

    public func workstations(window: TimeWindow, query: MetricsQuery) -> [WorkstationMetrics] {
        knownWorkstations(query, filtered: true).map { workstationMetrics($0, window) }
    }

    /// Factory figures over every worker and workstation of the query's site(s); id filters do not apply.
    public func factory(window: TimeWindow, query: MetricsQuery) -> FactoryMetrics {
        let workers = knownWorkers(query, filtered: false).map { workerMetrics($0, window) }
        let active = knownWorkstations(query, filtered: false).filter { workstationMetrics($0, window).occupancyMs > 0 }
        return MetricsFormula.factory(workers: workers, activeWorkstations: Int64(active.count))
    }

    public func report(window: TimeWindow, query: MetricsQuery) -> MetricsReport {
        MetricsReport(window: window, workers: workers(window: window, query: query),
                      workstations: workstations(window: window, query: query),
                      factory: factory(window: window, query: query))
    }

    // MARK: - Section 7

    public func timeline(window: TimeWindow, query: MetricsQuery) -> [TimelineRow] {
        let grid = TimelineGrid(window: window, bucketMs: query.bucketMs, utcOffsetMinutes: query.utcOffsetMinutes)
        let buckets = (0..<grid.count).map { grid.bucket($0) }
        switch query.timelineSubject {
        case .worker:
            return knownWorkers(query, filtered: true).map { key in
                TimelineRow(subject: .worker, siteID: key.siteID, entityID: key.workerID, buckets: buckets.map { b in
                    let m = workerMetrics(key, TimeWindow(fromMs: b.start, toMs: b.end))
                    return TimelineBucket(startMs: b.start, endMs: b.end, workingMs: m.workingMs, idleMs: m.idleMs,
                                          utilizationPct: m.utilizationPct, units: m.units)
                })
            }
        case .workstation:
            return knownWorkstations(query, filtered: true).map { key in
                TimelineRow(subject: .workstation, siteID: key.siteID, entityID: key.workerID, buckets: buckets.map { b in
                    let m = workstationMetrics(key, TimeWindow(fromMs: b.start, toMs: b.end))
                    return TimelineBucket(startMs: b.start, endMs: b.end, workingMs: m.workingMs,
                                          idleMs: m.occupancyMs - m.workingMs, utilizationPct: m.utilizationPct,
                                          units: m.units)
                })
            }
        case .factory:
            let keys = knownWorkers(query, filtered: false)
            let row = buckets.map { b in
                let window = TimeWindow(fromMs: b.start, toMs: b.end)
                var bucket = TimelineBucket(startMs: b.start, endMs: b.end)
                var active = 0
                var utilizationSum = 0.0
                for key in keys {
                    let m = workerMetrics(key, window)
                    bucket.workingMs += m.workingMs
                    bucket.idleMs += m.idleMs
                    bucket.units += m.units
                    if m.workingMs + m.idleMs > 0 {
                        active += 1
                        utilizationSum += m.utilizationPct
                    }
                }
                bucket.utilizationPct = active == 0 ? 0 : utilizationSum / Double(active)
                return bucket
            }
            return [TimelineRow(subject: .factory, siteID: query.siteID ?? "", entityID: "", buckets: row)]
        }
    }

    // MARK: - Section 6

    public func modelHealth(toMs: Int64, siteID: String?) -> ModelHealthReport {
        let query = MetricsQuery(scope: .modelHealth, siteID: siteID)
        let accepted = events.filter { siteMatches($0.siteID, query) && $0.eventTimeMs < toMs }
            .sorted { ($0.eventTimeMs, $0.confidence) < ($1.eventTimeMs, $1.confidence) }
        let rejected = lowConfidence.filter { siteMatches($0.siteID, query) && $0.eventTimeMs < toMs }
        var versions = Set(accepted.map(\.modelVersion))
        versions.formUnion(rejected.map(\.modelVersion))

        func health(_ version: String?) -> ModelHealth {
            let mine = accepted.filter { version == nil || $0.modelVersion == version }
            let sample = mine.suffix(MetricsFormula.modelHealthSampleSize).map(\.confidence)
            let stats = MetricsFormula.meanAndStddev(sample)
            var h = ModelHealth(modelVersion: version, samples: Int64(sample.count), meanConfidence: stats.mean,
                                stddevConfidence: stats.stddev, status: ModelStatus(mean: stats.mean, samples: sample.count))
            let dayAgo = toMs - MetricsFormula.dayMs, weekBefore = toMs - 8 * MetricsFormula.dayMs
            h.lowConfidenceRejections24h = Int64(rejected.filter {
                (version == nil || $0.modelVersion == version) && $0.eventTimeMs >= dayAgo
            }.count)
            let recent = mine.filter { $0.eventTimeMs >= dayAgo }.map(\.confidence)
            let baseline = mine.filter { $0.eventTimeMs >= weekBefore && $0.eventTimeMs < dayAgo }.map(\.confidence)
            let d = MetricsFormula.drift(recentSum: recent.reduce(0, +), recentCount: recent.count,
                                         baselineSum: baseline.reduce(0, +), baselineCount: baseline.count)
            h.recentMean = d.recentMean
            h.baselineMean = d.baselineMean
            h.driftPct = d.driftPct
            h.driftDetected = d.detected
            return h
        }
        return ModelHealthReport(toMs: toMs, overall: health(nil),
                                 versions: versions.sorted(by: MetricsFormula.byteLess).map { health($0) })
    }
}
