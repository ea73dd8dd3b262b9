@preconcurrency import Dispatch
import Foundation
import Testing
import TaktDomain
@testable import TaktStore

@Suite struct ConcurrencyTests {
    /// Many callers, one writer: pending submissions are merged into shared transactions.
    @Test func groupCommitMergesConcurrentSubmissions() async throws {
        try await withStore(StoreConfiguration(durability: .full)) { store, _ in
            let calls = 2_000
            let threads = 16
            let results = Collector<ResultCode>()
            let group = DispatchGroup()
            for t in 0..<threads {
                group.enter()
                DispatchQueue.global().async {
                    for i in stride(from: t, to: calls, by: threads) {
                        group.enter()
                        store.submit([.candidate(event(Int64(1_000 + i), worker: "W\(i % 7)"))]) { r in
                            results.append((try? r.get())?.first?.code ?? .invalid)
                            group.leave()
                        }
                    }
                    group.leave()
                }
            }
            group.wait()
            #expect(results.all.count == calls)
            #expect(results.all.allSatisfy { $0 == .accepted })
            #expect(store.eventsStored == UInt64(calls))
            #expect(store.commits < UInt64(calls / 4), "commits: \(store.commits)")
        }
    }

    /// Callers that each wait for their ack before sending again still share commits.
    @Test func waitingCallersShareCommits() async throws {
        try await withStore(StoreConfiguration(durability: .full)) { store, _ in
            let threads = 32
            let perThread = 25
            let group = DispatchGroup()
            let failures = Collector<String>()
            for t in 0..<threads {
                group.enter()
                // Real threads: Dispatch's pool would run only about one blocked caller per core.
                Thread.detachNewThread {
                    for i in 0..<perThread {
                        let done = DispatchSemaphore(value: 0)
                        store.submit([.candidate(event(Int64(i + 1), worker: "T\(t)"))]) { r in
                            if (try? r.get()) != [.accepted] { failures.append("\(t)/\(i)") }
                            done.signal()
                        }
                        done.wait()
                    }
                    group.leave()
                }
            }
            group.wait()
            #expect(failures.all.isEmpty)
            #expect(store.eventsStored == UInt64(threads * perThread))
            #expect(store.commits < UInt64(threads * perThread / 4), "commits: \(store.commits)")
        }
    }

    /// A transaction takes half of the waiting events (at least 1,000; at most the configured cap).
    @Test func transactionCapFollowsTheWait() {
        #expect(EventStore.transactionCap(waiting: 1, configured: 20_000) == 1_000)
        #expect(EventStore.transactionCap(waiting: 1_999, configured: 20_000) == 1_000)
        #expect(EventStore.transactionCap(waiting: 4_000, configured: 20_000) == 2_000)
        #expect(EventStore.transactionCap(waiting: 100_000, configured: 20_000) == 20_000)
        #expect(EventStore.transactionCap(waiting: 4_000, configured: 500) == 500)
    }

    /// Eight 500-event batches queued behind a busy writer commit in cohorts (4, 2, 2 batches) rather than
    /// in one transaction, in arrival order, each answered with its own results; a batch over the cap
    /// still commits whole.
    @Test func waitingBatchesCommitInCohorts() async throws {
        try await withStore(StoreConfiguration(durability: .full)) { store, _ in
            let resume = store.pauseWriter()
            let before = store.commits
            let results = Collector<(Int, [ResultCode])>()
            let group = DispatchGroup()
            for b in 0..<8 {
                let items = (0..<500).map { i in IngestItem.candidate(event(Int64(1_000 + b * 500 + i), worker: "W\(b)")) }
                group.enter()
                store.submit(items) { r in
                    results.append((b, ((try? r.get()) ?? []).map(\.code)))
                    group.leave()
                }
            }
            resume()
            group.wait()
            #expect(store.commits - before == 3, "commits: \(store.commits - before)")
            #expect(results.all.map(\.0) == Array(0..<8), "answered in arrival order")
            #expect(results.all.allSatisfy { $0.1.count == 500 && $0.1.allSatisfy { $0 == .accepted } })
            #expect(store.eventsStored == 4_000)

            let big = (0..<3_000).map { i in IngestItem.candidate(event(Int64(10_000 + i), worker: "W9")) }
            let commits = store.commits
            let codes = try await store.submit(big).map(\.code)
            #expect(codes.count == 3_000 && codes.allSatisfy { $0 == .accepted })
            #expect(store.commits - commits == 1)
        }
    }

    @Test func sameBatchFiveTimesConcurrently() async throws {
        try await withStore { store, _ in
            let batch = (0..<10_000).map { i in
                IngestItem.candidate(event(Int64(1_000_000 + i / 10), worker: "W\(i % 10)", station: "S\(i % 3)"))
            }
            let codes = try await withThrowingTaskGroup(of: [EventResult].self) { group in
                for _ in 0..<5 { group.addTask { try await store.submit(batch) } }
                var all: [ResultCode] = []
                for try await r in group { all += r.map(\.code) }
                return all
            }
            #expect(codes.count == 50_000)
            #expect(codes.filter { $0 == .accepted }.count == 10_000)
            #expect(codes.filter { $0 == .duplicate }.count == 40_000)
            #expect(store.eventsStored == 10_000)
            #expect(try store.allEvents().count == 10_000)
        }
    }

    /// Readers see committed data while the writer keeps committing.
    @Test func readersRunWhileWriting() async throws {
        try await withStore { store, _ in
            let writes = Task {
                for b in 0..<20 {
                    let items = (0..<500).map { IngestItem.candidate(event(Int64(b * 500 + $0 + 1))) }
                    _ = try await store.submit(items)
                }
            }
            var last = 0
            while true {
                var n = 0
                try store.forEachEvent { _ in n += 1 }
                #expect(n >= last && n % 500 == 0)  // whole transactions only
                last = n
                if n == 10_000 { break }
                try await Task.sleep(nanoseconds: 1_000_000)
            }
            try await writes.value
        }
    }
}

@Suite struct CheckpointTests {
    /// The writer's own checkpoints keep the WAL bounded while readers keep reading (short reads, as the
    /// server's ListEvents; one long read transaction legitimately pins the WAL until it ends).
    @Test func walStaysBoundedUnderReadersAndWrites() async throws {
        var config = StoreConfiguration(durability: .normal)
        config.checkpointPassivePages = 64
        config.checkpointTruncatePages = 256
        try await withStore(config, "wal") { store, _ in
            let finished = Collector<Bool>()
            let writes = Task {
                defer { finished.append(true) }
                var maxWAL: UInt64 = 0
                for b in 0..<160 {
                    let items = (0..<500).map { IngestItem.candidate(event(Int64(b * 500 + $0 + 1), worker: "W\($0 % 50)")) }
                    _ = try await store.submit(items)
                    maxWAL = max(maxWAL, store.stats().walBytes)
                }
                return maxWAL
            }
            var scans = 0
            while finished.all.isEmpty {
                _ = try store.listEvents(ListEventsRequest(pageSize: 200))
                _ = try store.listEvents(ListEventsRequest(filter: EventFilter(workerIDs: ["W7"]), pageSize: 20))
                scans += 1
            }
            let maxWAL = try await writes.value
            let dbBytes = store.stats().databaseBytes
            #expect(store.eventsStored == 80_000)
            // Passive checkpoints alone let it grow to 12-24 MB here (readers pin it); with the TRUNCATE
            // escalation it stayed at 2-5 MB (256 pages normally, 4x that before the longer wait).
            #expect(maxWAL < 8 * 1024 * 1024, "max WAL \(maxWAL) bytes, db \(dbBytes) bytes, \(scans) scans")
            #expect(try store.checkpoint())
            #expect(store.stats().walBytes == 0)
        }
    }
}
