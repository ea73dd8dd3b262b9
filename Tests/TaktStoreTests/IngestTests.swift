import Testing
import TaktDomain
@testable import TaktStore

@Suite struct IngestTests {
    @Test func acceptedThenDuplicateIdentity() async throws {
        try await withStore { store, _ in
            let e = event(1_000)
            #expect(try await store.submit([.candidate(e)]) == [.accepted])
            let again = try await store.submit([.candidate(e)])
            #expect(again.map(\.code) == [.duplicate])
            #expect(again[0].message.contains("same identity"))
            // Another confidence or model does not change the identity.
            let other = try await store.submit([.candidate(event(1_000, confidence: 0.99, model: "m2"))])
            #expect(other.map(\.code) == [.duplicate])
            #expect(store.eventsStored == 1)
        }
    }

    @Test func duplicateWithinOneBatch() async throws {
        try await withStore { store, _ in
            let r = try await store.submit([.candidate(event(10)), .candidate(event(11)), .candidate(event(10))])
            #expect(r.map(\.code) == [.accepted, .accepted, .duplicate])
            #expect(try store.allEvents().count == 2)
        }
    }

    @Test func identityAloneDecidesDuplicatesAndKeysAreKept() async throws {
        try await withStore { store, _ in
            let k1 = IdempotencyKey(gatewayID: "gw-1", sequence: 1)
            #expect(try await store.submit([.candidate(event(100, key: k1))]) == [.accepted])
            // Different identity, same key (a gateway that reused a sequence number): spec section 1
            // makes identity the only rule, so the event is stored rather than lost.
            #expect(try await store.submit([.candidate(event(200, key: k1))]) == [.accepted])
            // Same identity, new key: a duplicate by identity.
            let byIdentity = try await store.submit([.candidate(event(100, key: IdempotencyKey(gatewayID: "gw-1", sequence: 2)))])
            #expect(byIdentity.map(\.code) == [.duplicate])
            #expect(byIdentity[0].message.contains("same identity"))
            // UInt64.max survives the signed column.
            let big = IdempotencyKey(gatewayID: "gw-2", sequence: .max)
            #expect(try await store.submit([.candidate(event(300, key: IdempotencyKey(gatewayID: "gw-2", sequence: 1))),
                                            .candidate(event(400, key: big))]) == [.accepted, .accepted])
            let stored = try store.allEvents()
            #expect(stored.map { $0.event.idempotencyKey } == [k1, k1, IdempotencyKey(gatewayID: "gw-2", sequence: 1), big])
        }
    }

    /// Names the writer registered are published to submitters, which look the keys up themselves; events
    /// stored that way read back exactly like the ones the writer resolved, across sites and models.
    @Test func keysResolvedBeforeTheWriterStoreTheSameRows() async throws {
        try await withStore { store, _ in
            func batch(_ t0: Int64) -> [IngestItem] {
                (0..<12).map { (i: Int) -> IngestItem in
                    let key: IdempotencyKey? = i % 3 == 0 ? nil
                        : IdempotencyKey(gatewayID: "gateway-\(i % 5)", sequence: UInt64(t0) + UInt64(i))
                    let site = i % 2 == 0 ? "a" : "b"
                    return .candidate(event(t0 + Int64(i), worker: "W\(i % 4)", station: "S\(i % 3)", site: site,
                                            model: "m\(i % 2)", key: key))
                }
            }
            let first = batch(1_000), second = batch(2_000)
            func resolved(_ items: [IngestItem]) -> [ResolvedKeys] {
                let keys = store.lockedKeySnapshot().resolve(items)
                return items.indices.map { keys[$0] }
            }
            #expect(resolved(first).allSatisfy { !$0.isResolved })
            #expect(try await store.submit(first).allSatisfy { $0.code == .accepted })
            // The commit that registered them published them (the first publication is not throttled).
            let keys = resolved(second)
            #expect(keys.allSatisfy { $0.isResolved })
            #expect(keys.filter { $0.gateway != 0 }.count == 8)
            #expect(resolved([second[1]])[0].isResolved)  // a single event's keys, held inline
            #expect(try await store.submit(second).allSatisfy { $0.code == .accepted })
            let stored = try store.allEvents().map(\.event)
            #expect(stored == (first + second).map { item in
                var e = item.event
                e.count = e.units
                return e
            })
            // A name the snapshot does not know leaves the event to the writer, which registers it.
            let unknown = [IngestItem.candidate(event(3_000, worker: "W-new", site: "a"))]
            #expect(!resolved(unknown)[0].isResolved)
            #expect(try await store.submit(unknown) == [.accepted])
        }
    }

    @Test func productCountRepeatingIdentityKeepsFirstCount() async throws {
        try await withStore { store, _ in
            #expect(try await store.submit([.candidate(event(5_000, kind: .productCount, count: 3))]) == [.accepted])
            let r = try await store.submit([.candidate(event(5_000, kind: .productCount, count: 7))])
            #expect(r.map(\.code) == [.duplicate])
            #expect(r[0].message.contains("first stored count wins"))
            let stored = try store.allEvents()
            #expect(stored.map(\.event.count) == [3])
        }
    }

    @Test func countIsNormalised() async throws {
        try await withStore { store, _ in
            _ = try await store.submit([.candidate(event(1, kind: .productCount, count: 0)),
                                        .candidate(event(2, kind: .working, count: 9)),
                                        .candidate(event(3, kind: .productCount, count: 10_000, site: ""))])
            let stored = try store.allEvents()
            #expect(stored.map(\.event.count) == [1, 0, 10_000])
            #expect(stored.map(\.event.siteID) == ["default", "default", "default"])
        }
    }

    @Test func strictModeRejectsUnknownEntitiesUntilRegistered() async throws {
        var config = StoreConfiguration(durability: .normal)
        config.strict = true
        try await withStore(config) { store, _ in
            #expect(try await store.upsertWorkers([WorkerRecord(workerID: "W1", name: "Ada")]) == UpsertResult(created: 1, updated: 0))
            #expect(try await store.upsertWorkstations([WorkstationRecord(workstationID: "S1")]) == UpsertResult(created: 1, updated: 0))

            let r = try await store.submit([
                .candidate(event(1, worker: "W2", station: "S1")),
                .candidate(event(2, worker: "W1", station: "S9")),
                .candidate(event(3, worker: "W9", station: "S9")),
                .candidate(event(4, worker: "W1", station: "S1", site: "plant-2")),
                .candidate(event(5, worker: "W1", station: "S1")),
            ])
            #expect(r.map(\.code) == [.unknownEntity, .unknownEntity, .unknownEntity, .unknownEntity, .accepted])
            #expect(r[0].message.contains("worker_id \"W2\""))
            #expect(!r[0].message.contains("workstation_id"))
            #expect(r[1].message.contains("workstation_id \"S9\""))
            #expect(!r[1].message.contains("worker_id"))
            #expect(r[2].message.contains("worker_id \"W9\"") && r[2].message.contains("workstation_id \"S9\""))
            #expect(r[3].message.contains("site \"plant-2\""))

            // Registered, then accepted; the registry upsert is ordered with ingestion.
            #expect(try await store.upsertWorkers([WorkerRecord(workerID: "W2"), WorkerRecord(workerID: "W1", name: "Ada L.")])
                    == UpsertResult(created: 1, updated: 1))
            #expect(try await store.submit([.candidate(event(1, worker: "W2", station: "S1"))]) == [.accepted])
            #expect(try store.listWorkers().map(\.name) == ["Ada L.", ""])
            #expect(try store.listSites() == [SiteRecord(siteID: "default", workers: 2, workstations: 1)])
        }
    }

    @Test func defaultModeRegistersOnFirstSight() async throws {
        try await withStore { store, _ in
            _ = try await store.submit([.candidate(event(1, worker: "W1", station: "S1", site: "a")),
                                        .candidate(event(1, worker: "W2", station: "S1", site: "b")),
                                        .candidate(event(2, worker: "W1", station: "S2", site: "a"))])
            #expect(try store.listSites() == [SiteRecord(siteID: "a", workers: 1, workstations: 2),
                                              SiteRecord(siteID: "b", workers: 1, workstations: 1)])
            #expect(try store.listWorkers(siteID: "a").map(\.workerID) == ["W1"])
            #expect(try store.listWorkstations(siteID: "a").map(\.workstationID) == ["S1", "S2"])
            #expect(try store.listWorkstations().count == 3)
        }
    }

    @Test func lowConfidenceRecordedOnce() async throws {
        try await withStore { store, _ in
            let committed = Collector<StoredEvent>()
            store.onCommit = { _, low in committed.append(contentsOf: low) }
            let low = event(7_000, confidence: 0.2, model: "v7")
            let r1 = try await store.submit([.lowConfidence(low), .lowConfidence(low)])
            let r2 = try await store.submit([.lowConfidence(low)])
            #expect((r1 + r2).map(\.code) == [.lowConfidence, .lowConfidence, .lowConfidence])
            #expect(r1[0].message.contains("min_confidence"))
            var recorded: [StoredEvent] = []
            try store.forEachLowConfidence { recorded.append($0) }
            #expect(recorded.count == 1)
            #expect(recorded.first?.event.modelVersion == "v7")
            #expect(recorded.first?.event.confidence == 0.2)
            #expect(committed.all.count == 1)
            #expect(try store.allEvents().isEmpty)  // never stored as an event
            #expect(store.stats().lowConfidenceEvents == 1)
        }
    }

    @Test func onCommitRunsBeforeCompletions() async throws {
        try await withStore { store, _ in
            let log = Collector<String>()
            store.onCommit = { accepted, _ in log.append("commit \(accepted.count)") }
            let r = try await store.submit([.candidate(event(1)), .candidate(event(2))])
            log.append("done")
            #expect(r == [.accepted, .accepted])
            #expect(log.all == ["commit 2", "done"])
        }
    }

    @Test func storedEventsCarryReceiveTimeAndIncreasingSequence() async throws {
        try await withStore { store, _ in
            let before = System.nowMs()
            _ = try await store.submit([.candidate(event(30)), .candidate(event(10))])
            _ = try await store.submit([.candidate(event(20))])
            let stored = try store.allEvents()
            #expect(stored.map(\.sequence) == [1, 2, 3])
            #expect(stored.map(\.event.eventTimeMs) == [30, 10, 20])
            #expect(stored.allSatisfy { $0.receivedAtMs >= before && $0.receivedAtMs <= System.nowMs() })
        }
    }
}
