// The "raw SQLite ceiling": the same rows, schema and indexes as the store, inserted with one prepared
// statement in fixed-size transactions on one connection, no group commit, no callbacks.
import CSQLite
import Logging
import TaktDomain

public enum RawInsertBenchmark {
    /// The store's current schema version (the default for `run`).
    public static var latestSchemaVersion: Int { Int(Schema.currentVersion) }

    /// Inserts `rows` into a fresh `raw-insert-benchmark.db` in `directory` and returns rows per second
    /// (string ids interned and schema created before timing; SQLite's own auto-checkpoint every
    /// `autocheckpointPages`, by default the store's passive threshold).
    /// `schemaVersion` stops the migrations early (an older schema's ceiling, for comparison).
    /// Deletes the file afterwards.
    public static func run(directory: String, rows: [Event], rowsPerTransaction: Int = 500,
                           durability: Durability = .full, autocheckpointPages: Int = StoreConfiguration().checkpointPassivePages,
                           schemaVersion: Int? = nil) throws(StoreError) -> Double {
        try System.makeDirectories(directory)
        let path = directory + "/raw-insert-benchmark.db"
        removeDatabase(path)
        defer { removeDatabase(path) }
        let db = try Database(path: path)
        let synchronous = durability == .full ? "FULL" : "NORMAL"
        try db.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=\(synchronous); PRAGMA cache_size=-32768; "
                       + "PRAGMA wal_autocheckpoint=\(autocheckpointPages);")
        try Schema.migrate(db, logger: Logger(label: "takt.store.benchmark", factory: { _ in SwiftLogNoOpLogHandler() }),
                           upTo: schemaVersion)

        let insert = try db.prepare("""
            INSERT OR IGNORE INTO events(event_time_ms, kind, confidence, count, site, worker, workstation, model,
                                         gateway, sequence, received_at_ms)
            VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        // Intern string ids before the clock starts: the ceiling is SQLite's insert cost alone.
        var maps = [[String: Int64]](repeating: [:], count: 5)
        func key(_ table: Int, _ s: String) -> Int64 {
            if let k = maps[table][s] { return k }
            let k = Int64(maps[table].count + 1)
            maps[table][s] = k
            return k
        }
        struct Row { var time, kind: Int64; var confidence: Double; var count, site, worker, station, model: Int64
                     var gateway, sequence: Int64? }
        let prepared = rows.map { e -> Row in
            let site = e.effectiveSiteID
            return Row(time: e.eventTimeMs, kind: Int64(e.kind.rawValue), confidence: e.confidence, count: Int64(e.units),
                       site: key(0, site), worker: key(1, site + "/" + e.workerID),
                       station: key(2, site + "/" + e.workstationID), model: key(3, e.modelVersion),
                       gateway: e.idempotencyKey.map { key(4, $0.gatewayID) },
                       sequence: e.idempotencyKey.map { Int64(bitPattern: $0.sequence) })
        }

        let start = System.monotonicSeconds()
        var i = 0
        let step = max(1, rowsPerTransaction)
        while i < prepared.count {
            try db.execute("BEGIN IMMEDIATE")
            let now = System.nowMs()
            for r in prepared[i..<min(i + step, prepared.count)] {
                insert.reset()
                try insert.bind(1, r.time)
                try insert.bind(2, r.kind)
                try insert.bind(3, r.confidence)
                try insert.bind(4, r.count)
                try insert.bind(5, r.site)
                try insert.bind(6, r.worker)
                try insert.bind(7, r.station)
                try insert.bind(8, r.model)
                try insert.bind(9, r.gateway)
                try insert.bind(10, r.sequence)
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
