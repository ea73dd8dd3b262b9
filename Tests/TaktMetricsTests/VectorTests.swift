// Every file of shared/vectors through the engine: acceptance codes computed here, then the accepted events
// through ReferenceMetrics and MetricsIndex. (The RPC-path vector test lives with the server.)
import Foundation
import Testing
import TaktDomain
@testable import TaktMetrics

struct VectorFile: Decodable {
    struct Window: Decodable {
        var from_ms: Int64
        var to_ms: Int64
    }
    struct VectorEvent: Decodable {
        var event_time_ms: Int64
        var worker_id: String
        var workstation_id: String
        var kind: String
        var confidence: Double
        var count: UInt32?
        var site_id: String?
        var model_version: String?
    }
    struct Worker: Decodable {
        var site_id: String?
        var worker_id: String
        var working_ms: Int64
        var idle_ms: Int64
        var absent_ms: Int64
        var utilization_pct: Double
        var units: Int64
        var units_outside_working: Int64
        var units_per_hour: Double
        var last_seen_ms: Int64?
    }
    struct Workstation: Decodable {
        var site_id: String?
        var workstation_id: String
        var occupancy_ms: Int64
        var working_ms: Int64
        var utilization_pct: Double
        var units: Int64
        var throughput_per_hour: Double
        var last_activity_ms: Int64?
    }
    struct Factory: Decodable {
        var active_workers: Int64
        var active_workstations: Int64
        var total_working_ms: Int64
        var total_units: Int64
        var avg_utilization_pct: Double
        var avg_units_per_hour: Double
    }
    struct Expected: Decodable {
        var codes: [String]
        var workers: [Worker]
        var workstations: [Workstation]
        var factory: Factory
    }
    var name: String
    var min_confidence: Double?
    var cap_ms: Int64?
    var window: Window
    var events: [VectorEvent]
    var expected: Expected
}

enum Vectors {
    static var directory: URL {
        if let dir = ProcessInfo.processInfo.environment["TAKT_VECTORS_DIR"], !dir.isEmpty {
            return URL(fileURLWithPath: dir)
        }
        // Tests/TaktMetricsTests/VectorTests.swift → repo root → its parent's shared/vectors.
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("../shared/vectors").standardized
    }

    static var files: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted()
    }
}

@Suite("Spec vectors through the engine")
struct VectorTests {
    @Test("the vector directory holds the expected cases")
    func vectorsPresent() {
        #expect(Vectors.files.count >= 12, "vectors in \(Vectors.directory.path): \(Vectors.files)")
    }

    @Test("vector", arguments: Vectors.files)
    func vector(_ file: String) throws {
        let data = try Data(contentsOf: Vectors.directory.appendingPathComponent(file))
        let v = try JSONDecoder().decode(VectorFile.self, from: data)
        let events = try v.events.map { e -> Event in
            let kind = try #require(EventKind(name: e.kind), "kind \(e.kind)")
            return Event(eventTimeMs: e.event_time_ms, workerID: e.worker_id, workstationID: e.workstation_id,
                         kind: kind, confidence: e.confidence, count: e.count ?? 0,
                         siteID: e.site_id ?? Event.defaultSite, modelVersion: e.model_version ?? "")
        }
        let classified = classify(events, minConfidence: v.min_confidence ?? 0.70)
        #expect(classified.codes.map(\.name) == v.expected.codes, "\(file): codes")

        let cap = v.cap_ms ?? MetricsFormula.defaultCapMs
        let window = TimeWindow(fromMs: v.window.from_ms, toMs: v.window.to_ms)
        let query = MetricsQuery(scope: .workers)
        let reference = ReferenceMetrics(events: classified.accepted, lowConfidence: classified.rejected, capMs: cap)
        let index = MetricsIndex(capMs: cap, chunkCapacity: 8)
        var rng = SeededGenerator(seed: UInt64(file.utf8.count))
        insert(classified.accepted, into: index, batches: 3, rng: &rng)

        for (engine, report) in [("reference", reference.report(window: window, query: query)),
                                 ("index", index.report(window: window, query: query))] {
            check(report, v.expected, "\(file) \(engine)")
        }
        // Separate queries agree with the combined report, and the index with the reference, exactly.
        let expected = reference.report(window: window, query: query)
        #expect(index.report(window: window, query: query) == expected, "\(file)")
        #expect(index.workers(window: window, query: query) == expected.workers)
        #expect(index.workstations(window: window, query: query) == expected.workstations)
        #expect(index.factory(window: window, query: query) == expected.factory)
    }

    func check(_ r: MetricsReport, _ x: VectorFile.Expected, _ context: String) {
        #expect(r.workers.map(\.workerID) == x.workers.map(\.worker_id), "\(context): worker rows")
        for (a, b) in zip(r.workers, x.workers) {
            let c = "\(context) \(b.worker_id)"
            #expect(a.siteID == (b.site_id ?? Event.defaultSite), "\(c) site")
            #expect(a.workingMs == b.working_ms, "\(c) working_ms")
            #expect(a.idleMs == b.idle_ms, "\(c) idle_ms")
            #expect(a.absentMs == b.absent_ms, "\(c) absent_ms")
            #expect(relativelyClose(a.utilizationPct, b.utilization_pct), "\(c) utilization_pct \(a.utilizationPct)")
            #expect(a.units == b.units, "\(c) units")
            #expect(a.unitsOutsideWorking == b.units_outside_working, "\(c) units_outside_working")
            #expect(relativelyClose(a.unitsPerHour, b.units_per_hour), "\(c) units_per_hour \(a.unitsPerHour)")
            #expect(a.lastSeenMs == b.last_seen_ms, "\(c) last_seen_ms")
        }
        #expect(r.workstations.map(\.workstationID) == x.workstations.map(\.workstation_id), "\(context): workstation rows")
        for (a, b) in zip(r.workstations, x.workstations) {
            let c = "\(context) \(b.workstation_id)"
            #expect(a.siteID == (b.site_id ?? Event.defaultSite), "\(c) site")
            #expect(a.occupancyMs == b.occupancy_ms, "\(c) occupancy_ms")
            #expect(a.workingMs == b.working_ms, "\(c) working_ms")
            #expect(relativelyClose(a.utilizationPct, b.utilization_pct), "\(c) utilization_pct \(a.utilizationPct)")
            #expect(a.units == b.units, "\(c) units")
            #expect(relativelyClose(a.throughputPerHour, b.throughput_per_hour), "\(c) throughput \(a.throughputPerHour)")
            #expect(a.lastActivityMs == b.last_activity_ms, "\(c) last_activity_ms")
        }
        let f = r.factory, y = x.factory
        #expect(f.activeWorkers == y.active_workers, "\(context) active_workers")
        #expect(f.activeWorkstations == y.active_workstations, "\(context) active_workstations")
        #expect(f.totalWorkingMs == y.total_working_ms, "\(context) total_working_ms")
        #expect(f.totalUnits == y.total_units, "\(context) total_units")
        #expect(relativelyClose(f.avgUtilizationPct, y.avg_utilization_pct), "\(context) avg_utilization_pct \(f.avgUtilizationPct)")
        #expect(relativelyClose(f.avgUnitsPerHour, y.avg_units_per_hour), "\(context) avg_units_per_hour \(f.avgUnitsPerHour)")
    }
}
