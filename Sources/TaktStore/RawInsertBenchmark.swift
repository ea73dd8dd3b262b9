// The "raw SQLite ceiling": the same rows, schema and indexes as the store, inserted with one prepared
// statement in fixed-size transactions on one connection, no group commit, no callbacks.
import CSQLite
import Logging
import TaktDomain

public enum RawInsertBenchmark {
    /// Inserts `rows` into a fresh `raw-insert-benchmark.db` in `directory` and returns rows per second
    /// (interning of string ids included, schema creation excluded). Deletes the file afterwards.
    public static func run(directory: String, rows: [Event], rowsPerTransaction: Int = 500,
                           durability: Durability = .full) throws(StoreError) -> Double {
        try System.makeDirectories(directory)
        let path = directory + "/raw-insert-benchmark.db"
        removeDatabase(path)
        defer { removeDatabase(path) }
        let db = try Database(path: path)
        let synchronous = durability == .full ? "FULL" : "NORMAL"
        try db.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=\(synchronous); PRAGMA cache_size=-32768;")
        try Schema.migrate(db, logger: Logger(label: "takt.store.benchmark", factory: { _ in SwiftLogNoOpLogHandler() }))

        let insert = try db.prepare("""
            INSERT OR IGNORE INTO events(event_time_ms, kind, confidence, count, site, worker, workstation, model,
                                         gateway, sequence, received_at_ms)
            VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        var sites: [String: Int64] = [:]
        var workers: [String: Int64] = [:]
        var stations: [String: Int64] = [:]
        var models: [String: Int64] = [:]
        var gateways: [String: Int64] = [:]
        func key(_ map: inout [String: Int64], _ s: String) -> Int64 {
            if let k = map[s] { return k }
            let k = Int64(map.count + 1)
            map[s] = k
            return k
        }

        let start = System.monotonicSeconds()
        var i = 0
        let step = max(1, rowsPerTransaction)
        while i < rows.count {
            try db.execute("BEGIN IMMEDIATE")
            let now = System.nowMs()
            for e in rows[i..<min(i + step, rows.count)] {
                insert.reset()
                let site = e.effectiveSiteID
                try insert.bind(1, e.eventTimeMs)
                try insert.bind(2, Int64(e.kind.rawValue))
                try insert.bind(3, e.confidence)
                try insert.bind(4, Int64(e.units))
                try insert.bind(5, key(&sites, site))
                try insert.bind(6, key(&workers, site + "/" + e.workerID))
                try insert.bind(7, key(&stations, site + "/" + e.workstationID))
                try insert.bind(8, key(&models, e.modelVersion))
                if let k = e.idempotencyKey {
                    try insert.bind(9, key(&gateways, k.gatewayID))
                    try insert.bind(10, Int64(bitPattern: k.sequence))
                }
                try insert.bind(11, now)
                while try insert.step() {}
            }
            try db.execute("COMMIT")
            i += step
        }
        let elapsed = System.monotonicSeconds() - start
        return Double(rows.count) / max(elapsed, 1e-9)
    }

    private static func removeDatabase(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { System.removeFile(path + suffix) }
    }
}
