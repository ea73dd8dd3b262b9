// Hand-checked cases for the conventions documented on MetricsIndex (rows, order, timeline, model health).
import Testing
import TaktDomain
@testable import TaktMetrics

private let t0: Int64 = 1_764_151_200_000  // 2025-11-26T10:00:00Z
private let minute: Int64 = 60_000

private func ev(_ minutes: Int64, _ worker: String, _ station: String, _ kind: EventKind, count: UInt32 = 0,
                site: String = "default", confidence: Double = 0.9, version: String = "") -> Event {
    Event(eventTimeMs: t0 + minutes * minute, workerID: worker, workstationID: station, kind: kind,
          confidence: confidence, count: count, siteID: site, modelVersion: version)
}

private func both(_ events: [Event], lowConfidence: [Event] = []) -> (ReferenceMetrics, MetricsIndex) {
    let index = MetricsIndex(capMs: MetricsFormula.defaultCapMs, chunkCapacity: 2)
    index.insert(stored(events.reversed()))
    index.insertLowConfidence(stored(lowConfidence))
    return (ReferenceMetrics(events: events, lowConfidence: lowConfidence), index)
}

@Suite("Conventions")
struct ConventionTests {
    @Test("rows: every known entity, byte-wise order, per site; filters pick existing ids")
    func rows() {
        let events = [
            ev(0, "W2", "S2", .working), ev(0, "W10", "S10", .idle), ev(0, "w1", "s-1", .working),
            ev(0, "W2", "S2", .working, site: "B"), ev(600, "W3", "S1", .working),  // W3 only much later
        ]
        let (reference, index) = both(events)
        let window = TimeWindow(fromMs: t0, toMs: t0 + 30 * minute)
        let workers = index.workers(window: window, query: MetricsQuery(scope: .workers))
        #expect(workers.map { "\($0.siteID)/\($0.workerID)" } == ["B/W2", "default/W10", "default/W2", "default/W3", "default/w1"])
        let w3 = workers[3]
        #expect(w3.absentMs == window.lengthMs && w3.lastSeenMs == nil && w3.utilizationPct == 0)
        let stations = index.workstations(window: window, query: MetricsQuery(scope: .workstations))
        #expect(stations.map { "\($0.siteID)/\($0.workstationID)" } == ["B/S2", "default/S1", "default/S10", "default/S2", "default/s-1"])

        var filtered = MetricsQuery(scope: .workers, workerIDs: ["W2", "ghost", "W2"], workstationIDs: ["S2"])
        #expect(index.workers(window: window, query: filtered).map { "\($0.siteID)/\($0.workerID)" } == ["B/W2", "default/W2"])
        filtered.siteID = "default"
        #expect(index.workers(window: window, query: filtered).map(\.workerID) == ["W2"])
        #expect(index.workstations(window: window, query: filtered).map(\.workstationID) == ["S2"])
        // The factory ignores id filters.
        #expect(index.factory(window: window, query: filtered).activeWorkers == 3)
        #expect(index.report(window: window, query: filtered) == reference.report(window: window, query: filtered))
    }

    @Test("same instant: workstation byte-wise (S10 < S2), then kind; the last one holds")
    func sameInstant() {
        let events = [ev(0, "W1", "S2", .idle), ev(0, "W1", "S10", .working), ev(0, "W1", "S2", .absent)]
        let (reference, index) = both(events)
        let window = TimeWindow(fromMs: t0, toMs: t0 + 20 * minute)
        let q = MetricsQuery(scope: .workers)
        let w = index.workers(window: window, query: q)[0]
        // Order: S10 working, S2 absent, S2 idle → idle holds for CAP.
        #expect(w.idleMs == 10 * minute && w.workingMs == 0)
        #expect(index.report(window: window, query: q) == reference.report(window: window, query: q))
    }

    @Test("timeline buckets align to local midnight for the UTC offset and clip to the window")
    func timelineAlignment() {
        let events = [ev(0, "W1", "S1", .working), ev(7, "W1", "S1", .productCount, count: 2), ev(9, "W1", "S1", .idle)]
        let (reference, index) = both(events)
        // +05:30: local midnight is 18:30 UTC, so hourly buckets start at hh:30 UTC.
        let window = TimeWindow(fromMs: t0 - 45 * minute, toMs: t0 + 50 * minute)
        var q = MetricsQuery(scope: .timeline, bucketMs: 3_600_000, utcOffsetMinutes: 330, timelineSubject: .worker)
        let rows = index.timeline(window: window, query: q)
        #expect(rows == reference.timeline(window: window, query: q))
        let b = rows[0].buckets
        #expect(b.map(\.startMs) == [t0 - 45 * minute, t0 - 30 * minute, t0 + 30 * minute])
        #expect(b.map(\.endMs) == [t0 - 30 * minute, t0 + 30 * minute, t0 + 50 * minute])
        #expect(b[1].workingMs == 9 * minute && b[1].idleMs == 10 * minute && b[1].units == 2)
        q.timelineSubject = .workstation
        let station = index.timeline(window: window, query: q)[0].buckets[1]
        #expect(station.workingMs == 9 * minute && station.idleMs == 10 * minute)
        #expect(station.utilizationPct == 100 * Double(19 * minute) / Double(60 * minute))
        q.timelineSubject = .factory
        #expect(index.timeline(window: window, query: q) == reference.timeline(window: window, query: q))
    }

    @Test("model health: last 100 by (time, confidence), rejections in the last 24 h, drift")
    func modelHealth() {
        var events: [Event] = []
        // Baseline day: 40 events at 0.95; recent day: 40 events at 0.70 (v1), plus 5 "v2" events.
        for i in 0..<40 { events.append(ev(Int64(-36 * 60 + i), "W\(i)", "S1", .working, confidence: 0.95, version: "v1")) }
        for i in 0..<40 { events.append(ev(Int64(-60 + i), "W\(i)", "S1", .working, confidence: 0.70, version: "v1")) }
        for i in 0..<5 { events.append(ev(Int64(-30 + i), "X\(i)", "S2", .idle, confidence: 0.99, version: "v2")) }
        let rejected = [ev(-10, "W1", "S1", .idle, confidence: 0.2, version: "v1"),
                        ev(-25 * 60, "W1", "S1", .idle, confidence: 0.2, version: "v1"),
                        ev(-5, "W1", "S1", .idle, confidence: 0.3, version: "v3")]
        let (reference, index) = both(events, lowConfidence: rejected)
        let report = index.modelHealth(toMs: t0, siteID: nil)
        expectEqual(report, reference.modelHealth(toMs: t0, siteID: nil), "model health")
        #expect(report.versions.map(\.modelVersion) == ["v1", "v2", "v3"])
        let v1 = report.versions[0]
        #expect(v1.samples == 80 && v1.lowConfidenceRejections24h == 1)
        #expect(v1.status == .caution)  // mean 0.825
        #expect(abs(v1.driftPct! - 100 * (0.95 - 0.70) / 0.95) < 1e-9 && v1.driftDetected)
        #expect(report.versions[1].driftPct == nil && report.versions[1].status == .healthy)
        #expect(report.versions[2].samples == 0 && report.versions[2].status == .unknown)
        #expect(report.overall.samples == 85 && report.overall.lowConfidenceRejections24h == 2)
        // Only events before `to` count; a site filter applies.
        #expect(index.modelHealth(toMs: t0 - 40 * 60 * minute, siteID: nil).overall.samples == 0)
        #expect(index.modelHealth(toMs: t0, siteID: "elsewhere").versions.isEmpty)
    }
}
