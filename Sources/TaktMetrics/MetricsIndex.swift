// The server's derived metric state: every accepted event, indexed so that a window query scans only the
// events inside the window (plus one carry-in event per worker), exactly equal to `ReferenceMetrics`.
import TaktDomain
import TaktSync

/// In-memory metric index over accepted events (spec/metrics.md sections 2–7).
///
/// Storage, per site (ids interned to small integers):
/// - per worker, the state events sorted by `(time, workstation byte-wise, kind)` (spec section 2) and the
///   product events sorted by time: 12 bytes each (Int64 time + packed workstation/kind or count);
/// - per workstation, the working and idle intervals observed there, sorted by start, with their current
///   length (16 bytes each), so a workstation's union is one linear sweep with no sorting; a late event
///   changes at most one existing interval (its predecessor's end), which the insert updates in place;
/// - per model version, accepted `(time, confidence)` sorted by `(time, confidence)` with exact fixed-point
///   chunk sums, and the times of low-confidence rejections.
/// All columns live in chunks of ≤ 4,096 rows (`Series`), so a late insert costs one chunk, not a column.
///
/// Concurrency: the whole state is one value guarded by a lock (`LockedValue`). A query copies it under the lock (a
/// handful of reference-count increments), then computes on that immutable snapshot without the lock.
/// `insert` mutates the state in place under the lock; when a query still holds a snapshot, copy-on-write
/// duplicates only the chunks the insert touches. So a six-month query never blocks ingest, and every query
/// sees whole insert batches (commits), never half of one.
///
/// Conventions where the spec leaves a choice (`ReferenceMetrics` follows the same ones):
/// - Rows: `workers` / `workstations` return every worker / workstation that has at least one accepted
///   event in the selected site(s) (at any time), even with no activity in the window (absent_ms = window
///   length, last_seen_ms nil), ordered by (site_id, id) byte-wise. With id filters: exactly the requested
///   ids that exist in the selected site(s) (one row per site holding the id). Factory figures and the
///   factory timeline ignore id filters.
/// - Timeline (section 7): buckets start at local midnight + k·bucket for the query's fixed UTC offset; the
///   first and last are clipped to the window. Worker rows: working_ms, idle_ms, utilization and units as
///   worker metrics restricted to the bucket. Workstation rows: working_ms = union of working, idle_ms =
///   occupancy − working, utilization_pct = 100 × occupancy / bucket length, units as workstation units.
///   Factory row (site_id = the query's site or empty): working_ms and idle_ms summed over workers,
///   utilization_pct = mean worker utilization over workers active in the bucket, units = Σ worker units.
/// - Model health (section 6): samples are the last 100 accepted events with event time < to, ordered by
///   (event time, confidence), so ties never depend on arrival order. Rejections counted by event time in
///   [to − 24 h, to). recent = [to − 24 h, to), baseline = [to − 8 d, to − 24 h); a mean is present when its
///   window has an event, drift_pct when both windows hold ≥ 30 events (and baseline > 0); drift_detected
///   when drift_pct > 15 or the recent mean (when present) < 0.75. Versions listed: those with an accepted
///   or rejected event before `to` in the selected site(s), byte-wise ordered; "" is a version.
///   Drift means are computed from exact 2^-50 fixed-point sums (equal to the reference within ~1e-15).
public final class MetricsIndex: Sendable {
    public let capMs: Int64
    let state: LockedValue<IndexState>

    public convenience init(capMs: Int64 = MetricsFormula.defaultCapMs) {
        self.init(capMs: capMs, chunkCapacity: 4096)
    }

    /// `chunkCapacity`: rows per storage chunk (tests use tiny chunks to exercise chunk boundaries).
    init(capMs: Int64, chunkCapacity: Int) {
        precondition(capMs > 0 && capMs <= Int64(UInt32.max), "capMs must be in 1...\(UInt32.max)")
        self.capMs = capMs
        self.state = LockedValue(IndexState(chunkCapacity: chunkCapacity))
    }

    /// Adds accepted, already-deduplicated events (any event-time order). Re-inserting an identity is a
    /// caller bug: the index does not deduplicate.
    public func insert(_ events: [StoredEvent]) {
        guard !events.isEmpty else { return }
        let cap = capMs
        state.withLock { s in s.insertAccepted(events.lazy.map(\.event), capMs: cap) }
    }

    /// Adds accepted events given without store metadata (tests, tools).
    public func insert(events: [Event]) {
        guard !events.isEmpty else { return }
        let cap = capMs
        state.withLock { s in s.insertAccepted(events, capMs: cap) }
    }

    /// Adds `LOW_CONFIDENCE` rejections (already deduplicated by the caller): counted in model health only.
    public func insertLowConfidence(_ events: [StoredEvent]) {
        insertLowConfidence(events: events.map(\.event))
    }

    public func insertLowConfidence(events: [Event]) {
        guard !events.isEmpty else { return }
        state.withLock { s in
            for e in events { s.insertRejected(e) }
        }
    }

    /// Accepted events held.
    public var eventCount: Int { state.withLock { $0.acceptedCount } }

    /// Low-confidence rejections held.
    public var lowConfidenceCount: Int { state.withLock { $0.rejectedCount } }

    /// Bytes reserved by the index's columns (the bulk of its memory; excludes names and small headers).
    public var storageBytes: Int {
        let snapshot = snapshot()
        var bytes = 0
        for site in snapshot.siteStores {
            for w in site.workers { bytes += w.states.allocatedBytes + w.products.allocatedBytes }
            for s in site.stations { bytes += s.allocatedBytes }
            for v in site.versions.values { bytes += v.accepted.allocatedBytes + v.rejected.allocatedBytes }
        }
        return bytes
    }

    /// An immutable copy of the state for one query (O(1): shares storage copy-on-write).
    func snapshot() -> IndexState { state.withLock { $0 } }
}

// MARK: - State

/// Packed codes. Worker state rows: `workstation << 2 | kind` (0 absent, 1 idle, 2 working, ordered as
/// spec section 2). Product rows: `workstation << 14 | count`. Station rows: `worker << 1 | isWorking`.
enum Code {
    static let absent: UInt32 = 0
    static let idle: UInt32 = 1
    static let working: UInt32 = 2

    static func kind(_ k: EventKind) -> UInt32 {
        switch k {
        case .absent: return absent
        case .idle: return idle
        case .working: return working
        case .productCount: return absent
        }
    }

    static let maxWorkstations = 1 << 18
}

struct WorkerStore: Sendable {
    var states: Series<StateChunk>
    var products: Series<ProductChunk>
    init(chunkCapacity: Int) {
        states = Series(chunkCapacity: chunkCapacity)
        products = Series(chunkCapacity: chunkCapacity)
    }
}

struct VersionStore: Sendable {
    var accepted: Series<ConfidenceChunk>
    var rejected: Series<TimeChunk>
    init(chunkCapacity: Int) {
        accepted = Series(chunkCapacity: chunkCapacity)
        rejected = Series(chunkCapacity: chunkCapacity)
    }
}

/// Interned names in first-seen order, plus the byte-wise order of their indices.
struct NameTable: Sendable {
    private(set) var names: [String] = []
    private(set) var indexOf: [String: Int32] = [:]
    /// Indices sorted by name, byte-wise.
    private(set) var sorted: [Int32] = []

    /// Index of `name`, adding it when new (`isNew` tells which).
    mutating func intern(_ name: String) -> (index: Int32, isNew: Bool) {
        if let i = indexOf[name] { return (i, false) }
        let i = Int32(names.count)
        names.append(name)
        indexOf[name] = i
        var lo = 0, hi = sorted.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if MetricsFormula.byteLess(names[Int(sorted[mid])], name) { lo = mid + 1 } else { hi = mid }
        }
        sorted.insert(i, at: lo)
        return (i, true)
    }

    subscript(_ i: Int32) -> String { names[Int(i)] }
    var count: Int { names.count }
}

struct SiteStore: Sendable {
    var name: String
    let chunkCapacity: Int
    var workerNames = NameTable()
    var stationNames = NameTable()
    var workers: [WorkerStore] = []
    var stations: [Series<StationChunk>] = []
    /// Keyed by the global model-version index.
    var versions: [Int32: VersionStore] = [:]

    init(name: String, chunkCapacity: Int) {
        self.name = name
        self.chunkCapacity = chunkCapacity
    }

    mutating func worker(_ id: String) -> Int32 {
        let (i, isNew) = workerNames.intern(id)
        if isNew { workers.append(WorkerStore(chunkCapacity: chunkCapacity)) }
        return i
    }

    mutating func station(_ id: String) -> Int32 {
        let (i, isNew) = stationNames.intern(id)
        if isNew {
            precondition(stationNames.count <= Code.maxWorkstations, "too many workstations in one site")
            stations.append(Series(chunkCapacity: chunkCapacity))
        }
        return i
    }

    /// Spec section 2 order of two state codes at the same instant: workstation byte-wise, then kind.
    func stateLess(_ a: UInt32, _ b: UInt32) -> Bool {
        let sa = a >> 2, sb = b >> 2
        if sa != sb { return MetricsFormula.byteLess(stationNames[Int32(sa)], stationNames[Int32(sb)]) }
        return (a & 3) < (b & 3)
    }
}

struct IndexState: Sendable {
    let chunkCapacity: Int
    var sites = NameTable()
    var siteStores: [SiteStore] = []
    var versionNames = NameTable()
    var acceptedCount = 0
    var rejectedCount = 0

    init(chunkCapacity: Int) { self.chunkCapacity = chunkCapacity }

    mutating func site(_ id: String) -> Int {
        let (i, isNew) = sites.intern(id)
        if isNew { siteStores.append(SiteStore(name: id, chunkCapacity: chunkCapacity)) }
        return Int(i)
    }

    /// Inserts one commit's accepted events. Each (site, version)'s confidence rows go in sorted, as one
    /// merge per chunk: a commit of a few thousand events from several gateways lands in the last chunk of
    /// one series, and inserting them one by one moved that chunk's tail once per event.
    mutating func insertAccepted<Events: Sequence<Event>>(_ events: Events, capMs: Int64) {
        var groups: [(site: Int, version: Int32, rows: [(Int64, Double)])] = []
        var last = -1
        // A commit's events nearly always share site and model: compare the names rather than hash them.
        var siteCache: (name: String, index: Int)?
        var versionCache: (name: String, index: Int32)?
        for e in events {
            acceptedCount += 1
            let siteName = e.effectiveSiteID
            let si: Int
            if let c = siteCache, c.name == siteName { si = c.index } else {
                si = site(siteName)
                siteCache = (siteName, si)
            }
            let version: Int32
            if let c = versionCache, c.name == e.modelVersion { version = c.index } else {
                version = versionNames.intern(e.modelVersion).index
                versionCache = (e.modelVersion, version)
            }
            siteStores[si].insertActivity(e, capMs: capMs)
            if last < 0 || groups[last].site != si || groups[last].version != version {
                last = groups.firstIndex { $0.site == si && $0.version == version } ?? -1
                if last < 0 {
                    groups.append((si, version, []))
                    last = groups.count - 1
                }
            }
            groups[last].rows.append((e.eventTimeMs, e.confidence))
        }
        for g in groups {
            siteStores[g.site].versions[g.version, default: VersionStore(chunkCapacity: chunkCapacity)]
                .insertAccepted(sorted: g.rows.sorted { $0 < $1 })
        }
    }

    mutating func insertRejected(_ e: Event) {
        rejectedCount += 1
        let si = site(e.effectiveSiteID)
        let version = versionNames.intern(e.modelVersion).index
        siteStores[si].versions[version, default: VersionStore(chunkCapacity: chunkCapacity)].insertRejected(e.eventTimeMs)
    }
}

extension VersionStore {
    /// Where `(t, confidence)` goes: after every row with a smaller or equal `(time, confidence)`.
    func acceptedPlace(_ t: Int64, _ confidence: Double) -> SeriesPosition {
        var p = accepted.lowerBound(t)
        while p != accepted.endPosition, accepted.time(at: p) == t,
              accepted.chunks[p.chunk].confidences[p.row] <= confidence {
            p = accepted.next(p)
        }
        return p
    }

    mutating func insertAccepted(_ t: Int64, _ confidence: Double) {
        accepted.insert((t, confidence), at: acceptedPlace(t, confidence))
    }

    /// Inserts rows sorted by `(time, confidence)` in the order `insertAccepted(_:_:)` one by one would give
    /// them. From the largest down: the rows that land in one chunk are merged into it in one backward pass;
    /// when they do not fit, the chunk and they become a run of full chunks (an empty series: one by one).
    mutating func insertAccepted(sorted rows: [(Int64, Double)]) {
        var end = rows.count
        while end > 0 {
            guard !accepted.isEmpty else {
                for r in rows[0..<end] { insertAccepted(r.0, r.1) }
                return
            }
            let p = acceptedPlace(rows[end - 1].0, rows[end - 1].1)
            let ci = min(p.chunk, accepted.chunks.count - 1)
            guard !accepted.chunks[ci].times.isEmpty else {  // chunks are never left empty; be safe anyway
                for r in rows[0..<end] { insertAccepted(r.0, r.1) }
                return
            }
            var start = end - 1
            if ci == 0 {
                start = 0
            } else {
                // Rows at or after the chunk's first row belong to it; smaller ones to earlier chunks.
                let first = (accepted.chunks[ci].times[0], accepted.chunks[ci].confidences[0])
                while start > 0 && !(rows[start - 1] < first) { start -= 1 }
            }
            let group = rows[start..<end]
            if accepted.chunks[ci].times.count + group.count <= accepted.chunkCapacity {
                accepted.mergeRows(intoChunk: ci, count: group.count) { $0.merge(sorted: group) }
            } else {
                // Too many for the chunk's room: one pass merges them with the chunk's rows after the group's
                // first one, tops the chunk up and fills new chunks right after it (inserting one by one
                // moved a whole chunk per row).
                accepted.merge(overflowing: group, into: ci)
            }
            end = start
        }
    }

    mutating func insertRejected(_ t: Int64) {
        rejected.insert(t, at: rejected.upperBound(t))
    }
}

extension SiteStore {
    /// Everything an accepted event adds except its confidence row (`IndexState.insertAccepted` merges
    /// those per commit): the worker's state or product row and the workstation's interval.
    mutating func insertActivity(_ e: Event, capMs: Int64) {
        let w = worker(e.workerID)
        let s = station(e.workstationID)
        let t = e.eventTimeMs
        if e.kind == .productCount {
            let units = UInt32(min(max(e.units, 1), 10_000))
            let p = workers[Int(w)].products.upperBound(t)
            workers[Int(w)].products.insert((t, UInt32(s) << 14 | units), at: p)
            return
        }
        insertState(worker: w, station: s, kind: Code.kind(e.kind), time: t, capMs: capMs)
    }

    /// Where a new state row goes, and the row before it (spec section 2 order).
    /// A separate function so no copy of the series outlives the lookup (it would force a copy-on-write).
    static func statePlace(_ states: Series<StateChunk>, time t: Int64, code: UInt32, site: SiteStore)
        -> (position: SeriesPosition, successorTime: Int64?, predecessor: (time: Int64, code: UInt32)?)
    {
        var p = states.lowerBound(t)
        while p != states.endPosition, states.time(at: p) == t, site.stateLess(states.chunks[p.chunk].codes[p.row], code) {
            p = states.next(p)
        }
        let successorTime: Int64? = p == states.endPosition ? nil : states.time(at: p)
        var predecessor: (Int64, UInt32)?
        if let q = states.previous(p) {
            predecessor = (states.time(at: q), states.chunks[q.chunk].codes[q.row])
        }
        return (p, successorTime, predecessor)
    }

    /// Inserts a state event and keeps the workstation interval of its predecessor exact (spec section 2:
    /// the predecessor now ends at this event unless CAP ended it earlier).
    mutating func insertState(worker w: Int32, station s: Int32, kind: UInt32, time t: Int64, capMs: Int64) {
        let code = UInt32(s) << 2 | kind
        let place = Self.statePlace(workers[Int(w)].states, time: t, code: code, site: self)
        if let (qt, qc) = place.predecessor, qc & 3 != Code.absent {
            let oldEnd = min(place.successorTime ?? (qt + capMs), qt + capMs)
            let newEnd = min(t, qt + capMs)
            if newEnd != oldEnd {
                setStationLength(station: Int(qc >> 2), start: qt,
                                 code: UInt32(w) << 1 | (qc & 3 == Code.working ? 1 : 0),
                                 length: UInt32(newEnd - qt))
            }
        }
        workers[Int(w)].states.insert((t, code), at: place.position)
        if kind != Code.absent {
            let end = min(place.successorTime ?? (t + capMs), t + capMs)
            let stationCode = UInt32(w) << 1 | (kind == Code.working ? 1 : 0)
            let p = stations[Int(s)].upperBound(t)
            stations[Int(s)].insert((t, UInt32(end - t), stationCode), at: p)
        }
    }

    static func stationRow(_ series: Series<StationChunk>, start: Int64, code: UInt32) -> SeriesPosition? {
        var p = series.lowerBound(start)
        while p != series.endPosition, series.time(at: p) == start {
            if series.chunks[p.chunk].codes[p.row] == code { return p }
            p = series.next(p)
        }
        return nil
    }

    mutating func setStationLength(station: Int, start: Int64, code: UInt32, length: UInt32) {
        guard let p = Self.stationRow(stations[station], start: start, code: code) else {
            assertionFailure("workstation interval of a stored state event is missing")
            return
        }
        stations[station].withChunk(at: p) { chunk, row in chunk.lengths[row] = length }
    }
}
