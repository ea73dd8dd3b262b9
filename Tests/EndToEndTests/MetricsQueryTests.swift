// Metric queries over RPC: any arrival order, batch split and replay give identical answers;
// the server's fast path equals a straightforward recomputation from the stored events; late
// events; invalid queries; listing and live subscription.
import Foundation
import Testing
import TaktClient
import TaktDomain
import TaktMetrics
import TaktPosix
import TaktProto
import TaktSimulation

/// A messy 30-hour stream of 8 workers over 5 stations in two sites, ending an hour ago.
func messyStream(seed: UInt64) -> [Event] {
    let end = System.nowMs() - 3_600_000
    var events: [Event] = []
    for site in ["north", "south"] {
        let sim = FactorySimulation.demo(seed: seed, nowMs: end, hours: 30, workers: 4, workstations: 3, siteID: site)
        events += sim.events().map(\.event)
    }
    return events
}

func queries(around events: [Event], subjectSeed: Int) -> [MetricsQuery] {
    let times = events.map(\.eventTimeMs)
    let lo = times.min()!, hi = times.max()!
    let mid = (lo + hi) / 2
    return [
        MetricsQuery(scope: .all, fromMs: lo - 3_600_000, toMs: hi + 1),
        MetricsQuery(scope: .all, fromMs: mid - 4 * 3_600_000 + 123_456, toMs: mid + 2 * 3_600_000 - 7),
        MetricsQuery(scope: .all, fromMs: mid, toMs: mid + 600_000, siteID: "north"),
        MetricsQuery(scope: .workers, fromMs: lo, toMs: hi, workerIDs: ["W1", "W3"]),
        MetricsQuery(scope: .workstations, fromMs: lo, toMs: hi, siteID: "south", workstationIDs: ["S2"]),
        MetricsQuery(scope: .timeline, fromMs: lo, toMs: hi, bucketMs: 3_600_000, timelineSubject: .factory),
        MetricsQuery(scope: .timeline, fromMs: mid - 86_400_000, toMs: mid, bucketMs: 1_800_000, utcOffsetMinutes: 330, timelineSubject: .worker),
        MetricsQuery(scope: .timeline, fromMs: lo, toMs: hi, siteID: "south", bucketMs: 7_200_000, utcOffsetMinutes: -300, timelineSubject: .workstation),
        MetricsQuery(scope: .modelHealth, toMs: hi + 1),
        MetricsQuery(scope: .modelHealth, toMs: mid, siteID: "north"),
    ]
}

/// What the index-backed server answers, computed instead by the reference engine from `stored`.
func referenceAnswer(_ q: MetricsQuery, stored: [StoredEvent], lowConfidence: [Event], window: TimeWindow) -> MetricsResponse {
    let ref = ReferenceMetrics(stored: stored, lowConfidence: lowConfidence)
    var r = MetricsResponse(window: window)
    switch q.scope {
    case .factory: r.factory = ref.factory(window: window, query: q)
    case .workers: r.workers = ref.workers(window: window, query: q)
    case .workstations: r.workstations = ref.workstations(window: window, query: q)
    case .all:
        let rep = ref.report(window: window, query: q)
        r.factory = rep.factory
        r.workers = rep.workers
        r.workstations = rep.workstations
    case .timeline: r.timeline = ref.timeline(window: window, query: q)
    case .modelHealth: r.modelHealth = ref.modelHealth(toMs: window.toMs, siteID: q.siteID)
    }
    return r
}

func storedEvents(_ c: TaktClient) async throws -> [StoredEvent] {
    var out: [StoredEvent] = []
    var token = ""
    repeat {
        let page = try await c.listEvents(ListEventsRequest(pageSize: 10_000, pageToken: token))
        out += page.events
        token = page.nextPageToken
    } while !token.isEmpty
    return out
}

/// Model-health drift means are fixed-point sums in the index and plain sums in the reference.
func sameAnswer(_ a: MetricsResponse, _ b: MetricsResponse) -> Bool {
    var a = a
    if var ha = a.modelHealth, let hb = b.modelHealth {
        func norm(_ h: inout ModelHealth, _ o: ModelHealth) {
            if let x = h.recentMean, let y = o.recentMean, closeEnough(x, y) { h.recentMean = y }
            if let x = h.baselineMean, let y = o.baselineMean, closeEnough(x, y) { h.baselineMean = y }
            if let x = h.driftPct, let y = o.driftPct, abs(x - y) < 1e-9 { h.driftPct = y }
        }
        norm(&ha.overall, hb.overall)
        if ha.versions.count == hb.versions.count {
            for i in ha.versions.indices { norm(&ha.versions[i], hb.versions[i]) }
        }
        a.modelHealth = ha
    }
    return a == b
}

@Suite(.serialized) struct MetricsQueryTests {
    @Test(arguments: [1, 2])
    func arrivalOrderBatchingAndReplaysNeverChangeAnswers(seed: UInt64) async throws {
        let events = messyStream(seed: seed)
        var rng = SeededRandom(seed: seed)
        // Server A: delivery order, batches of 500. Server B: shuffled, random batch sizes,
        // random single calls, everything replayed twice.
        let a = try TaktdProcess()
        defer { a.stop() }
        let b = try TaktdProcess()
        defer { b.stop() }
        let ca = try a.client(), cb = try b.client()
        defer { ca.close(); cb.close() }
        var i = 0
        while i < events.count {
            _ = try await ca.submit(EventBatch(events: Array(events[i..<min(i + 500, events.count)])))
            i += 500
        }
        var shuffled = events
        for k in stride(from: shuffled.count - 1, to: 0, by: -1) { shuffled.swapAt(k, Int(rng.next() % UInt64(k + 1))) }
        for round in 0..<2 {
            var j = 0
            while j < shuffled.count {
                let n = Int(1 + rng.next() % 700)
                let chunk = Array(shuffled[j..<min(j + n, shuffled.count)])
                if n < 5 {
                    for e in chunk { _ = try await cb.submit(e) }
                } else {
                    let ack = try await cb.submit(EventBatch(events: chunk))
                    if round == 1 { #expect(ack.count(.accepted) == 0) }
                }
                j += n
            }
        }
        #expect(try await ca.stats().eventsStored == (try await cb.stats().eventsStored))
        let storedA = try await storedEvents(ca)
        let lowConfidence = Array(Set(events.filter { $0.confidence < 0.7 }.map(\.identity))).count
        #expect(lowConfidence > 0)
        var lowEvents: [Event] = []
        var seen = Set<EventIdentity>()
        for e in events where e.confidence < 0.7 && seen.insert(e.identity).inserted { lowEvents.append(e) }
        for q in queries(around: events, subjectSeed: Int(seed)) {
            let ra = try await ca.metrics(q)
            let rb = try await cb.metrics(q)
            #expect(ra == rb, "scope \(q.scope) differs between arrival orders")
            let expected = referenceAnswer(q, stored: storedA, lowConfidence: lowEvents, window: ra.window)
            #expect(sameAnswer(ra, expected), "scope \(q.scope): server differs from recomputation from stored events")
        }
    }

    @Test func lateEventsUpdateAlreadyQueriedHours() async throws {
        let server = try TaktdProcess()
        defer { server.stop() }
        let c = try server.client()
        defer { c.close() }
        let all = messyStream(seed: 9).filter { $0.confidence >= 0.7 }
        // Hold back every 7th event: they arrive late, after the hours they belong to were queried.
        let onTime = all.enumerated().filter { $0.offset % 7 != 0 }.map(\.element)
        let late = all.enumerated().filter { $0.offset % 7 == 0 }.map(\.element)
        _ = try await c.submit(EventBatch(events: onTime))
        let qs = queries(around: all, subjectSeed: 0).filter { $0.scope != .modelHealth }
        var before: [MetricsResponse] = []
        for q in qs { before.append(try await c.metrics(q)) }
        for chunk in stride(from: 0, to: late.count, by: 300) {
            _ = try await c.submit(EventBatch(events: Array(late[chunk..<min(chunk + 300, late.count)])))
        }
        let stored = try await storedEvents(c)
        var changed = 0
        for (k, q) in qs.enumerated() {
            let after = try await c.metrics(q)
            if after != before[k] { changed += 1 }
            #expect(sameAnswer(after, referenceAnswer(q, stored: stored, lowConfidence: [], window: after.window)),
                    "scope \(q.scope) after late events differs from recomputation")
        }
        #expect(changed > 0, "late events changed no answer")
    }

    @Test func invalidQueriesNameTheField() async throws {
        let server = try TaktdProcess()
        defer { server.stop() }
        let c = try server.client(retry: .none)
        defer { c.close() }
        func failure(_ q: MetricsQuery) async -> RPCError? {
            do { _ = try await c.metrics(q); return nil } catch { return error }
        }
        let now = System.nowMs()
        let e1 = await failure(MetricsQuery(scope: .factory, fromMs: now - 1000, toMs: now - 2000))
        #expect(e1?.code == .invalidArgument && e1?.message.contains("from_ms") == true)
        let e2 = await failure(MetricsQuery(scope: .timeline, fromMs: now - 86_400_000, toMs: now, bucketMs: 7 * 60_000))
        #expect(e2?.code == .invalidArgument && e2?.message.contains("bucket_ms") == true)
        let e3 = await failure(MetricsQuery(scope: .workers, workerIDs: (0...MetricsQuery.maxIDs).map { "W\($0)" }))
        #expect(e3?.code == .invalidArgument && e3?.message.contains("worker_ids") == true)
        let e4 = await failure(MetricsQuery(scope: .timeline, fromMs: now - 86_400_000, toMs: now, utcOffsetMinutes: 2000))
        #expect(e4?.code == .invalidArgument && e4?.message.contains("utc_offset_minutes") == true)
        // Unknown scope on the wire (field 1 = 9).
        let conn = try await c.connection()
        do {
            _ = try await conn.unary(.queryMetrics, [0x08, 0x09], timeoutMs: 5_000)
            Issue.record("unknown scope accepted")
        } catch {
            #expect(error.code == .invalidArgument && error.message.contains("scope"))
        }
        // A window in the future is clipped to now.
        let r = try await c.metrics(MetricsQuery(scope: .factory, fromMs: now - 1000, toMs: now + 86_400_000))
        #expect(r.window.toMs <= System.nowMs() && r.window.toMs >= now)
    }

    @Test func listingPagesNewestFirstWithFilters() async throws {
        let server = try TaktdProcess()
        defer { server.stop() }
        let c = try server.client()
        defer { c.close() }
        let events = messyStream(seed: 4).filter { $0.confidence >= 0.7 }
        _ = try await c.submit(EventBatch(events: events))
        let total = try await c.stats().eventsStored
        var seen: [StoredEvent] = []
        var token = ""
        repeat {
            let p = try await c.listEvents(ListEventsRequest(pageSize: 333, pageToken: token))
            #expect(p.events.count <= 333)
            seen += p.events
            token = p.nextPageToken
        } while !token.isEmpty
        #expect(UInt64(seen.count) == total)
        #expect(Set(seen.map(\.sequence)).count == seen.count)
        #expect(zip(seen, seen.dropFirst()).allSatisfy { $0.event.eventTimeMs >= $1.event.eventTimeMs })
        let filter = EventFilter(siteID: "north", workerIDs: ["W2"], kinds: [.productCount])
        let filtered = try await c.listEvents(ListEventsRequest(filter: filter, pageSize: 10_000))
        #expect(!filtered.events.isEmpty)
        #expect(filtered.events.allSatisfy { filter.matches($0.event) })
        #expect(filtered.events.count == seen.filter { filter.matches($0.event) }.count)
        let bad = await #expect(throws: RPCError.self) { try await c.listEvents(ListEventsRequest(pageSize: 20_000)) }
        #expect(bad?.code == .invalidArgument && bad?.message.contains("page_size") == true)
    }

    @Test func liveSubscriptionSeesMatchingCommittedEvents() async throws {
        let server = try TaktdProcess()
        defer { server.stop() }
        let c = try server.client()
        defer { c.close() }
        let stream = try await c.subscribe(EventFilter(workerIDs: ["W7"]))
        let reader = Task { () -> [StoredEvent] in
            var got: [StoredEvent] = []
            for try await u in stream {
                got += u.events
                if got.count >= 3 { break }
            }
            return got
        }
        var subscribed = false
        for _ in 0..<100 where !subscribed {
            subscribed = try await c.stats().subscribers == 1
            if !subscribed { try await Task.sleep(nanoseconds: 20_000_000) }
        }
        let now = System.nowMs()
        let mine = (0..<3).map { Event(eventTimeMs: now - 10_000 + Int64($0), workerID: "W7", workstationID: "S1", kind: .working, confidence: 0.9) }
        let other = Event(eventTimeMs: now - 5_000, workerID: "W8", workstationID: "S1", kind: .working, confidence: 0.9)
        _ = try await c.submit(EventBatch(events: [mine[0], other, mine[1]]))
        _ = try await c.submit(mine[2])
        let timeout = Task { try await Task.sleep(nanoseconds: 10_000_000_000); reader.cancel() }
        let got = try await reader.value
        timeout.cancel()
        #expect(got.map(\.event.identity) == mine.map(\.identity))
    }
}
