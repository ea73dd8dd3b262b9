// A small SQLite wrapper in the spirit of GRDB: a connection confined to one thread or queue,
// statements that finalize themselves, one transaction helper. Nothing here knows about events.
import CSQLite

/// One SQLite connection. Deliberately not `Sendable`: it is used by one thread (or serial queue) at a
/// time, which is also why it is opened with `SQLITE_OPEN_NOMUTEX` (no per-call mutex).
public final class Database {
    private(set) var handle: OpaquePointer?
    let path: String

    /// Process-wide settings, applied once before the first connection initializes SQLite: no memory
    /// statistics, whose mutex every allocation took (about 5 % of the writer's time in `perf`).
    private static let configured: Void = {
        _ = takt_sqlite3_disable_memstatus()
    }()

    /// Opens (creating when `create`) the database at `path`.
    public init(path: String, readOnly: Bool = false, create: Bool = true) throws(StoreError) {
        Self.configured
        self.path = path
        var flags = SQLITE_OPEN_NOMUTEX
        flags |= readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE
        if create && !readOnly { flags |= SQLITE_OPEN_CREATE }
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_close_v2(db)
            throw StoreError(kind: .sqlite, sqliteCode: rc, message: message, operation: "opening \(path)")
        }
        sqlite3_extended_result_codes(db, 1)
        handle = db
    }

    deinit { close() }

    /// Closes the connection. `sqlite3_close_v2` defers the close until every statement is finalized.
    public func close() {
        guard let h = handle else { return }
        handle = nil
        sqlite3_close_v2(h)
    }

    /// The error SQLite just reported on this connection.
    func error(_ rc: Int32, _ operation: String, sql: String? = nil) -> StoreError {
        let extended = handle.map { sqlite3_extended_errcode($0) } ?? rc
        let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
        // The connection's last error can be stale when the call itself returned a primary code only.
        let code = (extended & 0xff) == (rc & 0xff) ? extended : rc
        return StoreError(kind: .sqlite, sqliteCode: code, message: message, operation: operation, sql: sql)
    }

    /// Runs one or more statements without results (schema, pragmas, BEGIN/COMMIT).
    public func execute(_ sql: String, _ operation: String? = nil) throws(StoreError) {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        if rc != SQLITE_OK { throw error(rc, operation ?? "running \(sql)", sql: sql) }
    }

    public func prepare(_ sql: String) throws(StoreError) -> Statement {
        try Statement(database: self, sql: sql)
    }

    /// Runs a query that returns one integer (pragmas, counts); nil when it returns no row or NULL.
    public func scalarInt(_ sql: String) throws(StoreError) -> Int64? {
        let s = try prepare(sql)
        defer { s.reset() }
        guard try s.step() else { return nil }
        return s.isNull(0) ? nil : s.int64(0)
    }

    public var changes: Int { Int(sqlite3_changes(handle)) }
    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }
    /// True inside BEGIN…COMMIT (SQLite may have rolled back by itself after SQLITE_FULL or IOERR).
    var isInTransaction: Bool { handle != nil && sqlite3_get_autocommit(handle) == 0 }

    public enum TransactionKind: String, Sendable { case deferred = "DEFERRED", immediate = "IMMEDIATE" }

    /// Runs `body` in a transaction: commits when it returns, rolls back when it (or COMMIT) throws.
    public func transaction<T>(_ kind: TransactionKind = .immediate,
                        _ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try execute("BEGIN \(kind.rawValue)")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            rollbackIfNeeded()
            throw error
        }
    }

    /// Rolls back the open transaction, if SQLite has not already done so.
    func rollbackIfNeeded() {
        if isInTransaction { sqlite3_exec(handle, "ROLLBACK", nil, nil, nil) }
    }
}

/// A prepared statement; finalized in `deinit`. Columns and parameters are 0- and 1-based as in SQLite.
public final class Statement {
    let handle: OpaquePointer
    let sql: String
    // Strong: the connection outlives its statements (close_v2 would cope, but this keeps errors readable).
    private let database: Database

    init(database: Database, sql: String) throws(StoreError) {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(database.handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw database.error(rc, "preparing a statement", sql: sql) }
        self.handle = stmt
        self.sql = sql
        self.database = database
    }

    deinit { sqlite3_finalize(handle) }

    /// Resets for the next execution and clears bindings (so a missed bind is NULL, not a stale value).
    @inline(__always) public func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    /// Resets for the next run but keeps the bound values: for hot statements whose every parameter is
    /// bound again before each step (clearing them first would be wasted work).
    @inline(__always) func resetKeepingBindings() {
        sqlite3_reset(handle)
    }

    @inline(__always) public func bind(_ i: Int32, _ v: Int64) throws(StoreError) {
        try check(sqlite3_bind_int64(handle, i, v))
    }
    @inline(__always) public func bind(_ i: Int32, _ v: Int) throws(StoreError) {
        try check(sqlite3_bind_int64(handle, i, Int64(v)))
    }
    @inline(__always) public func bind(_ i: Int32, _ v: Double) throws(StoreError) {
        try check(sqlite3_bind_double(handle, i, v))
    }
    public func bind(_ i: Int32, _ v: String) throws(StoreError) {
        var v = v
        let rc = v.withUTF8 { buf in
            // A NULL pointer would bind SQL NULL, not '': give SQLite a real (empty) string.
            guard let base = buf.baseAddress else { return takt_sqlite3_bind_text_transient_rc(handle, i, "", 0) }
            return takt_sqlite3_bind_text_transient_rc(handle, i, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self),
                                                       Int32(buf.count))
        }
        try check(rc)
    }
    public func bind(_ i: Int32, _ v: Int64?) throws(StoreError) {
        if let v { try bind(i, v) } else { try check(sqlite3_bind_null(handle, i)) }
    }
    public func bindNull(_ i: Int32) throws(StoreError) { try check(sqlite3_bind_null(handle, i)) }

    @inline(__always) private func check(_ rc: Int32) throws(StoreError) {
        if rc != SQLITE_OK { throw database.error(rc, "binding a parameter", sql: sql) }
    }

    /// Steps once: true for a row, false when done; anything else is an error with the SQL.
    @inline(__always) public func step() throws(StoreError) -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let rc: throw database.error(rc, "running a statement", sql: sql)
        }
    }

    /// Steps to completion and resets (INSERT, UPDATE).
    public func execute() throws(StoreError) {
        defer { sqlite3_reset(handle) }
        while try step() {}
    }

    @inline(__always) public func int64(_ c: Int32) -> Int64 { sqlite3_column_int64(handle, c) }
    @inline(__always) public func double(_ c: Int32) -> Double { sqlite3_column_double(handle, c) }
    @inline(__always) public func isNull(_ c: Int32) -> Bool { sqlite3_column_type(handle, c) == SQLITE_NULL }
    public func string(_ c: Int32) -> String {
        guard let p = sqlite3_column_text(handle, c) else { return "" }
        let n = Int(sqlite3_column_bytes(handle, c))
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }
}
