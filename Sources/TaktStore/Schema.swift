// The store's schema and its versioned migrations (`PRAGMA user_version`).
import Logging

enum Schema {
    /// Migration i (0-based) takes the database from user_version i to i + 1. Never edit a shipped one: append.
    static let migrations: [String] = [v1, v2]

    static var currentVersion: Int64 { Int64(migrations.count) }

    // String ids are interned into small tables so an event row is a handful of integers (~40 bytes).
    // Worker and workstation keys are per site, so a worker key already implies its site.
    static let v1 = """
        CREATE TABLE sites(
            id INTEGER PRIMARY KEY,
            site_id TEXT NOT NULL UNIQUE,
            created_at_ms INTEGER NOT NULL);
        CREATE TABLE workers(
            id INTEGER PRIMARY KEY,
            site INTEGER NOT NULL,
            worker_id TEXT NOT NULL,
            name TEXT NOT NULL DEFAULT '',
            shift TEXT NOT NULL DEFAULT '',
            department TEXT NOT NULL DEFAULT '',
            created_at_ms INTEGER NOT NULL,
            updated_at_ms INTEGER NOT NULL,
            UNIQUE(site, worker_id));
        CREATE TABLE workstations(
            id INTEGER PRIMARY KEY,
            site INTEGER NOT NULL,
            workstation_id TEXT NOT NULL,
            name TEXT NOT NULL DEFAULT '',
            location TEXT NOT NULL DEFAULT '',
            type TEXT NOT NULL DEFAULT '',
            created_at_ms INTEGER NOT NULL,
            updated_at_ms INTEGER NOT NULL,
            UNIQUE(site, workstation_id));
        CREATE TABLE models(
            id INTEGER PRIMARY KEY,
            model_version TEXT NOT NULL UNIQUE);
        CREATE TABLE gateways(
            id INTEGER PRIMARY KEY,
            gateway_id TEXT NOT NULL UNIQUE);

        -- id is the store sequence: rows are only ever appended by the single writer, so it grows with
        -- commit order (no AUTOINCREMENT: that costs a sqlite_sequence update per transaction).
        CREATE TABLE events(
            id INTEGER PRIMARY KEY,
            event_time_ms INTEGER NOT NULL,
            kind INTEGER NOT NULL,
            confidence REAL NOT NULL,
            count INTEGER NOT NULL,
            site INTEGER NOT NULL,
            worker INTEGER NOT NULL,
            workstation INTEGER NOT NULL,
            model INTEGER NOT NULL,
            gateway INTEGER,
            sequence INTEGER,
            received_at_ms INTEGER NOT NULL);
        -- Identity (spec section 1). The worker key includes the site, so (site, worker, workstation, kind,
        -- event_time_ms) is unique exactly when this is; worker first also serves per-worker time scans.
        CREATE UNIQUE INDEX events_identity ON events(worker, event_time_ms, workstation, kind);
        -- Idempotency keys; partial so events without a key cost nothing here.
        CREATE UNIQUE INDEX events_idempotency ON events(gateway, sequence) WHERE sequence IS NOT NULL;
        -- ListEvents pages newest first over (event_time_ms DESC, id DESC); the rowid ends every index key,
        -- so this one index serves that order without a sort. The only index not needed for correctness.
        CREATE INDEX events_by_time ON events(event_time_ms);

        -- Low-confidence rejections, kept for model health counts; never in metrics.
        CREATE TABLE low_confidence(
            id INTEGER PRIMARY KEY,
            site_id TEXT NOT NULL,
            worker_id TEXT NOT NULL,
            workstation_id TEXT NOT NULL,
            kind INTEGER NOT NULL,
            event_time_ms INTEGER NOT NULL,
            confidence REAL NOT NULL,
            model INTEGER NOT NULL,
            received_at_ms INTEGER NOT NULL,
            UNIQUE(site_id, worker_id, workstation_id, kind, event_time_ms));
        """

    // v2: a time-first identity index, and nothing else on `events`. Live events all carry times near
    // "now", so each transaction's new index entries land on the same few leaf pages at the right edge
    // instead of one leaf per worker (v1's worker-first identity) and one per gateway (v1's unique
    // idempotency key): a 30-event group commit wrote ~5 WAL pages per event under v1. The key is still
    // stored with every event but no longer unique: spec section 1 makes identity alone decide DUPLICATE,
    // so a gateway that reuses a sequence number for a different event no longer loses that event.
    // The time-first identity also serves ListEvents' newest-first order, which was events_by_time's job.
    static let v2 = """
        DROP INDEX events_identity;
        DROP INDEX events_idempotency;
        DROP INDEX events_by_time;
        CREATE UNIQUE INDEX events_identity_by_time ON events(event_time_ms, worker, workstation, kind);
        """

    /// Brings the schema up to date, or refuses a database from a newer taktd.
    static func migrate(_ db: Database, logger: Logger, upTo target: Int? = nil) throws(StoreError) {
        let version = try db.scalarInt("PRAGMA user_version") ?? 0
        if version > currentVersion {
            throw StoreError(kind: .schemaTooNew,
                             message: "database schema version \(version) is newer than this taktd supports (\(currentVersion)); upgrade taktd",
                             operation: "opening \(db.path)")
        }
        for v in Int(version)..<min(migrations.count, target ?? migrations.count) {
            try db.transaction(.immediate) { () throws(StoreError) in
                try db.execute(migrations[v], "migrating \(db.path) to schema version \(v + 1)")
                try db.execute("PRAGMA user_version = \(v + 1)")
            }
            logger.info("store schema migrated", metadata: ["version": "\(v + 1)", "path": "\(db.path)"])
        }
    }
}
