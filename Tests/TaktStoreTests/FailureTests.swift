import Glibc
import Testing
import TaktDomain
@testable import TaktStore

@Suite struct FailureTests {
    /// A full database: submissions fail with a retryable error, nothing unacknowledged is stored, nothing
    /// acknowledged is lost, and ingestion resumes once there is room, without reopening.
    @Test func fullDatabaseFailsRetryablyAndRecovers() async throws {
        var config = StoreConfiguration(durability: .normal)
        config.maxPageCount = 40
        try await withStore(config, "full") { store, _ in
            var accepted: [EventIdentity] = []
            var failed: [[Event]] = []
            for b in 0..<40 {
                // New workers in every batch: the interned keys of a failed transaction must be forgotten.
                let batch = (0..<200).map { event(Int64(b * 1_000 + $0), worker: "B\(b)-W\($0 % 5)", model: "m\(b)") }
                do throws(StoreError) {
                    let r = try await store.submit(batch.map { .candidate($0) })
                    #expect(r.allSatisfy { $0.code == .accepted })
                    accepted += batch.map(\.identity)
                } catch {
                    #expect(error.isRetryable)
                    #expect(error.rpcError.code == .unavailable)
                    #expect(error.sqlitePrimaryCode == 13)  // SQLITE_FULL
                    #expect(error.rpcError.message.contains("full"))
                    failed.append(batch)
                }
            }
            #expect(!failed.isEmpty)
            #expect(!accepted.isEmpty)
            #expect(!store.isWritable)
            #expect(store.lastWriteError?.sqlitePrimaryCode == 13)
            #expect(try store.allEvents().map(\.event.identity) == accepted)

            try store.setMaxPageCount(1_000_000)
            for batch in failed {
                let r = try await store.submit(batch.map { .candidate($0) })
                #expect(r.allSatisfy { $0.code == .accepted })
                accepted += batch.map(\.identity)
            }
            #expect(store.isWritable)
            let stored = try store.allEvents()
            #expect(stored.map(\.event.identity) == accepted)
            #expect(Set(stored.map(\.event.modelVersion)).count == 40)
            #expect(try store.listWorkers().count == 200)
        }
    }

    @Test func newerSchemaIsRefused() throws {
        let dir = TempDirectory("newer")
        defer { dir.remove() }
        do {
            let db = try Database(path: dir.path + "/takt.db")
            try db.execute("PRAGMA user_version = 99")
        }
        do throws(StoreError) {
            _ = try EventStore.open(directory: dir.path, logger: quietLogger)
            Issue.record("opened a database from the future")
        } catch {
            #expect(error.kind == .schemaTooNew)
            #expect(error.message == "database schema version 99 is newer than this taktd supports (\(Schema.currentVersion)); upgrade taktd")
        }
    }

    /// A store written by schema v1 (worker-first identity, unique idempotency key) opens under the
    /// current schema with every event kept, duplicates still refused by identity, and listings in order.
    @Test func version1StoreMigratesKeepingEverything() async throws {
        let dir = TempDirectory("v1")
        defer { dir.remove() }
        do {
            let db = try Database(path: dir.path + "/takt.db")
            try db.execute(Schema.v1 + "; PRAGMA user_version = 1;")
            try db.execute("""
                INSERT INTO sites VALUES(1, 'default', 0);
                INSERT INTO workers(id, site, worker_id, created_at_ms, updated_at_ms) VALUES(1, 1, 'W1', 0, 0);
                INSERT INTO workstations(id, site, workstation_id, created_at_ms, updated_at_ms) VALUES(1, 1, 'S1', 0, 0);
                INSERT INTO models VALUES(1, 'm1');
                INSERT INTO gateways VALUES(1, 'gw-1');
                INSERT INTO events VALUES(1, 1000, 3, 0.9, 1, 1, 1, 1, 1, 1, 1, 5);
                INSERT INTO events VALUES(2, 2000, 2, 0.9, 1, 1, 1, 1, 1, 1, 2, 5);
                """)
        }
        let store = try EventStore.open(directory: dir.path, logger: quietLogger)
        defer { store.close() }
        #expect(try store.allEvents().map(\.event.eventTimeMs) == [1000, 2000])
        // Identity still unique; the old key (gw-1, 1) on a new identity is stored (identity alone decides).
        let r = try await store.submit([.candidate(event(1000, kind: .working, model: "m1")),
                                        .candidate(event(3000, key: IdempotencyKey(gatewayID: "gw-1", sequence: 1)))])
        #expect(r.map(\.code) == [.duplicate, .accepted])
        let page = try store.listEvents(ListEventsRequest())
        #expect(page.events.map(\.event.eventTimeMs) == [3000, 2000, 1000])
        let version = try Database(path: dir.path + "/takt.db").scalarInt("PRAGMA user_version")
        #expect(version == Schema.currentVersion)
    }

    @Test func nonDatabaseFileIsRefused() throws {
        let dir = TempDirectory("notadb")
        defer { dir.remove() }
        let junk = String(repeating: "this is not a database\n", count: 200)
        let f = fopen(dir.path + "/takt.db", "w")
        fputs(junk, f)
        fclose(f)
        do throws(StoreError) {
            _ = try EventStore.open(directory: dir.path, logger: quietLogger)
            Issue.record("opened a text file")
        } catch {
            #expect(error.sqlitePrimaryCode == 26)  // SQLITE_NOTADB
            #expect(error.description.contains("file is not a database"))
            #expect(error.description.contains(dir.path + "/takt.db"))
            #expect(error.rpcError.code == .dataLoss)
        }
    }

    @Test func secondOpenOfSameDirectoryIsRefused() throws {
        let dir = TempDirectory("locked")
        defer { dir.remove() }
        let store = try EventStore.open(directory: dir.path, logger: quietLogger)
        do throws(StoreError) {
            _ = try EventStore.open(directory: dir.path, logger: quietLogger)
            Issue.record("two stores on one directory")
        } catch {
            #expect(error.kind == .directoryInUse)
            #expect(error.message == "data directory \(dir.path) is in use by another process (pid \(getpid()))")
        }
        store.close()
        let again = try EventStore.open(directory: dir.path, logger: quietLogger)
        again.close()
    }

    @Test func unusableDirectoryIsRefused() throws {
        let dir = TempDirectory("notadir")
        defer { dir.remove() }
        let file = dir.path + "/plain-file"
        fclose(fopen(file, "w"))
        do throws(StoreError) {
            _ = try EventStore.open(directory: file + "/data", logger: quietLogger)
            Issue.record("opened a store below a regular file")
        } catch {
            #expect(error.kind == .system)
            #expect(error.description.contains("creating data directory \(file)/data"))
            #expect(error.description.contains("Not a directory"))
        }
    }

    @Test func closedStoreRefusesWork() async throws {
        let dir = TempDirectory("closed")
        defer { dir.remove() }
        let store = try EventStore.open(directory: dir.path, logger: quietLogger)
        store.close()
        do throws(StoreError) {
            _ = try await store.submit([.candidate(event(1))])
            Issue.record("submit after close")
        } catch {
            #expect(error.kind == .closed)
            #expect(error.isRetryable)
        }
        #expect(throws: StoreError.self) { try store.listEvents(ListEventsRequest()) }
    }

    @Test func errorMapping() {
        func code(_ sqlite: Int32) -> StatusCode {
            StoreError(kind: .sqlite, sqliteCode: sqlite, message: "m", operation: "op").rpcError.code
        }
        #expect(code(13) == .unavailable)    // FULL
        #expect(code(10 | (2 << 8)) == .unavailable)  // IOERR_SHORT_READ
        #expect(code(5) == .unavailable)     // BUSY
        #expect(code(6) == .unavailable)     // LOCKED
        #expect(code(8) == .unavailable)     // READONLY
        #expect(code(11) == .dataLoss)       // CORRUPT
        #expect(code(26) == .dataLoss)       // NOTADB
        #expect(code(1) == .internal)
        let e = StoreError(kind: .sqlite, sqliteCode: 13, message: "database or disk is full", operation: "storing 3 events")
        #expect(e.rpcError.message == "storing 3 events: database or disk is full (SQLite code 13)")
    }
}
