// Exactly-once, durable ingestion through the real RPC path (issue: durable ingestion):
// every result code, replays, group commit, and SIGKILL at random moments.
import Foundation
import Testing
import TaktClient
import TaktDomain
import TaktPosix

/// Every stored event, paging through ListEvents.
func allStoredIdentities(_ c: TaktClient) async throws -> Set<EventIdentity> {
    var out = Set<EventIdentity>()
    var token = ""
    repeat {
        let page = try await c.listEvents(ListEventsRequest(pageSize: 10_000, pageToken: token))
        for e in page.events { out.insert(e.event.identity) }
        token = page.nextPageToken
    } while !token.isEmpty
    return out
}

@Suite(.serialized) struct IngestTests {
    @Test func everyResultCodeThroughRPC() async throws {
        let server = try TaktdProcess(arguments: ["--strict", "--max-batch", "100"])
        defer { server.stop() }
        let c = try server.client()
        defer { c.close() }
        _ = try await c.upsertWorkers([WorkerRecord(workerID: "W1", name: "Ana")])
        _ = try await c.upsertWorkstations([WorkstationRecord(workstationID: "S1", name: "Press")])
        let now = System.nowMs()
        let ok = Event(eventTimeMs: now - 60_000, workerID: "W1", workstationID: "S1", kind: .working, confidence: 0.9)
        var productA = Event(eventTimeMs: now - 30_000, workerID: "W1", workstationID: "S1", kind: .productCount, confidence: 0.9, count: 3)
        var productB = productA
        productB.count = 7
        var keyed = Event(eventTimeMs: now - 20_000, workerID: "W1", workstationID: "S1", kind: .idle, confidence: 0.9)
        keyed.idempotencyKey = IdempotencyKey(gatewayID: "gw-1", sequence: 1)
        var sameKeyOther = Event(eventTimeMs: now - 10_000, workerID: "W1", workstationID: "S1", kind: .working, confidence: 0.9)
        sameKeyOther.idempotencyKey = IdempotencyKey(gatewayID: "gw-1", sequence: 1)
        productA.idempotencyKey = nil
        let batch: [Event] = [
            ok,                                                                            // 0 ACCEPTED
            ok,                                                                            // 1 DUPLICATE (same batch)
            Event(eventTimeMs: now - 50_000, workerID: "W1", workstationID: "S1", kind: .idle, confidence: 0.5), // 2 LOW_CONFIDENCE
            Event(eventTimeMs: now - 50_000, workerID: "W 1", workstationID: "S1", kind: .idle, confidence: 0.9), // 3 INVALID worker_id
            Event(eventTimeMs: now + 3_600_000, workerID: "W1", workstationID: "S1", kind: .idle, confidence: 0.9), // 4 INVALID skew
            Event(eventTimeMs: now - 50_000, workerID: "W9", workstationID: "S1", kind: .idle, confidence: 0.9), // 5 UNKNOWN_ENTITY worker
            Event(eventTimeMs: now - 50_000, workerID: "W1", workstationID: "S9", kind: .idle, confidence: 0.9), // 6 UNKNOWN_ENTITY station
            productA,                                                                      // 7 ACCEPTED
            productB,                                                                      // 8 DUPLICATE (first count wins)
            keyed,                                                                         // 9 ACCEPTED
            sameKeyOther,                                                                  // 10 ACCEPTED (identity decides, not the key)
            Event(eventTimeMs: now - 40_000, workerID: "W1", workstationID: "S1", kind: .working, confidence: 1.5), // 11 INVALID confidence
            Event(eventTimeMs: now - 40_000, workerID: "W1", workstationID: "S1", kind: .productCount, confidence: 0.9, count: 10_001), // 12 INVALID count
        ]
        let ack = try await c.submit(EventBatch(events: batch))
        #expect(ack.codes == [.accepted, .duplicate, .lowConfidence, .invalid, .invalid, .unknownEntity, .unknownEntity,
                              .accepted, .duplicate, .accepted, .accepted, .invalid, .invalid])
        let reasons = Dictionary(uniqueKeysWithValues: ack.rejections.map { ($0.index, $0.result.message) })
        #expect(reasons[3]?.contains("worker_id") == true)
        #expect(reasons[4]?.contains("ahead of the server clock") == true)
        #expect(reasons[5]?.contains("W9") == true)
        #expect(reasons[6]?.contains("S9") == true)
        #expect(reasons[11]?.contains("confidence") == true)
        #expect(reasons[12]?.contains("count") == true)
        #expect(ack.count(.accepted) == 4)
        // Single-event RPC gives the same codes.
        #expect(try await c.submit(ok).code == .duplicate)
        #expect(try await c.submit(batch[5]).code == .unknownEntity)
        // A registered worker is then accepted in strict mode.
        _ = try await c.upsertWorkers([WorkerRecord(workerID: "W9")])
        #expect(try await c.submit(batch[5]).code == .accepted)
        // Stored: exactly the accepted ones, first product count kept.
        let page = try await c.listEvents(ListEventsRequest(filter: EventFilter(kinds: [.productCount])))
        #expect(page.events.map(\.event.count) == [3])
        #expect(try await c.stats().eventsStored == 5)
        // Over the batch limit: the call fails naming the limit; nothing stored.
        let tooMany = (0..<101).map { i in Event(eventTimeMs: now - Int64(i) * 1000 - 100_000, workerID: "W1", workstationID: "S1", kind: .idle, confidence: 0.9) }
        let e = await #expect(throws: RPCError.self) { try await c.submit(EventBatch(events: tooMany)) }
        #expect(e?.code == .invalidArgument)
        #expect(e?.message.contains("100") == true)
        #expect(try await c.stats().eventsStored == 5)
    }

    @Test func sameBatchFiveTimesConcurrentlyStoresItOnce() async throws {
        let server = try TaktdProcess()
        defer { server.stop() }
        let base = System.nowMs() - 86_400_000
        let events = (0..<10_000).map { i in
            Event(eventTimeMs: base + Int64(i) * 997, workerID: "W\(i % 40)", workstationID: "S\(i % 9)",
                  kind: [.working, .idle, .absent, .productCount][i % 4], confidence: 0.9, count: 2)
        }
        let acks = try await withThrowingTaskGroup(of: BatchAck.self) { group in
            for _ in 0..<5 {
                group.addTask {
                    let c = try server.client()   // its own connection
                    defer { c.close() }
                    return try await c.submit(EventBatch(events: events), timeoutMs: 120_000)
                }
            }
            var all: [BatchAck] = []
            for try await a in group { all.append(a) }
            return all
        }
        #expect(acks.map { $0.count(.accepted) }.reduce(0, +) == 10_000)
        #expect(acks.map { $0.count(.duplicate) }.reduce(0, +) == 40_000)
        // Every position accepted exactly once across the five acks.
        for i in 0..<10_000 { #expect(acks.filter { $0.codes[i] == .accepted }.count == 1) }
        let c = try server.client()
        defer { c.close() }
        #expect(try await c.stats().eventsStored == 10_000)
    }

    @Test func groupCommitMergesConcurrentCalls() async throws {
        let server = try TaktdProcess()
        defer { server.stop() }
        let c0 = try server.client()
        defer { c0.close() }
        let before = try await c0.stats().commits
        let base = System.nowMs() - 3_600_000
        let calls = 1_000
        try await withThrowingTaskGroup(of: Void.self) { group in
            for k in 0..<20 {
                group.addTask {
                    let c = try server.client()
                    defer { c.close() }
                    let conn = try await c.connection()
                    // 50 single-event calls in flight at once on each of 20 connections.
                    try await withThrowingTaskGroup(of: Void.self) { inner in
                        for j in 0..<(calls / 20) {
                            inner.addTask {
                                let e = Event(eventTimeMs: base + Int64(k * 1000 + j), workerID: "W\(k)", workstationID: "S1", kind: .working, confidence: 0.9)
                                let r = try EventResult(protobuf: try await conn.unary(.submitEvent, e.protobufBytes(), timeoutMs: 60_000))
                                #expect(r.code == .accepted)
                            }
                        }
                        try await inner.waitForAll()
                    }
                }
            }
            try await group.waitForAll()
        }
        let s = try await c0.stats()
        #expect(s.eventsStored == UInt64(calls))
        let commits = s.commits - before
        #expect(commits < UInt64(calls / 4), "\(calls) calls took \(commits) transactions")
    }

    @Test(arguments: [11, 22, 33])
    func everyAcknowledgedEventSurvivesSIGKILL(seed: UInt64) async throws {
        let dir = TempDir()
        var rng = SeededRandom(seed: seed)
        let server = try TaktdProcess(dataDir: dir.path)
        let acked = AckedSet()
        let base = System.nowMs() - 7 * 86_400_000
        // Killed a random moment after the first acknowledgement (not after a fixed time: on a slow
        // machine, e.g. under a sanitizer, the first answer may take longer than that).
        let killAfterMs = Int(rng.next() % 600)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for g in 0..<4 {
                let gatewaySeed = rng.next()
                group.addTask {
                    var r = SeededRandom(seed: gatewaySeed)
                    let c = try server.client(retry: .none)
                    defer { c.close() }
                    for b in 0..<400 {
                        let events = (0..<Int(1 + r.next() % 200)).map { i in
                            Event(eventTimeMs: base + Int64(r.next() % 600_000_000), workerID: "W\(g)-\(r.next() % 5)",
                                  workstationID: "S\(r.next() % 4)", kind: [.working, .idle, .absent, .productCount][Int(r.next() % 4)],
                                  confidence: 0.9, count: 1)
                            .with(i: i, b: b)
                        }
                        do {
                            let ack = try await c.submit(EventBatch(events: events), timeoutMs: 10_000)
                            acked.add(zip(events, ack.codes).filter { $0.1 == .accepted || $0.1 == .duplicate }.map { $0.0.identity })
                        } catch {
                            return  // the server is gone
                        }
                    }
                }
            }
            group.addTask {
                for _ in 0..<3_000 where acked.count == 0 { try await Task.sleep(nanoseconds: 10_000_000) }
                try await Task.sleep(nanoseconds: UInt64(killAfterMs) * 1_000_000)
                server.kill()
            }
            try await group.waitForAll()
        }
        #expect(acked.count > 0, "nothing was acknowledged within 30 s")
        let again = try TaktdProcess(dataDir: dir.path)
        defer { again.stop() }
        let c = try again.client()
        defer { c.close() }
        let stored = try await allStoredIdentities(c)
        let missing = acked.all.subtracting(stored)
        #expect(missing.isEmpty, "\(missing.count) acknowledged events lost (kill \(killAfterMs) ms after the first ack)")
        #expect(UInt64(stored.count) == (try await c.stats().eventsStored))
    }
}

extension Event {
    /// Spreads events of one batch apart so a batch rarely repeats an identity by chance.
    func with(i: Int, b: Int) -> Event {
        var e = self
        e.eventTimeMs += Int64(i) * 7 + Int64(b) * 1_000_003
        return e
    }
}

struct SeededRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

final class AckedSet: @unchecked Sendable {
    private let lock = NSLock()
    private var set = Set<EventIdentity>()
    func add(_ ids: [EventIdentity]) { lock.lock(); set.formUnion(ids); lock.unlock() }
    var all: Set<EventIdentity> { lock.lock(); defer { lock.unlock() }; return set }
    var count: Int { all.count }
}
