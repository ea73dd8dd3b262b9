import Testing
import TaktDomain
@testable import TaktStore

@Suite struct DurabilityTests {
    static func sampleEvents() -> [Event] {
        var out: [Event] = []
        let kinds: [EventKind] = [.working, .idle, .absent, .productCount]
        for i in 0..<600 {
            out.append(event(Int64(10_000 + (i * 37) % 500), worker: "W\(i % 4)", station: "S\(i % 3)",
                             kind: kinds[i % 4], count: UInt32(i % 5), site: i % 5 == 0 ? "north" : "default",
                             model: "m\(i % 2)",
                             key: i % 2 == 0 ? IdempotencyKey(gatewayID: "gw", sequence: UInt64(i)) : nil))
        }
        return out
    }

    @Test func reopenKeepsEverythingInOrder() async throws {
        let dir = TempDirectory("reopen")
        defer { dir.remove() }
        let events = Self.sampleEvents()
        var acceptedIdentities: [EventIdentity] = []
        do {
            let store = try EventStore.open(directory: dir.path, configuration: StoreConfiguration(), logger: quietLogger)
            for chunk in stride(from: 0, to: events.count, by: 100) {
                let slice = Array(events[chunk..<min(chunk + 100, events.count)])
                let r = try await store.submit(slice.map { .candidate($0) })
                for (e, res) in zip(slice, r) where res.code == .accepted { acceptedIdentities.append(e.identity) }
            }
            _ = try await store.submit([.lowConfidence(event(1, confidence: 0.1))])
            store.close()
            #expect(System.fileSize(dir.path + "/takt.db-wal") == 0)  // TRUNCATE checkpoint at close
        }
        let store = try EventStore.open(directory: dir.path, configuration: StoreConfiguration(), logger: quietLogger)
        defer { store.close() }
        let stored = try store.allEvents()
        #expect(stored.map(\.event.identity) == acceptedIdentities)  // store-sequence order = commit order
        #expect(stored.map(\.sequence) == Array(1...Int64(stored.count)))
        #expect(store.eventsStored == UInt64(stored.count))
        #expect(store.stats().lowConfidenceEvents == 1)
        // Replaying everything after the restart is all duplicates.
        let replay = try await store.submit(events.map { .candidate($0) })
        #expect(replay.allSatisfy { $0.code == .duplicate })
        // New events continue the sequence.
        _ = try await store.submit([.candidate(event(99_999))])
        #expect(try store.allEvents().last?.sequence == Int64(stored.count + 1))
    }

    @Test(arguments: [
        EventFilter(),
        EventFilter(siteID: "north"),
        EventFilter(siteID: "default", kinds: [.working, .idle], fromMs: 10_100, toMs: 10_400),
        EventFilter(workerIDs: ["W1", "W3"]),
        EventFilter(siteID: "default", workerIDs: ["W2"], workstationIDs: ["S0", "S2"], kinds: [.productCount]),
        EventFilter(siteID: "nowhere"),
        EventFilter(workerIDs: ["nobody"]),
    ])
    func listEventsPagesCoverEveryMatchExactlyOnce(filter: EventFilter) async throws {
        try await withStore { store, _ in
            _ = try await store.submit(Self.sampleEvents().map { .candidate($0) })
            let all = try store.allEvents()
            let expected = all.filter { filter.matches($0.event) }
                .sorted { ($0.event.eventTimeMs, $0.sequence) > ($1.event.eventTimeMs, $1.sequence) }
            var got: [StoredEvent] = []
            var token = ""
            var pages = 0
            repeat {
                let page = try store.listEvents(ListEventsRequest(filter: filter, pageSize: 7, pageToken: token))
                #expect(page.events.count <= 7)
                got += page.events
                token = page.nextPageToken
                pages += 1
            } while !token.isEmpty && pages < 1_000
            #expect(got == expected)
            #expect(Set(got.map(\.sequence)).count == got.count)
        }
    }

    @Test func listEventsPageSizeRules() async throws {
        try await withStore { store, _ in
            _ = try await store.submit((1...150).map { .candidate(event(Int64($0))) })
            let first = try store.listEvents(ListEventsRequest())
            #expect(first.events.count == 100)  // 0 means 100
            #expect(first.events.first?.event.eventTimeMs == 150)
            let rest = try store.listEvents(ListEventsRequest(pageToken: first.nextPageToken))
            #expect(rest.events.count == 50)
            #expect(rest.nextPageToken.isEmpty)
            #expect(try store.listEvents(ListEventsRequest(pageSize: 10_000)).events.count == 150)
            for bad in [10_001, -1] {
                do throws(StoreError) {
                    _ = try store.listEvents(ListEventsRequest(pageSize: bad))
                    Issue.record("page_size \(bad) accepted")
                } catch {
                    #expect(error.rpcError.code == .invalidArgument)
                    #expect(error.message.contains("page_size"))
                }
            }
            do throws(StoreError) {
                _ = try store.listEvents(ListEventsRequest(pageToken: "garbage"))
                Issue.record("bad token accepted")
            } catch {
                #expect(error.message.contains("page_token"))
            }
            do throws(StoreError) {
                _ = try store.listEvents(ListEventsRequest(filter: EventFilter(fromMs: 5, toMs: 5)))
                Issue.record("empty window accepted")
            } catch {
                #expect(error.rpcError.code == .invalidArgument)
            }
        }
    }
}
