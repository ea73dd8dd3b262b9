// Randomized (seeded, deterministic) comparisons of MetricsIndex with ReferenceMetrics.
import Testing
import TaktDomain
@testable import TaktMetrics

/// Messy random streams: several sites, workers and workstations, moves, same-instant events, gaps longer
/// than CAP, product events, duplicates and low-confidence events, three model versions.
struct RandomStream {
    static let base: Int64 = 1_764_115_200_000  // 2025-11-26T00:00:00Z

    var events: [Event] = []  // in "arrival" order before shuffling: duplicates and rejections included

    init(rng: inout SeededGenerator, sites: [String], workers: [String], stations: [String],
         eventsPerWorker: ClosedRange<Int> = 10...60, spreadMs: Int64 = 3_600_000,
         gapScale: Int64 = 1, versions: [String] = ["", "v1", "v2.0"]) {
        for site in sites {
            let siteWorkers = workers.shuffled(using: &rng).prefix(Int.random(in: 1...workers.count, using: &rng))
            let siteStations = Array(stations.shuffled(using: &rng).prefix(Int.random(in: 1...stations.count, using: &rng)))
            for worker in siteWorkers {
                var t = Self.base + Int64.random(in: 0...spreadMs, using: &rng)
                var station = siteStations.randomElement(using: &rng)!
                let version = versions.randomElement(using: &rng)!
                for _ in 0..<Int.random(in: eventsPerWorker, using: &rng) {
                    switch Int.random(in: 0..<20, using: &rng) {
                    case 0..<3: break  // same instant
                    case 3..<12: t += Int64.random(in: 1...60_000, using: &rng) * gapScale
                    case 12..<17: t += Int64.random(in: 60_000...540_000, using: &rng) * gapScale
                    case 17..<19: t += Int64.random(in: 600_000...3_600_000, using: &rng) * gapScale
                    default: t += 600_000  // exactly CAP
                    }
                    if Int.random(in: 0..<5, using: &rng) == 0 { station = siteStations.randomElement(using: &rng)! }
                    let kind: EventKind
                    switch Int.random(in: 0..<20, using: &rng) {
                    case 0..<9: kind = .working
                    case 9..<13: kind = .idle
                    case 13..<15: kind = .absent
                    default: kind = .productCount
                    }
                    let confidence = Int.random(in: 0..<5, using: &rng) == 0
                        ? Double.random(in: 0.3..<0.7, using: &rng) : Double.random(in: 0.7...1.0, using: &rng)
                    let e = Event(eventTimeMs: t, workerID: worker, workstationID: station, kind: kind,
                                  confidence: confidence, count: UInt32.random(in: 0...6, using: &rng), siteID: site,
                                  modelVersion: Int.random(in: 0..<10, using: &rng) == 0 ? versions.randomElement(using: &rng)! : version)
                    events.append(e)
                    if Int.random(in: 0..<15, using: &rng) == 0 {
                        var dup = e  // a duplicate identity, possibly with another count
                        dup.count = UInt32.random(in: 1...9, using: &rng)
                        events.append(dup)
                    }
                }
            }
        }
        events.shuffle(using: &rng)
    }
}

func randomWindow(_ events: [Event], rng: inout SeededGenerator, maxLength: Int64 = 4 * 3_600_000) -> TimeWindow {
    let times = events.map(\.eventTimeMs)
    let lo = times.min() ?? RandomStream.base, hi = times.max() ?? RandomStream.base
    switch Int.random(in: 0..<10, using: &rng) {
    case 0:  // far from any data
        let from = hi + Int64.random(in: 86_400_000...(30 * 86_400_000), using: &rng)
        return TimeWindow(fromMs: from, toMs: from + Int64.random(in: 1...maxLength, using: &rng))
    case 1:  // boundaries on event times
        let a = times.randomElement(using: &rng)!, b = times.randomElement(using: &rng)!
        return a == b ? TimeWindow(fromMs: a, toMs: a + 1) : TimeWindow(fromMs: min(a, b), toMs: max(a, b))
    case 2:  // everything
        return TimeWindow(fromMs: lo - 3_600_000, toMs: hi + 3_600_000)
    default:
        let from = Int64.random(in: (lo - 3_600_000)...(hi + 600_000), using: &rng)
        return TimeWindow(fromMs: from, toMs: from + Int64.random(in: 1...maxLength, using: &rng))
    }
}

func randomQuery(_ events: [Event], rng: inout SeededGenerator, scope: MetricsScope = .workers) -> MetricsQuery {
    var q = MetricsQuery(scope: scope)
    let sites = Array(Set(events.map(\.effectiveSiteID)))
    switch Int.random(in: 0..<6, using: &rng) {
    case 0: q.siteID = sites.randomElement(using: &rng)
    case 1: q.siteID = "no-such-site"
    case 2: q.siteID = ""
    default: break
    }
    if Int.random(in: 0..<3, using: &rng) == 0 {
        let ids = Array(Set(events.map(\.workerID))) + ["ghost"]
        q.workerIDs = (0..<Int.random(in: 1...3, using: &rng)).map { _ in ids.randomElement(using: &rng)! }
    }
    if Int.random(in: 0..<3, using: &rng) == 0 {
        let ids = Array(Set(events.map(\.workstationID))) + ["nowhere"]
        q.workstationIDs = (0..<Int.random(in: 1...3, using: &rng)).map { _ in ids.randomElement(using: &rng)! }
    }
    return q
}

@Suite("MetricsIndex equals ReferenceMetrics")
struct PropertyTests {
    static let sites = ["default", "plant-2", "A"]
    static let workers = ["W1", "W2", "W10", "w3", "W9"]
    static let stations = ["S1", "S2", "S10", "S9", "s-1"]

    @Test("workers, workstations, factory and report on random streams", arguments: 0..<24)
    func windows(seed: Int) {
        var rng = SeededGenerator(seed: UInt64(seed) &* 7919 &+ 1)
        let sites = Array(Self.sites.prefix(Int.random(in: 1...3, using: &rng)))
        let stream = RandomStream(rng: &rng, sites: sites, workers: Self.workers, stations: Self.stations)
        let (_, accepted, rejected) = classify(stream.events)
        let cap: Int64 = [600_000, 600_000, 120_000, 1_800_000].randomElement(using: &rng)!
        let reference = ReferenceMetrics(events: accepted, lowConfidence: rejected, capMs: cap)
        let index = MetricsIndex(capMs: cap, chunkCapacity: [2, 3, 5, 16, 4096].randomElement(using: &rng)!)
        insert(accepted.shuffled(using: &rng), into: index, batches: Int.random(in: 1...6, using: &rng), rng: &rng)
        #expect(index.eventCount == accepted.count)

        for trial in 0..<12 {
            let window = randomWindow(accepted, rng: &rng)
            let query = randomQuery(accepted, rng: &rng)
            let context = "seed \(seed) trial \(trial) window \(window) query \(query)"
            let expected = reference.report(window: window, query: query)
            #expect(index.report(window: window, query: query) == expected, "\(context)")
            #expect(index.workers(window: window, query: query) == expected.workers, "\(context)")
            #expect(index.workstations(window: window, query: query) == expected.workstations, "\(context)")
            #expect(index.factory(window: window, query: query) == expected.factory, "\(context)")
        }
    }

    @Test("timelines for every subject, bucket size and UTC offset", arguments: 0..<16)
    func timelines(seed: Int) {
        var rng = SeededGenerator(seed: UInt64(seed) &* 104_729 &+ 3)
        let sites = Array(Self.sites.prefix(Int.random(in: 1...2, using: &rng)))
        let stream = RandomStream(rng: &rng, sites: sites, workers: Self.workers, stations: Self.stations,
                                  eventsPerWorker: 5...40)
        let (_, accepted, _) = classify(stream.events)
        let reference = ReferenceMetrics(events: accepted)
        let index = MetricsIndex(capMs: MetricsFormula.defaultCapMs, chunkCapacity: [2, 7, 4096].randomElement(using: &rng)!)
        insert(accepted.shuffled(using: &rng), into: index, batches: Int.random(in: 1...4, using: &rng), rng: &rng)

        let buckets: [Int64] = [60_000, 300_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 86_400_000]
        for trial in 0..<6 {
            var query = randomQuery(accepted, rng: &rng, scope: .timeline)
            query.bucketMs = buckets.randomElement(using: &rng)!
            query.utcOffsetMinutes = Int32.random(in: -840...840, using: &rng)
            query.timelineSubject = [.factory, .worker, .workstation].randomElement(using: &rng)!
            let window = randomWindow(accepted, rng: &rng, maxLength: min(30 * query.bucketMs, 2 * 86_400_000))
            let context = "seed \(seed) trial \(trial) window \(window) query \(query)"
            let expected = reference.timeline(window: window, query: query)
            let got = index.timeline(window: window, query: query)
            #expect(got == expected, "\(context)")
            // Buckets tile the window.
            for row in got {
                #expect(row.buckets.first?.startMs == window.fromMs && row.buckets.last?.endMs == window.toMs, "\(context)")
                for (a, b) in zip(row.buckets, row.buckets.dropFirst()) { #expect(a.endMs == b.startMs) }
            }
        }
    }

    @Test("model health with drift windows", arguments: 0..<12)
    func modelHealth(seed: Int) {
        var rng = SeededGenerator(seed: UInt64(seed) &* 15_485_863 &+ 5)
        // Events spread over ~12 days so that both drift windows fill (≥ 30) for some versions.
        let stream = RandomStream(rng: &rng, sites: Array(Self.sites.prefix(2)), workers: Self.workers,
                                  stations: Self.stations, eventsPerWorker: 60...160, spreadMs: 86_400_000,
                                  gapScale: 12, versions: ["", "v1", "v2.0"])
        var (_, accepted, rejected) = classify(stream.events)
        // Same-instant ties with equal and different confidences (tie order must not matter).
        if let e = accepted.first {
            for i in 0..<5 {
                var twin = e
                twin.workerID = "twin\(i)"
                twin.confidence = [0.8, 0.9, 0.8, 0.95, 0.71][i]
                accepted.append(twin)
            }
        }
        let reference = ReferenceMetrics(events: accepted, lowConfidence: rejected)
        let index = MetricsIndex(capMs: MetricsFormula.defaultCapMs, chunkCapacity: [2, 5, 64, 4096].randomElement(using: &rng)!)
        insert(accepted.shuffled(using: &rng), into: index, batches: 3, rng: &rng)
        index.insertLowConfidence(stored(rejected.shuffled(using: &rng)))
        #expect(index.lowConfidenceCount == rejected.count)

        let times = accepted.map(\.eventTimeMs)
        var drifts = 0
        for trial in 0..<10 {
            let to = trial == 0 ? times.max()! + 1 : Int64.random(in: (times.min()! - 86_400_000)...(times.max()! + 9 * 86_400_000), using: &rng)
            let site: String? = [nil, "", "default", "plant-2", "nope"].randomElement(using: &rng)!
            let expected = reference.modelHealth(toMs: to, siteID: site)
            expectEqual(index.modelHealth(toMs: to, siteID: site), expected,
                        "seed \(seed) trial \(trial) to \(to) site \(site ?? "nil")")
            drifts += ([expected.overall] + expected.versions).filter { $0.driftPct != nil }.count
        }
        #expect(seed == 2 || drifts > 0, "the stream should fill both drift windows for some version")
        let full = reference.modelHealth(toMs: times.max()! + 1, siteID: nil)
        #expect(full.overall.samples == 100)
    }

    @Test("late events: query, insert into already-queried hours, query again")
    func lateEvents() {
        var rng = SeededGenerator(seed: 42)
        let stream = RandomStream(rng: &rng, sites: ["default", "B"], workers: Self.workers, stations: Self.stations,
                                  eventsPerWorker: 80...150, spreadMs: 600_000)
        let (_, accepted, _) = classify(stream.events)
        // Arrival in event-time order, except a fifth held back and delivered later (hours late).
        let inOrder = accepted.sorted { $0.eventTimeMs < $1.eventTimeMs }
        var onTime: [Event] = [], late: [Event] = []
        for e in inOrder {
            if Int.random(in: 0..<5, using: &rng) == 0 { late.append(e) } else { onTime.append(e) }
        }
        let index = MetricsIndex(capMs: MetricsFormula.defaultCapMs, chunkCapacity: 16)
        let windows = (0..<8).map { _ in randomWindow(accepted, rng: &rng, maxLength: 6 * 3_600_000) }
        var timelineQuery = MetricsQuery(scope: .timeline, bucketMs: 900_000, timelineSubject: .workstation)

        for e in onTime { index.insert(stored([e])) }
        let early = ReferenceMetrics(events: onTime)
        for w in windows {
            #expect(index.report(window: w, query: MetricsQuery(scope: .workers)) == early.report(window: w, query: MetricsQuery(scope: .workers)))
        }
        for chunk in stride(from: 0, to: late.count, by: 7) {
            index.insert(stored(Array(late[chunk..<min(chunk + 7, late.count)])))
        }
        let full = ReferenceMetrics(events: accepted)
        for w in windows {
            let q = MetricsQuery(scope: .workers)
            #expect(index.report(window: w, query: q) == full.report(window: w, query: q), "window \(w)")
            for subject in [TimelineSubject.factory, .worker, .workstation] {
                timelineQuery.timelineSubject = subject
                #expect(index.timeline(window: w, query: timelineQuery) == full.timeline(window: w, query: timelineQuery))
            }
        }
    }

    @Test("queries run concurrently with inserts and end equal to the reference")
    func concurrentQueries() async {
        var rng = SeededGenerator(seed: 7)
        let stream = RandomStream(rng: &rng, sites: ["default"], workers: Self.workers, stations: Self.stations,
                                  eventsPerWorker: 100...200)
        let (_, accepted, _) = classify(stream.events)
        let index = MetricsIndex(capMs: MetricsFormula.defaultCapMs, chunkCapacity: 8)
        let window = TimeWindow(fromMs: RandomStream.base - 86_400_000, toMs: RandomStream.base + 3 * 86_400_000)
        let batches = stride(from: 0, to: accepted.count, by: 25).map { Array(accepted[$0..<min($0 + 25, accepted.count)]) }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for b in batches { index.insert(stored(b)) }
            }
            for _ in 0..<3 {
                group.addTask {
                    for _ in 0..<40 {
                        let r = index.report(window: window, query: MetricsQuery(scope: .workers))
                        // Every snapshot is a consistent whole: per-worker sums never exceed the window.
                        for w in r.workers { #expect(w.workingMs + w.idleMs + w.absentMs == window.lengthMs) }
                    }
                }
            }
        }
        let q = MetricsQuery(scope: .workers)
        #expect(index.report(window: window, query: q) == ReferenceMetrics(events: accepted).report(window: window, query: q))
    }
}
