import Glibc
import Testing
import TaktDomain
@testable import TaktStore

/// Throughput numbers, not assertions: `TAKT_STORE_BENCH=1 swift test --filter BenchmarkTests`.
@Suite(.serialized, .enabled(if: getenv("TAKT_STORE_BENCH") != nil, "set TAKT_STORE_BENCH=1 to run"))
struct BenchmarkTests {
    static func rows(_ n: Int) -> [Event] {
        (0..<n).map { (i: Int) -> Event in
            let t = Int64(1_700_000_000_000) + Int64(i) * 10
            let kind: EventKind = i % 7 == 0 ? .productCount : .working
            let key = IdempotencyKey(gatewayID: "gw\(i % 8)", sequence: UInt64(i))
            return event(t, worker: "W\(i % 200)", station: "S\(i % 40)", kind: kind, count: 1, model: "m\(i % 3)", key: key)
        }
    }

    @Test(arguments: [Durability.full, Durability.normal])
    func ingestVersusRawCeiling(durability: Durability) async throws {
        let n = Int(getenv("TAKT_STORE_BENCH_ROWS").map { String(cString: $0) } ?? "") ?? 200_000
        let rows = Self.rows(n)
        let dir = TempDirectory("bench")
        defer { dir.remove() }
        let raw = try RawInsertBenchmark.run(directory: dir.path, rows: rows, rowsPerTransaction: 500, durability: durability)

        var config = StoreConfiguration(durability: durability)
        config.readerCount = 1
        for inFlight in [1, 8] {
            let store = try EventStore.open(directory: dir.path + "/s\(inFlight)", configuration: config, logger: quietLogger)
            let start = System.monotonicSeconds()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for lane in 0..<inFlight {
                    group.addTask {
                        for b in stride(from: lane * 500, to: rows.count, by: 500 * inFlight) {
                            _ = try await store.submit(rows[b..<min(b + 500, rows.count)].map { .candidate($0) })
                        }
                    }
                }
                try await group.waitForAll()
            }
            let ingest = Double(n) / (System.monotonicSeconds() - start)
            let commits = store.commits
            let scanStart = System.monotonicSeconds()
            var seen = 0
            try store.forEachEvent { _ in seen += 1 }
            let scan = Double(seen) / (System.monotonicSeconds() - scanStart)
            let stats = store.stats()
            store.close()
            print("bench \(durability) rows=\(n) raw500=\(Int(raw))/s store500x\(inFlight)=\(Int(ingest))/s commits=\(commits) "
                  + "scan=\(Int(scan))/s db=\(stats.databaseBytes / 1024)KiB wal=\(stats.walBytes / 1024)KiB")
        }
    }
}
