// Every metric vector of shared/vectors through the real path: events over RPC to a real taktd
// (in the file's order), then the window queried over RPC and compared exactly.
import Foundation
import Testing
import TaktClient
import TaktDomain

struct Vector: Sendable, CustomStringConvertible {
    let name: String
    let data: Data
    var description: String { name }
    var json: [String: Any] { try! JSONSerialization.jsonObject(with: data) as! [String: Any] }

    static let directory: String = {
        if let d = ProcessInfo.processInfo.environment["TAKT_VECTORS_DIR"] { return d }
        // Tests/EndToEndTests/VectorTests.swift → repo → ../shared/vectors
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return repo.deletingLastPathComponent().appendingPathComponent("shared/vectors").path
    }()

    static let all: [Vector] = {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory))?.filter { $0.hasSuffix(".json") }.sorted() ?? []
        return files.compactMap { f in
            guard let data = FileManager.default.contents(atPath: directory + "/" + f) else { return nil }
            return Vector(name: f, data: data)
        }
    }()

    var events: [Event] {
        (json["events"] as! [[String: Any]]).map { e in
            Event(eventTimeMs: (e["event_time_ms"] as! NSNumber).int64Value, workerID: e["worker_id"] as! String,
                  workstationID: e["workstation_id"] as! String, kind: EventKind(name: e["kind"] as! String)!,
                  confidence: (e["confidence"] as! NSNumber).doubleValue,
                  count: UInt32((e["count"] as? NSNumber)?.intValue ?? 0),
                  siteID: e["site_id"] as? String ?? Event.defaultSite, modelVersion: e["model_version"] as? String ?? "")
        }
    }
    var window: TimeWindow {
        let w = json["window"] as! [String: Any]
        return TimeWindow(fromMs: (w["from_ms"] as! NSNumber).int64Value, toMs: (w["to_ms"] as! NSNumber).int64Value)
    }
    var expected: [String: Any] { json["expected"] as! [String: Any] }
    var minConfidence: Double { (json["min_confidence"] as? NSNumber)?.doubleValue ?? 0.7 }
    var capMs: Int64 { (json["cap_ms"] as? NSNumber)?.int64Value ?? 600_000 }
}

func closeEnough(_ a: Double, _ b: Double) -> Bool {
    if a == b { return true }
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b))
}

func int64(_ any: Any?) -> Int64? { (any as? NSNumber)?.int64Value }
func double(_ any: Any?) -> Double? { (any as? NSNumber)?.doubleValue }

@Suite(.serialized) struct VectorTests {
    @Test func vectorsArePresent() {
        #expect(Vector.all.count >= 12, "vectors not found in \(Vector.directory)")
    }

    @Test(arguments: Vector.all)
    func vectorThroughRealPath(_ v: Vector) async throws {
        let server = try TaktdProcess(arguments: ["--min-confidence", "\(v.minConfidence)", "--cap-ms", "\(v.capMs)"])
        defer { server.stop() }
        let client = try server.client()
        defer { client.close() }
        let events = v.events
        // Arrival order as given: small vectors one event per call, big ones in batches of 50.
        var codes: [String] = []
        if events.count <= 20 {
            for e in events { codes.append(try await client.submit(e).code.name) }
        } else {
            var i = 0
            while i < events.count {
                let chunk = Array(events[i..<min(i + 50, events.count)])
                codes += try await client.submit(EventBatch(events: chunk)).codes.map(\.name)
                i += 50
            }
        }
        #expect(codes == (v.expected["codes"] as! [String]), "\(v.name): codes")

        let w = v.window
        let r = try await client.metrics(MetricsQuery(scope: .all, fromMs: w.fromMs, toMs: w.toMs))
        #expect(r.window == w)
        let expWorkers = v.expected["workers"] as! [[String: Any]]
        #expect(r.workers.map(\.workerID) == expWorkers.map { $0["worker_id"] as! String }, "\(v.name): worker rows")
        for (got, exp) in zip(r.workers, expWorkers) {
            #expect(got.workingMs == int64(exp["working_ms"]), "\(v.name) \(got.workerID) working_ms")
            #expect(got.idleMs == int64(exp["idle_ms"]), "\(v.name) \(got.workerID) idle_ms")
            #expect(got.absentMs == int64(exp["absent_ms"]), "\(v.name) \(got.workerID) absent_ms")
            #expect(got.units == int64(exp["units"]), "\(v.name) \(got.workerID) units")
            #expect(got.unitsOutsideWorking == int64(exp["units_outside_working"]), "\(v.name) \(got.workerID) units_outside")
            #expect(closeEnough(got.utilizationPct, double(exp["utilization_pct"])!), "\(v.name) \(got.workerID) utilization")
            #expect(closeEnough(got.unitsPerHour, double(exp["units_per_hour"])!), "\(v.name) \(got.workerID) units_per_hour")
            #expect(got.lastSeenMs == int64(exp["last_seen_ms"]), "\(v.name) \(got.workerID) last_seen_ms")
        }
        let expStations = v.expected["workstations"] as! [[String: Any]]
        #expect(r.workstations.map(\.workstationID) == expStations.map { $0["workstation_id"] as! String }, "\(v.name): station rows")
        for (got, exp) in zip(r.workstations, expStations) {
            #expect(got.occupancyMs == int64(exp["occupancy_ms"]), "\(v.name) \(got.workstationID) occupancy_ms")
            #expect(got.workingMs == int64(exp["working_ms"]), "\(v.name) \(got.workstationID) working_ms")
            #expect(got.units == int64(exp["units"]), "\(v.name) \(got.workstationID) units")
            #expect(closeEnough(got.utilizationPct, double(exp["utilization_pct"])!), "\(v.name) \(got.workstationID) utilization")
            #expect(closeEnough(got.throughputPerHour, double(exp["throughput_per_hour"])!), "\(v.name) \(got.workstationID) throughput")
            #expect(got.lastActivityMs == int64(exp["last_activity_ms"]), "\(v.name) \(got.workstationID) last_activity_ms")
        }
        let f = v.expected["factory"] as! [String: Any]
        let gf = try #require(r.factory)
        #expect(gf.activeWorkers == int64(f["active_workers"]))
        #expect(gf.activeWorkstations == int64(f["active_workstations"]))
        #expect(gf.totalWorkingMs == int64(f["total_working_ms"]))
        #expect(gf.totalUnits == int64(f["total_units"]))
        #expect(closeEnough(gf.avgUtilizationPct, double(f["avg_utilization_pct"])!))
        #expect(closeEnough(gf.avgUnitsPerHour, double(f["avg_units_per_hour"])!))

        // The per-scope RPCs agree with the combined one.
        let workersOnly = try await client.metrics(MetricsQuery(scope: .workers, fromMs: w.fromMs, toMs: w.toMs))
        #expect(workersOnly.workers == r.workers)
        let factoryOnly = try await client.metrics(MetricsQuery(scope: .factory, fromMs: w.fromMs, toMs: w.toMs))
        #expect(factoryOnly.factory == r.factory)

        // Replaying everything changes nothing.
        let replay = try await client.submit(EventBatch(events: events))
        #expect(replay.codes.allSatisfy { $0 == .duplicate || $0 == .lowConfidence })
        let again = try await client.metrics(MetricsQuery(scope: .all, fromMs: w.fromMs, toMs: w.toMs))
        #expect(again == r)
    }
}
