// Window queries over a snapshot of the index (spec sections 3, 5, 7). See `MetricsIndex` for conventions.
import TaktDomain

// MARK: - Scanning one worker

/// Receives what a worker scan finds, so one scan loop serves reports and timelines
/// (generic, so each use is specialized and the calls inline).
protocol WorkerScanSink {
    /// A clipped, non-empty interval; `kind` is a `Code` kind.
    mutating func interval(start: Int64, end: Int64, kind: UInt32, station: Int32)
    /// Any event of the worker inside the window, at `station`.
    mutating func event(time: Int64, station: Int32)
    /// A product event inside the window; `workingStation` is the workstation of the working interval holding
    /// it, or -1 when the worker was not working.
    mutating func product(time: Int64, units: Int64, station: Int32, workingStation: Int32)
}

struct IgnoringSink: WorkerScanSink {
    @inline(__always) mutating func interval(start: Int64, end: Int64, kind: UInt32, station: Int32) {}
    @inline(__always) mutating func event(time: Int64, station: Int32) {}
    @inline(__always) mutating func product(time: Int64, units: Int64, station: Int32, workingStation: Int32) {}
}

/// Workstation units and last activity, attributed while scanning workers.
struct StationAttributionSink: WorkerScanSink {
    var units: [Int64]
    var lastActivity: [Int64]

    init(stations: Int) {
        units = Array(repeating: 0, count: stations)
        lastActivity = Array(repeating: Int64.min, count: stations)
    }

    @inline(__always) mutating func interval(start: Int64, end: Int64, kind: UInt32, station: Int32) {}
    @inline(__always) mutating func event(time: Int64, station: Int32) {
        if time > lastActivity[Int(station)] { lastActivity[Int(station)] = time }
    }
    @inline(__always) mutating func product(time: Int64, units u: Int64, station: Int32, workingStation: Int32) {
        if station == workingStation { units[Int(station)] += u }
    }
}

/// Per-bucket working, idle and units of one worker.
struct WorkerBucketsSink: WorkerScanSink {
    let grid: TimelineGrid
    var working: [Int64]
    var idle: [Int64]
    var units: [Int64]

    init(grid: TimelineGrid) {
        self.grid = grid
        working = Array(repeating: 0, count: grid.count)
        idle = working
        units = working
    }

    mutating func reset() {
        for k in 0..<grid.count {
            working[k] = 0
            idle[k] = 0
            units[k] = 0
        }
    }

    @inline(__always) mutating func interval(start: Int64, end: Int64, kind: UInt32, station: Int32) {
        if kind == Code.working {
            grid.distribute(start, end) { k, ms in working[k] += ms }
        } else if kind == Code.idle {
            grid.distribute(start, end) { k, ms in idle[k] += ms }
        }
    }
    @inline(__always) mutating func event(time: Int64, station: Int32) {}
    @inline(__always) mutating func product(time: Int64, units u: Int64, station: Int32, workingStation: Int32) {
        if workingStation >= 0 { units[grid.index(of: time)] += u }
    }
}

/// Per-bucket workstation units, for the selected workstations (`slot[station] >= 0`).
struct StationBucketsSink: WorkerScanSink {
    let grid: TimelineGrid
    let slot: [Int]
    var units: [Int64]

    init(grid: TimelineGrid, slot: [Int], slots: Int) {
        self.grid = grid
        self.slot = slot
        units = Array(repeating: 0, count: grid.count * slots)
    }

    @inline(__always) mutating func interval(start: Int64, end: Int64, kind: UInt32, station: Int32) {}
    @inline(__always) mutating func event(time: Int64, station: Int32) {}
    @inline(__always) mutating func product(time: Int64, units u: Int64, station: Int32, workingStation: Int32) {
        guard station == workingStation else { return }
        let s = slot[Int(station)]
        if s >= 0 { units[s * grid.count + grid.index(of: time)] += u }
    }
}

struct WorkerTotals {
    var workingMs: Int64 = 0
    var idleMs: Int64 = 0
    var units: Int64 = 0
    var unitsOutsideWorking: Int64 = 0
    var lastSeen: Int64 = .min

    func metrics(site: String, worker: String, window: TimeWindow) -> WorkerMetrics {
        WorkerMetrics(siteID: site, workerID: worker, workingMs: workingMs, idleMs: idleMs,
                      absentMs: window.lengthMs - workingMs - idleMs,
                      utilizationPct: MetricsFormula.utilization(workingMs: workingMs, idleMs: idleMs),
                      units: units, unitsOutsideWorking: unitsOutsideWorking,
                      unitsPerHour: MetricsFormula.perHour(units: units, ms: workingMs),
                      lastSeenMs: lastSeen == .min ? nil : lastSeen)
    }
}

/// Working intervals of the worker being scanned (unclipped), to place product events. Reused across workers.
struct WorkingIntervals {
    var starts: [Int64] = []
    var ends: [Int64] = []
    var stations: [Int32] = []

    mutating func removeAll() {
        starts.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        stations.removeAll(keepingCapacity: true)
    }
}

extension WorkerStore {
    /// Sections 2–3 for one worker over `window`: one pass over the state rows from the carry-in row
    /// (the last one before `from`) to the first row at or after `to`, then one over the window's products.
    func scan<Sink: WorkerScanSink>(window: TimeWindow, capMs: Int64, scratch: inout WorkingIntervals,
                                    sink: inout Sink) -> WorkerTotals {
        var totals = WorkerTotals()
        scratch.removeAll()
        let from = window.fromMs, to = window.toMs
        if !states.isEmpty {
            var p = states.lowerBound(from)
            if let q = states.previous(p) { p = q }
            var pendingTime: Int64 = 0
            var pendingCode: UInt32 = 0
            var pending = false

            @inline(__always)
            func close(_ nextTime: Int64?, _ totals: inout WorkerTotals, _ scratch: inout WorkingIntervals,
                       _ sink: inout Sink) {
                var end = pendingTime + capMs
                if let n = nextTime, n < end { end = n }
                let kind = pendingCode & 3
                let station = Int32(pendingCode >> 2)
                if kind == Code.working && end > pendingTime {
                    scratch.starts.append(pendingTime)
                    scratch.ends.append(end)
                    scratch.stations.append(station)
                }
                let s = max(pendingTime, from), e = min(end, to)
                if e > s && kind != Code.absent {
                    if kind == Code.working { totals.workingMs += e - s } else { totals.idleMs += e - s }
                    sink.interval(start: s, end: e, kind: kind, station: station)
                }
            }

            var c = p.chunk
            var r = p.row
            scanning: while c < states.chunks.count {
                let chunk = states.chunks[c]
                let times = chunk.times, codes = chunk.codes
                while r < times.count {
                    let t = times[r]
                    if pending { close(t, &totals, &scratch, &sink) }
                    if t >= to {
                        pending = false
                        break scanning
                    }
                    let code = codes[r]
                    if t >= from {
                        totals.lastSeen = t
                        sink.event(time: t, station: Int32(code >> 2))
                    }
                    pendingTime = t
                    pendingCode = code
                    pending = true
                    r += 1
                }
                c += 1
                r = 0
            }
            if pending { close(nil, &totals, &scratch, &sink) }
        }
        if !products.isEmpty {
            let p = products.lowerBound(from)
            var c = p.chunk, r = p.row
            var j = 0
            let n = scratch.starts.count
            scanning: while c < products.chunks.count {
                let chunk = products.chunks[c]
                let times = chunk.times, codes = chunk.codes
                while r < times.count {
                    let t = times[r]
                    if t >= to { break scanning }
                    let code = codes[r]
                    let station = Int32(code >> 14)
                    let u = Int64(code & 0x3FFF)
                    if t > totals.lastSeen { totals.lastSeen = t }
                    sink.event(time: t, station: station)
                    while j < n && scratch.ends[j] <= t { j += 1 }
                    if j < n && scratch.starts[j] <= t {
                        totals.units += u
                        sink.product(time: t, units: u, station: station, workingStation: scratch.stations[j])
                    } else {
                        totals.unitsOutsideWorking += u
                        sink.product(time: t, units: u, station: station, workingStation: -1)
                    }
                    r += 1
                }
                c += 1
                r = 0
            }
        }
        return totals
    }
}

// MARK: - Union at one workstation

/// Receives the union segments of a workstation sweep (clipped to the window).
protocol UnionSink {
    mutating func occupied(_ start: Int64, _ end: Int64)
    mutating func working(_ start: Int64, _ end: Int64)
}

struct TotalsOnly: UnionSink {
    @inline(__always) mutating func occupied(_ start: Int64, _ end: Int64) {}
    @inline(__always) mutating func working(_ start: Int64, _ end: Int64) {}
}

struct BucketUnionSink: UnionSink {
    let grid: TimelineGrid
    var occupancy: [Int64]
    var workingMs: [Int64]

    init(grid: TimelineGrid) {
        self.grid = grid
        occupancy = Array(repeating: 0, count: grid.count)
        workingMs = occupancy
    }

    @inline(__always) mutating func occupied(_ start: Int64, _ end: Int64) {
        grid.distribute(start, end) { k, ms in occupancy[k] += ms }
    }
    @inline(__always) mutating func working(_ start: Int64, _ end: Int64) {
        grid.distribute(start, end) { k, ms in workingMs[k] += ms }
    }
}

extension Series where Chunk == StationChunk {
    /// Section 5 unions: one sweep over the intervals starting in `[from − CAP, to)` (sorted by start, so
    /// clipped starts are sorted too and the union needs no sort).
    func union<Sink: UnionSink>(window: TimeWindow, capMs: Int64, sink: inout Sink) -> (occupancy: Int64, working: Int64) {
        let from = window.fromMs, to = window.toMs
        var occupancy: Int64 = 0, working: Int64 = 0
        var oStart = Int64.min, oEnd = Int64.min
        var wStart = Int64.min, wEnd = Int64.min
        let p = lowerBound(from - capMs)
        var c = p.chunk, r = p.row
        scanning: while c < chunks.count {
            let chunk = chunks[c]
            let times = chunk.times, lengths = chunk.lengths, codes = chunk.codes
            while r < times.count {
                let t = times[r]
                if t >= to { break scanning }
                let s = max(t, from), e = min(t + Int64(lengths[r]), to)
                r += 1
                if e <= s { continue }
                if s > oEnd {
                    if oEnd > oStart {
                        occupancy += oEnd - oStart
                        sink.occupied(oStart, oEnd)
                    }
                    oStart = s
                    oEnd = e
                } else if e > oEnd {
                    oEnd = e
                }
                if codes[r - 1] & 1 == 1 {
                    if s > wEnd {
                        if wEnd > wStart {
                            working += wEnd - wStart
                            sink.working(wStart, wEnd)
                        }
                        wStart = s
                        wEnd = e
                    } else if e > wEnd {
                        wEnd = e
                    }
                }
            }
            c += 1
            r = 0
        }
        if oEnd > oStart {
            occupancy += oEnd - oStart
            sink.occupied(oStart, oEnd)
        }
        if wEnd > wStart {
            working += wEnd - wStart
            sink.working(wStart, wEnd)
        }
        return (occupancy, working)
    }

    /// Whether any working or idle interval overlaps the window (occupancy > 0), stopping at the first.
    func isOccupied(window: TimeWindow, capMs: Int64) -> Bool {
        let from = window.fromMs, to = window.toMs
        let p = lowerBound(from - capMs)
        var c = p.chunk, r = p.row
        while c < chunks.count {
            let chunk = chunks[c]
            while r < chunk.times.count {
                let t = chunk.times[r]
                if t >= to { return false }
                if min(t + Int64(chunk.lengths[r]), to) > max(t, from) { return true }
                r += 1
            }
            c += 1
            r = 0
        }
        return false
    }
}

// MARK: - Row selection

extension SiteStore {
    /// Worker indices of this site to report, byte-wise: all, or the filter's ids that exist here.
    func selectedWorkers(_ ids: [String]) -> [Int32] {
        if ids.isEmpty { return workerNames.sorted }
        return Self.select(ids, in: workerNames)
    }

    func selectedStations(_ ids: [String]) -> [Int32] {
        if ids.isEmpty { return stationNames.sorted }
        return Self.select(ids, in: stationNames)
    }

    static func select(_ ids: [String], in table: NameTable) -> [Int32] {
        var found = Set<Int32>()
        for id in ids {
            if let i = table.indexOf[id] { found.insert(i) }
        }
        return found.sorted { MetricsFormula.byteLess(table[$0], table[$1]) }
    }
}

extension IndexState {
    /// The query's site(s), byte-wise ordered.
    func selectedSites(_ siteID: String?) -> [SiteStore] {
        if let id = siteID, !id.isEmpty {
            guard let i = sites.indexOf[id] else { return [] }
            return [siteStores[Int(i)]]
        }
        return sites.sorted.map { siteStores[Int($0)] }
    }
}

// MARK: - Queries

extension MetricsIndex {
    /// Worker metrics (spec section 3) of the query's site(s) and worker filter.
    public func workers(window: TimeWindow, query: MetricsQuery) -> [WorkerMetrics] {
        let snapshot = snapshot()
        var rows: [WorkerMetrics] = []
        var scratch = WorkingIntervals()
        var sink = IgnoringSink()
        for site in snapshot.selectedSites(query.siteID) {
            for w in site.selectedWorkers(query.workerIDs) {
                let totals = site.workers[Int(w)].scan(window: window, capMs: capMs, scratch: &scratch, sink: &sink)
                rows.append(totals.metrics(site: site.name, worker: site.workerNames[w], window: window))
            }
        }
        return rows
    }

    /// Workstation metrics (spec section 5) of the query's site(s) and workstation filter.
    public func workstations(window: TimeWindow, query: MetricsQuery) -> [WorkstationMetrics] {
        compute(window: window, query: query, wantWorkers: false, wantStations: true, wantFactory: false).workstations
    }

    /// Factory metrics (spec section 5) of the query's site(s); id filters do not apply.
    public func factory(window: TimeWindow, query: MetricsQuery) -> FactoryMetrics {
        compute(window: window, query: query, wantWorkers: false, wantStations: false, wantFactory: true).factory
    }

    /// Workers, workstations and factory of one window from one pass over each worker.
    public func report(window: TimeWindow, query: MetricsQuery) -> MetricsReport {
        compute(window: window, query: query, wantWorkers: true, wantStations: true, wantFactory: true)
    }

    func compute(window: TimeWindow, query: MetricsQuery, wantWorkers: Bool, wantStations: Bool,
                 wantFactory: Bool) -> MetricsReport {
        let snapshot = snapshot()
        var workerRows: [WorkerMetrics] = []
        var allWorkers: [WorkerMetrics] = []
        var stationRows: [WorkstationMetrics] = []
        var activeStations: Int64 = 0
        var scratch = WorkingIntervals()
        let workerFilter = Set(query.workerIDs)
        for site in snapshot.selectedSites(query.siteID) {
            let stations = wantStations ? site.selectedStations(query.workstationIDs) : []
            var attribution = StationAttributionSink(stations: stations.isEmpty ? 0 : site.stations.count)
            var ignoring = IgnoringSink()
            for w in site.workerNames.sorted {
                let name = site.workerNames[w]
                let wanted = wantWorkers && (workerFilter.isEmpty || workerFilter.contains(name))
                guard wantFactory || wanted || !stations.isEmpty else { continue }
                let totals = stations.isEmpty
                    ? site.workers[Int(w)].scan(window: window, capMs: capMs, scratch: &scratch, sink: &ignoring)
                    : site.workers[Int(w)].scan(window: window, capMs: capMs, scratch: &scratch, sink: &attribution)
                let row = totals.metrics(site: site.name, worker: name, window: window)
                if wanted { workerRows.append(row) }
                if wantFactory { allWorkers.append(row) }
            }
            var occupied = Array(repeating: false, count: site.stations.count)
            var none = TotalsOnly()
            for s in stations {
                let u = site.stations[Int(s)].union(window: window, capMs: capMs, sink: &none)
                occupied[Int(s)] = u.occupancy > 0
                let units = attribution.units[Int(s)]
                let last = attribution.lastActivity[Int(s)]
                stationRows.append(WorkstationMetrics(
                    siteID: site.name, workstationID: site.stationNames[s], occupancyMs: u.occupancy,
                    workingMs: u.working,
                    utilizationPct: MetricsFormula.occupancyUtilization(occupancyMs: u.occupancy, lengthMs: window.lengthMs),
                    units: units, throughputPerHour: MetricsFormula.perHour(units: units, ms: u.occupancy),
                    lastActivityMs: last == .min ? nil : last))
            }
            if wantFactory {
                let computed = Set(stations)
                for s in 0..<site.stations.count {
                    let busy = computed.contains(Int32(s))
                        ? occupied[s] : site.stations[s].isOccupied(window: window, capMs: capMs)
                    if busy { activeStations += 1 }
                }
            }
        }
        let factory = wantFactory
            ? MetricsFormula.factory(workers: allWorkers, activeWorkstations: activeStations) : FactoryMetrics()
        return MetricsReport(window: window, workers: workerRows, workstations: stationRows, factory: factory)
    }

    /// Timeline rows (spec section 7) for the query's subject; see `MetricsIndex` for the bucket rules.
    public func timeline(window: TimeWindow, query: MetricsQuery) -> [TimelineRow] {
        let snapshot = snapshot()
        let grid = TimelineGrid(window: window, bucketMs: query.bucketMs, utcOffsetMinutes: query.utcOffsetMinutes)
        var scratch = WorkingIntervals()
        switch query.timelineSubject {
        case .worker:
            var rows: [TimelineRow] = []
            var sink = WorkerBucketsSink(grid: grid)
            for site in snapshot.selectedSites(query.siteID) {
                for w in site.selectedWorkers(query.workerIDs) {
                    sink.reset()
                    _ = site.workers[Int(w)].scan(window: window, capMs: capMs, scratch: &scratch, sink: &sink)
                    var buckets = grid.emptyBuckets()
                    for k in 0..<grid.count {
                        buckets[k].workingMs = sink.working[k]
                        buckets[k].idleMs = sink.idle[k]
                        buckets[k].utilizationPct = MetricsFormula.utilization(workingMs: sink.working[k], idleMs: sink.idle[k])
                        buckets[k].units = sink.units[k]
                    }
                    rows.append(TimelineRow(subject: .worker, siteID: site.name, entityID: site.workerNames[w],
                                            buckets: buckets))
                }
            }
            return rows

        case .workstation:
            var rows: [TimelineRow] = []
            for site in snapshot.selectedSites(query.siteID) {
                let stations = site.selectedStations(query.workstationIDs)
                if stations.isEmpty { continue }
                var slot = Array(repeating: -1, count: site.stations.count)
                for (i, s) in stations.enumerated() { slot[Int(s)] = i }
                var sink = StationBucketsSink(grid: grid, slot: slot, slots: stations.count)
                for w in 0..<site.workers.count {
                    _ = site.workers[w].scan(window: window, capMs: capMs, scratch: &scratch, sink: &sink)
                }
                for (i, s) in stations.enumerated() {
                    var union = BucketUnionSink(grid: grid)
                    _ = site.stations[Int(s)].union(window: window, capMs: capMs, sink: &union)
                    var buckets = grid.emptyBuckets()
                    for k in 0..<grid.count {
                        let b = buckets[k]
                        buckets[k].workingMs = union.workingMs[k]
                        buckets[k].idleMs = union.occupancy[k] - union.workingMs[k]
                        buckets[k].utilizationPct = MetricsFormula.occupancyUtilization(
                            occupancyMs: union.occupancy[k], lengthMs: b.endMs - b.startMs)
                        buckets[k].units = sink.units[i * grid.count + k]
                    }
                    rows.append(TimelineRow(subject: .workstation, siteID: site.name,
                                            entityID: site.stationNames[s], buckets: buckets))
                }
            }
            return rows

        case .factory:
            var buckets = grid.emptyBuckets()
            var active = Array(repeating: 0, count: grid.count)
            var utilizationSum = Array(repeating: 0.0, count: grid.count)
            var sink = WorkerBucketsSink(grid: grid)
            for site in snapshot.selectedSites(query.siteID) {
                for w in site.workerNames.sorted {
                    sink.reset()
                    _ = site.workers[Int(w)].scan(window: window, capMs: capMs, scratch: &scratch, sink: &sink)
                    for k in 0..<grid.count {
                        let working = sink.working[k], idle = sink.idle[k]
                        buckets[k].workingMs += working
                        buckets[k].idleMs += idle
                        buckets[k].units += sink.units[k]
                        if working + idle > 0 {
                            active[k] += 1
                            utilizationSum[k] += MetricsFormula.utilization(workingMs: working, idleMs: idle)
                        }
                    }
                }
            }
            for k in 0..<grid.count where active[k] > 0 {
                buckets[k].utilizationPct = utilizationSum[k] / Double(active[k])
            }
            return [TimelineRow(subject: .factory, siteID: query.siteID ?? "", entityID: "", buckets: buckets)]
        }
    }
}
