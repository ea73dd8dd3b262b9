// Reader connections: query_only, never checkpoint, never block on the writer (WAL snapshots).
@preconcurrency import Dispatch
import CSQLite
import TaktDomain
import TaktSync

/// Interned key → string id, as arrays indexed by key. Rows of the intern tables are never deleted or
/// renamed once committed, so a reader may cache what it has seen and only load newer rows on a miss.
struct InternedNames {
    var sites: [String] = []
    var workers: [String] = []
    var workstations: [String] = []
    var models: [String] = []
    var gateways: [String] = []
}

final class Reader {
    let db: Database
    private var names = InternedNames()

    init(path: String, configuration: StoreConfiguration) throws(StoreError) {
        db = try Database(path: path, create: false)
        do throws(StoreError) {
            sqlite3_busy_timeout(db.handle, configuration.busyTimeoutMs)
            // Only the writer may checkpoint (see Writer.swift), including the checkpoint SQLite runs when
            // the last connection closes.
            _ = takt_sqlite3_db_config_no_ckpt_on_close(db.handle, 1)
            try db.execute("PRAGMA query_only=1; PRAGMA cache_size=-8192; PRAGMA temp_store=MEMORY;")
        } catch {
            var e = error
            e.operation = "opening reader connection to \(path)"
            throw e
        }
    }

    // MARK: Interned names

    private enum InternTable: CaseIterable {
        case sites, workers, workstations, models, gateways
        var query: String {
            switch self {
            case .sites: return "SELECT id, site_id FROM sites WHERE id >= ? ORDER BY id"
            case .workers: return "SELECT id, worker_id FROM workers WHERE id >= ? ORDER BY id"
            case .workstations: return "SELECT id, workstation_id FROM workstations WHERE id >= ? ORDER BY id"
            case .models: return "SELECT id, model_version FROM models WHERE id >= ? ORDER BY id"
            case .gateways: return "SELECT id, gateway_id FROM gateways WHERE id >= ? ORDER BY id"
            }
        }
    }

    private func loadNewer(_ table: InternTable) throws(StoreError) {
        func load(_ array: inout [String]) throws(StoreError) {
            let s = try db.prepare(table.query)
            try s.bind(1, Int64(array.count))
            while try s.step() {
                let id = Int(s.int64(0))
                while array.count < id { array.append("") }  // keys are dense; a gap stays unnamed
                if array.count == id { array.append(s.string(1)) } else { array[id] = s.string(1) }
            }
        }
        switch table {
        case .sites: try load(&names.sites)
        case .workers: try load(&names.workers)
        case .workstations: try load(&names.workstations)
        case .models: try load(&names.models)
        case .gateways: try load(&names.gateways)
        }
    }

    /// Loads every intern row this connection's snapshot can see (call inside the read transaction).
    func refreshNames() throws(StoreError) {
        for t in InternTable.allCases { try loadNewer(t) }
    }

    private func name(_ table: InternTable, _ key: Int64, _ array: KeyPath<InternedNames, [String]>) throws(StoreError) -> String {
        if key >= 0 && key < names[keyPath: array].count { return names[keyPath: array][Int(key)] }
        try loadNewer(table)
        if key >= 0 && key < names[keyPath: array].count { return names[keyPath: array][Int(key)] }
        throw StoreError(kind: .sqlite, sqliteCode: SQLITE_CORRUPT,
                         message: "a stored row refers to \(table) key \(key), which does not exist",
                         operation: "decoding stored events")
    }

    // MARK: Events

    static let eventColumns =
        "id, event_time_ms, kind, confidence, count, site, worker, workstation, model, gateway, sequence, received_at_ms"

    /// Decodes the current row of a statement selecting `eventColumns`, or returns nil when `n` lacks one of
    /// its interned names (the caller refreshes and retries). Plain array indexing: this runs per row of a
    /// full-table scan at startup.
    @inline(__always)
    private static func decodeEvent(_ h: OpaquePointer, _ n: borrowing InternedNames) throws(StoreError) -> StoredEvent? {
        @inline(__always) func at(_ a: [String], _ col: Int32) -> String? {
            let k = Int(truncatingIfNeeded: sqlite3_column_int64(h, col))
            return k >= 0 && k < a.count ? a[k] : nil
        }
        guard let kind = EventKind(rawValue: Int(sqlite3_column_int64(h, 2))) else {
            throw StoreError(kind: .sqlite, sqliteCode: SQLITE_CORRUPT,
                             message: "event \(sqlite3_column_int64(h, 0)) has kind \(sqlite3_column_int64(h, 2))",
                             operation: "decoding stored events")
        }
        guard let site = at(n.sites, 5), let worker = at(n.workers, 6), let station = at(n.workstations, 7),
              let model = at(n.models, 8) else { return nil }
        var key: IdempotencyKey?
        if sqlite3_column_type(h, 10) != SQLITE_NULL {
            guard let gateway = at(n.gateways, 9) else { return nil }
            key = IdempotencyKey(gatewayID: gateway, sequence: UInt64(bitPattern: sqlite3_column_int64(h, 10)))
        }
        let event = Event(eventTimeMs: sqlite3_column_int64(h, 1), workerID: worker, workstationID: station, kind: kind,
                          confidence: sqlite3_column_double(h, 3),
                          count: UInt32(truncatingIfNeeded: sqlite3_column_int64(h, 4)),
                          siteID: site, modelVersion: model, idempotencyKey: key)
        return StoredEvent(event: event, receivedAtMs: sqlite3_column_int64(h, 11), sequence: sqlite3_column_int64(h, 0))
    }

    private func decodeEvent(_ s: Statement) throws(StoreError) -> StoredEvent {
        if let e = try Self.decodeEvent(s.handle, names) { return e }
        try refreshNames()
        if let e = try Self.decodeEvent(s.handle, names) { return e }
        throw StoreError(kind: .sqlite, sqliteCode: SQLITE_CORRUPT,
                         message: "event \(s.int64(0)) refers to an interned id that does not exist",
                         operation: "decoding stored events")
    }

    /// Every stored event in store-sequence order, in one read transaction (one consistent snapshot).
    func forEachEvent(_ body: (StoredEvent) -> Void) throws(StoreError) {
        try db.transaction(.deferred) { () throws(StoreError) in
            try refreshNames()
            let s = try db.prepare("SELECT \(Self.eventColumns) FROM events ORDER BY id")
            let snapshot = names  // complete for this transaction's snapshot: no misses expected
            while try s.step() {
                guard let e = try Self.decodeEvent(s.handle, snapshot) else { body(try decodeEvent(s)); continue }
                body(e)
            }
        }
    }

    func forEachLowConfidence(_ body: (StoredEvent) -> Void) throws(StoreError) {
        try db.transaction(.deferred) { () throws(StoreError) in
            try refreshNames()
            let s = try db.prepare("""
                SELECT id, site_id, worker_id, workstation_id, kind, event_time_ms, confidence, model, received_at_ms
                FROM low_confidence ORDER BY id
                """)
            while try s.step() {
                guard let kind = EventKind(rawValue: Int(s.int64(4))) else { continue }
                let e = Event(eventTimeMs: s.int64(5), workerID: s.string(2), workstationID: s.string(3), kind: kind,
                              confidence: s.double(6), siteID: s.string(1),
                              modelVersion: try name(.models, s.int64(7), \.models))
                body(StoredEvent(event: e, receivedAtMs: s.int64(8), sequence: s.int64(0)))
            }
        }
    }

    /// One page of events, newest first by (event_time_ms DESC, id DESC).
    func listEvents(_ request: ListEventsRequest) throws(StoreError) -> EventPage {
        let f = request.filter
        do { try f.validate() } catch { throw .invalidArgument(error.message) }
        let pageSize = request.pageSize == 0 ? ListEventsRequest.defaultPageSize : request.pageSize
        guard pageSize >= 1 && pageSize <= ListEventsRequest.maxPageSize else {
            throw .invalidArgument("page_size: must be between 0 and \(ListEventsRequest.maxPageSize), got \(request.pageSize)")
        }
        let cursor = try PageToken(request.pageToken)

        var sql = "SELECT \(Self.eventColumns) FROM events WHERE 1"
        var texts: [String] = []
        var ints: [Int64] = []
        // Text parameters come first in the SQL, then integer ones, so they bind in two simple runs.
        if let site = f.siteID, !site.isEmpty {
            sql += " AND site = (SELECT id FROM sites WHERE site_id = ?)"
            texts.append(site)
        }
        if !f.workerIDs.isEmpty {
            sql += " AND worker IN (SELECT id FROM workers WHERE worker_id IN (\(Self.placeholders(f.workerIDs.count))))"
            texts += f.workerIDs
        }
        if !f.workstationIDs.isEmpty {
            sql += " AND workstation IN (SELECT id FROM workstations WHERE workstation_id IN (\(Self.placeholders(f.workstationIDs.count))))"
            texts += f.workstationIDs
        }
        if !f.kinds.isEmpty {
            sql += " AND kind IN (\(Set(f.kinds.map(\.rawValue)).sorted().map(String.init).joined(separator: ",")))"
        }
        if let from = f.fromMs {
            sql += " AND event_time_ms >= ?"
            ints.append(from)
        }
        if let to = f.toMs {
            sql += " AND event_time_ms < ?"
            ints.append(to)
        }
        if let c = cursor {
            sql += " AND event_time_ms <= ? AND (event_time_ms < ? OR id < ?)"
            ints += [c.timeMs, c.timeMs, c.id]
        }
        sql += " ORDER BY event_time_ms DESC, id DESC LIMIT ?"
        ints.append(Int64(pageSize + 1))

        return try db.transaction(.deferred) { () throws(StoreError) -> EventPage in
            let s = try db.prepare(sql)
            defer { s.reset() }  // may stop mid-result; an active statement would block COMMIT
            var i: Int32 = 1
            for t in texts { try s.bind(i, t); i += 1 }
            for v in ints { try s.bind(i, v); i += 1 }
            var events: [StoredEvent] = []
            events.reserveCapacity(min(pageSize, 1_024))
            var more = false
            while try s.step() {
                if events.count == pageSize { more = true; break }
                events.append(try decodeEvent(s))
            }
            let token = more ? PageToken(timeMs: events.last!.event.eventTimeMs, id: events.last!.sequence).encoded : ""
            return EventPage(events: events, nextPageToken: token)
        }
    }

    private static func placeholders(_ n: Int) -> String {
        Array(repeating: "?", count: n).joined(separator: ",")
    }

    // MARK: Registry

    func listWorkers(siteID: String?) throws(StoreError) -> [WorkerRecord] {
        var sql = """
            SELECT s.site_id, w.worker_id, w.name, w.shift, w.department
            FROM workers w JOIN sites s ON s.id = w.site
            """
        if siteID?.isEmpty == false { sql += " WHERE s.site_id = ?" }
        sql += " ORDER BY s.site_id, w.worker_id"
        let s = try db.prepare(sql)
        if let siteID, !siteID.isEmpty { try s.bind(1, siteID) }
        var out: [WorkerRecord] = []
        while try s.step() {
            out.append(WorkerRecord(siteID: s.string(0), workerID: s.string(1), name: s.string(2), shift: s.string(3),
                                    department: s.string(4)))
        }
        return out
    }

    func listWorkstations(siteID: String?) throws(StoreError) -> [WorkstationRecord] {
        var sql = """
            SELECT s.site_id, w.workstation_id, w.name, w.location, w.type
            FROM workstations w JOIN sites s ON s.id = w.site
            """
        if siteID?.isEmpty == false { sql += " WHERE s.site_id = ?" }
        sql += " ORDER BY s.site_id, w.workstation_id"
        let s = try db.prepare(sql)
        if let siteID, !siteID.isEmpty { try s.bind(1, siteID) }
        var out: [WorkstationRecord] = []
        while try s.step() {
            out.append(WorkstationRecord(siteID: s.string(0), workstationID: s.string(1), name: s.string(2),
                                         location: s.string(3), type: s.string(4)))
        }
        return out
    }

    func listSites() throws(StoreError) -> [SiteRecord] {
        let s = try db.prepare("""
            SELECT s.site_id,
                   (SELECT count(*) FROM workers w WHERE w.site = s.id),
                   (SELECT count(*) FROM workstations w WHERE w.site = s.id)
            FROM sites s ORDER BY s.site_id
            """)
        var out: [SiteRecord] = []
        while try s.step() {
            out.append(SiteRecord(siteID: s.string(0), workers: Int(s.int64(1)), workstations: Int(s.int64(2))))
        }
        return out
    }
}

/// The ListEvents cursor: the (event_time_ms, id) of the last event of the previous page.
struct PageToken: Equatable {
    var timeMs: Int64
    var id: Int64

    init(timeMs: Int64, id: Int64) {
        self.timeMs = timeMs
        self.id = id
    }

    /// nil for the empty (first page) token.
    init?(_ token: String) throws(StoreError) {
        if token.isEmpty { return nil }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "e1", let t = Int64(parts[1], radix: 36), let i = Int64(parts[2], radix: 36)
        else { throw .invalidArgument("page_token: not a token returned by ListEvents") }
        timeMs = t
        id = i
    }

    var encoded: String { "e1.\(String(timeMs, radix: 36)).\(String(id, radix: 36))" }
}

/// A fixed set of reader connections. `@unchecked Sendable`: `idle` and `closed` are guarded by `lock`;
/// a checked-out `Reader` is used by exactly one thread until it is returned.
final class ReaderPool: @unchecked Sendable {
    private let lock = Lock()
    private var idle: [Reader]
    private var closed = false
    private let available: DispatchSemaphore

    init(path: String, count: Int, configuration: StoreConfiguration) throws(StoreError) {
        var readers: [Reader] = []
        for _ in 0..<max(1, count) { readers.append(try Reader(path: path, configuration: configuration)) }
        idle = readers
        available = DispatchSemaphore(value: readers.count)
    }

    func withReader<T>(_ operation: String, _ body: (Reader) throws(StoreError) -> T) throws(StoreError) -> T {
        available.wait()
        let reader: Reader? = lock.withLock { closed ? nil : idle.popLast() }
        guard let reader else {
            available.signal()
            throw .closed(operation)
        }
        defer {
            let drop = lock.withLock { () -> Bool in
                if closed { return true }
                idle.append(reader)
                return false
            }
            if drop { reader.db.close() }
            available.signal()
        }
        return try body(reader)
    }

    /// Closes idle readers now and checked-out ones when they come back.
    func close() {
        let readers = lock.withLock { () -> [Reader] in
            closed = true
            defer { idle.removeAll() }
            return idle
        }
        for r in readers { r.db.close() }
    }
}
