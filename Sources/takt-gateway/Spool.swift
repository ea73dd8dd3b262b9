// The gateway's spool (docs/GATEWAY.md, "The spool"): one SQLite database per spool directory, WAL
// with synchronous=FULL. An event is committed here, together with its sequence number and the
// input position after it, before its producer is told anything; it leaves only when taktd
// acknowledged it (ACCEPTED, DUPLICATE) or rejected it for good (then it moves to dead_letters).
import Foundation
import Glibc
import TaktDomain
import TaktPosix
import TaktStore

/// What to do with new input when the spool is full.
enum FullPolicy: String, CaseIterable, Sendable {
    /// Stop taking input (a file or stdin is not read further; a socket line is answered "error spool full").
    case refuse
    /// Delete the oldest unsent events to make room, counting each in `dropped_oldest`.
    case dropOldest = "drop-oldest"
}

struct SpoolLimits: Sendable {
    var maxEvents = 1_000_000
    /// Bytes of event text (the JSON of each spooled event).
    var maxBytes: Int64 = 1 << 30
    var whenFull = FullPolicy.refuse
    /// Dead letters kept; the oldest beyond this are deleted and counted in `dead_letters_evicted`.
    var maxDeadLetters = 100_000
}

/// Where a seekable input stands after a line: restarting resumes here.
struct InputPosition: Sendable, Hashable {
    var source: String
    var device: UInt64
    var inode: UInt64
    var offset: Int64
    var line: Int
    var format: String
    var csvHeader: String?
}

/// One decoded record of input.
struct IntakeItem: Sendable {
    enum Content: Sendable {
        case event(Event)
        case unparseable(String)
    }
    var content: Content
    /// The text as read, for dead letters.
    var raw: String
    /// Where it came from, for dead letters and logs: `/var/spool/cam.jsonl:12`, `socket:3`.
    var origin: String
    /// The input's position after this record; nil for inputs that cannot resume (pipes, sockets).
    var position: InputPosition?
}

/// An event waiting in the spool.
struct SpooledEvent: Sendable {
    var sequence: UInt64
    var spooledMs: Int64
    var text: String
    var origin: String
}

/// What became of one appended item.
enum AppendOutcome: Sendable, Equatable {
    case spooled(sequence: UInt64)
    case deadLettered
}

/// How a sent event ends.
enum Settlement: Sendable {
    /// The server answered ACCEPTED or DUPLICATE: delete it.
    case delivered(ResultCode)
    /// Rejected for good: move it to dead_letters with the code and reason.
    case deadLetter(code: String, reason: String)
}

/// Counters kept in the spool (table `counters`), each updated in the transaction that did the thing.
/// In JSON (status) the keys are snake_case, as in the table.
struct SpoolCounters: Sendable, Codable, Equatable {
    /// Events committed to the spool (each got a sequence number).
    var spooled: Int64 = 0
    var accepted: Int64 = 0
    var duplicate: Int64 = 0
    /// Events the server rejected for good (moved to dead letters).
    var rejected: Int64 = 0
    /// Input lines that were not events (moved to dead letters; on a socket only answered).
    var unparseable: Int64 = 0
    /// Unsent events deleted by `--when-full drop-oldest`.
    var droppedOldest: Int64 = 0
    /// Socket lines answered "error spool full".
    var refusedFull: Int64 = 0
    /// Dead letters deleted because there were more than `--max-dead-letters`.
    var deadLettersEvicted: Int64 = 0

    static var columns: [(name: String, key: WritableKeyPath<SpoolCounters, Int64>)] {
        [("spooled", \.spooled), ("accepted", \.accepted), ("duplicate", \.duplicate), ("rejected", \.rejected),
         ("unparseable", \.unparseable), ("dropped_oldest", \.droppedOldest), ("refused_full", \.refusedFull),
         ("dead_letters_evicted", \.deadLettersEvicted)]
    }
}

/// A dead letter as listed by `takt-gateway dead-letters`.
struct DeadLetter: Sendable, Codable {
    var id: Int64
    var sequence: UInt64?
    var code: String
    var reason: String
    var event: String
    var origin: String
    var spooledMs: Int64?
    var deadMs: Int64

    enum CodingKeys: String, CodingKey {
        case id, sequence, code, reason, event, origin
        case spooledMs = "spooled_ms", deadMs = "dead_ms"
    }
}

/// What the spool holds right now.
struct SpoolSnapshot: Sendable {
    var gatewayID: String
    var depth: Int
    var bytes: Int64
    var oldestSpooledMs: Int64?
    var deadLetters: Int
    var counters: SpoolCounters
    var firstSequence: UInt64
    var nextSequence: UInt64
    var inputs: [InputPosition]
}

/// A failure to open or use the spool; `status` is the exit status it leads to.
struct SpoolError: Error, CustomStringConvertible {
    var message: String
    var isUsage = false
    var description: String { message }
}

/// The spool of one gateway. `@unchecked Sendable`: the connection, its statements and every
/// mutable field are used only while holding `condition`'s lock.
final class Spool: @unchecked Sendable {
    static let databaseName = "spool.db"
    static let lockName = "gateway.lock"
    static let schemaVersion: Int64 = 1

    let directory: String
    let gatewayID: String
    let limits: SpoolLimits
    let firstSequence: UInt64

    private let condition = NSCondition()
    private var db: Database?
    private var lockFD: Int32
    private var nextSequence: UInt64
    private var depth = 0
    private var bytes: Int64 = 0
    private var deadLetterCount = 0
    private var counters = SpoolCounters()
    private var statements: Statements?

    private struct Statements {
        let insertEvent, deleteEvent, oldestEvent, unsent, range, insertDeadLetter, upsertInput, setMeta, setCounter: Statement
        init(_ db: Database) throws(StoreError) {
            insertEvent = try db.prepare("INSERT INTO events(sequence, spooled_ms, event, origin) VALUES(?, ?, ?, ?)")
            deleteEvent = try db.prepare("DELETE FROM events WHERE sequence = ? RETURNING length(CAST(event AS BLOB))")
            oldestEvent = try db.prepare("SELECT sequence FROM events ORDER BY sequence LIMIT 1")
            unsent = try db.prepare("SELECT sequence, spooled_ms, event, origin FROM events WHERE sequence > ? ORDER BY sequence LIMIT ?")
            range = try db.prepare("SELECT sequence, spooled_ms, event, origin FROM events WHERE sequence BETWEEN ? AND ? ORDER BY sequence")
            insertDeadLetter = try db.prepare("""
                INSERT INTO dead_letters(sequence, spooled_ms, dead_ms, code, reason, event, origin) VALUES(?, ?, ?, ?, ?, ?, ?)
                """)
            upsertInput = try db.prepare("""
                INSERT INTO inputs(source, device, inode, offset, line, format, csv_header, updated_ms) VALUES(?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(source) DO UPDATE SET device = excluded.device, inode = excluded.inode, offset = excluded.offset,
                    line = excluded.line, format = excluded.format, csv_header = excluded.csv_header, updated_ms = excluded.updated_ms
                """)
            setMeta = try db.prepare("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            setCounter = try db.prepare("""
                INSERT INTO counters(name, value) VALUES(?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value
                """)
        }
    }

    private init(directory: String, gatewayID: String, limits: SpoolLimits, db: Database, lockFD: Int32,
                 firstSequence: UInt64, nextSequence: UInt64) {
        self.directory = directory
        self.gatewayID = gatewayID
        self.limits = limits
        self.db = db
        self.lockFD = lockFD
        self.firstSequence = firstSequence
        self.nextSequence = nextSequence
    }

    deinit {
        if lockFD >= 0 { Glibc.close(lockFD) }
    }

    // MARK: Opening

    /// Opens (creating when needed) the spool in `directory` for the one gateway process that may use it.
    /// `gatewayID` nil: the id the spool was created with, or else this host's name.
    static func open(directory: String, gatewayID: String?, limits: SpoolLimits) throws(SpoolError) -> Spool {
        try makeDirectories(directory)
        let lockFD = try lock(directory)
        do {
            let db = try Database(path: "\(directory)/\(databaseName)")
            try db.execute("PRAGMA busy_timeout = 5000")
            let mode = try db.prepare("PRAGMA journal_mode = WAL")
            let isWAL = try mode.step() && mode.string(0).lowercased() == "wal"
            mode.reset()
            guard isWAL else {
                throw SpoolError(message: "spool \(directory): cannot switch \(databaseName) to WAL mode")
            }
            try db.execute("PRAGMA synchronous = FULL")
            let version = try db.scalarInt("PRAGMA user_version") ?? 0
            if version > schemaVersion {
                throw SpoolError(message: "spool \(directory) was written by a newer takt-gateway (schema \(version), this one knows \(schemaVersion))")
            }
            if version == 0 { try createSchema(db, gatewayID: gatewayID ?? hostName()) }
            let meta = try readMeta(db)
            guard let storedID = meta["gateway_id"], let first = meta["first_sequence"].flatMap(UInt64.init),
                  let next = meta["next_sequence"].flatMap(UInt64.init) else {
                throw SpoolError(message: "spool \(directory) is damaged: its meta table lacks gateway_id or the sequence")
            }
            if let gatewayID, gatewayID != storedID {
                throw SpoolError(message: "spool \(directory) belongs to gateway id \"\(storedID)\", not \"\(gatewayID)\": a spool's id never changes (its events carry it); drop --gateway-id or use another --spool",
                                 isUsage: true)
            }
            let spool = Spool(directory: directory, gatewayID: storedID, limits: limits, db: db, lockFD: lockFD,
                              firstSequence: first, nextSequence: next)
            try spool.load()
            return spool
        } catch let e as StoreError {
            Glibc.close(lockFD)
            throw SpoolError(message: "spool \(directory): \(e)")
        } catch let e as SpoolError {
            Glibc.close(lockFD)
            throw e
        } catch {
            Glibc.close(lockFD)
            throw SpoolError(message: "spool \(directory): \(error)")
        }
    }

    private static func createSchema(_ db: Database, gatewayID: String) throws(StoreError) {
        // Sequences start at the creation time in microseconds: a spool deleted and created again
        // under the same gateway id starts above every sequence the old one used (below 1M events/s),
        // so taktd never takes a new event for a replay of an old key.
        let first = UInt64(max(System.nowMs(), 1)) * 1_000
        try db.transaction { () throws(StoreError) in
            try db.execute("""
                CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
                CREATE TABLE events(
                    sequence INTEGER PRIMARY KEY,
                    spooled_ms INTEGER NOT NULL,
                    event TEXT NOT NULL,
                    origin TEXT NOT NULL);
                CREATE TABLE dead_letters(
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    sequence INTEGER,
                    spooled_ms INTEGER,
                    dead_ms INTEGER NOT NULL,
                    code TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    event TEXT NOT NULL,
                    origin TEXT NOT NULL);
                CREATE TABLE inputs(
                    source TEXT PRIMARY KEY,
                    device INTEGER NOT NULL,
                    inode INTEGER NOT NULL,
                    offset INTEGER NOT NULL,
                    line INTEGER NOT NULL,
                    format TEXT NOT NULL,
                    csv_header TEXT,
                    updated_ms INTEGER NOT NULL) WITHOUT ROWID;
                CREATE TABLE counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
                """)
            let s = try db.prepare("INSERT INTO meta(key, value) VALUES(?, ?)")
            for (k, v) in [("gateway_id", gatewayID), ("created_ms", String(System.nowMs())),
                           ("first_sequence", String(first)), ("next_sequence", String(first))] {
                try s.bind(1, k)
                try s.bind(2, v)
                try s.execute()
                s.reset()
            }
            try db.execute("PRAGMA user_version = \(schemaVersion)")
        }
    }

    private static func readMeta(_ db: Database) throws(StoreError) -> [String: String] {
        let s = try db.prepare("SELECT key, value FROM meta")
        var out: [String: String] = [:]
        while try s.step() { out[s.string(0)] = s.string(1) }
        return out
    }

    private func load() throws(StoreError) {
        guard let db else { return }
        let s = try db.prepare("SELECT count(*), coalesce(sum(length(CAST(event AS BLOB))), 0) FROM events")
        if try s.step() {
            depth = Int(s.int64(0))
            bytes = s.int64(1)
        }
        deadLetterCount = Int(try db.scalarInt("SELECT count(*) FROM dead_letters") ?? 0)
        counters = try Self.readCounters(db)
        statements = try Statements(db)
    }

    private static func readCounters(_ db: Database) throws(StoreError) -> SpoolCounters {
        var c = SpoolCounters()
        let s = try db.prepare("SELECT name, value FROM counters")
        while try s.step() {
            let name = s.string(0)
            if let col = SpoolCounters.columns.first(where: { $0.name == name }) { c[keyPath: col.key] = s.int64(1) }
        }
        return c
    }

    private static func makeDirectories(_ path: String) throws(SpoolError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part
            if mkdir(prefix, 0o750) != 0 && errno != EEXIST {
                throw SpoolError(message: "cannot create spool directory \(prefix): \(String(cString: strerror(errno)))")
            }
            prefix += "/"
        }
    }

    /// An exclusive flock on `<dir>/gateway.lock` held for the life of the process: two gateways never share a spool.
    private static func lock(_ directory: String) throws(SpoolError) -> Int32 {
        let path = "\(directory)/\(lockName)"
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 { throw SpoolError(message: "cannot open \(path): \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let err = errno
            let holder = readPID(fd)
            Glibc.close(fd)
            if err == EWOULDBLOCK {
                throw SpoolError(message: "spool \(directory) is in use by another takt-gateway\(holder.map { " (pid \($0))" } ?? ""): one process per spool")
            }
            throw SpoolError(message: "cannot lock \(path): \(String(cString: strerror(err)))")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return fd
    }

    static func readPID(_ fd: Int32) -> Int32? {
        var buf = [UInt8](repeating: 0, count: 32)
        let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return Int32(String(decoding: buf[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The pid of the gateway holding `directory`'s lock, or nil when none runs.
    static func runningPID(_ directory: String) -> Int32? {
        let fd = Glibc.open("\(directory)/\(lockName)", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return nil
        }
        return readPID(fd) ?? -1
    }

    static func hostName() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { return "gateway" }
        let name = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "gateway" : name
    }

    /// Closes the database (waiting for a transaction in progress). Later calls fail with "closed".
    func close() {
        condition.lock()
        statements = nil
        db?.close()
        db = nil
        condition.broadcast()
        condition.unlock()
    }

    // MARK: Input

    private func isFull(adding size: Int64) -> Bool {
        depth + 1 > limits.maxEvents || bytes + size > limits.maxBytes
    }

    /// Commits `items` in order in one transaction, with the sequence numbers it assigns, the counters
    /// and the input position after the last one committed. With `refuse`, stops at the first event
    /// that does not fit: the result is shorter than `items` then. With `drop-oldest`, deletes the
    /// oldest events to make room.
    func append(_ items: ArraySlice<IntakeItem>) throws(StoreError) -> [AppendOutcome] {
        condition.lock()
        defer { condition.unlock() }
        guard let db, let st = statements else { throw Self.closedError }
        let now = System.nowMs()
        var outcomes: [AppendOutcome] = []
        outcomes.reserveCapacity(items.count)
        var sequence = nextSequence
        var newDepth = depth, newBytes = bytes, newDead = deadLetterCount
        var c = counters
        var position: InputPosition?
        try db.transaction { () throws(StoreError) in
            items: for item in items {
                switch item.content {
                case .unparseable(let message):
                    try insertDeadLetter(st, sequence: nil, spooledMs: nil, now: now, code: "UNPARSEABLE",
                                         reason: message, event: item.raw, origin: item.origin)
                    newDead += 1
                    c.unparseable += 1
                    outcomes.append(.deadLettered)
                case .event(var event):
                    event.idempotencyKey = nil
                    let text = EventText.jsonLine(event)
                    let size = Int64(text.utf8.count)
                    while newDepth + 1 > limits.maxEvents || newBytes + size > limits.maxBytes {
                        guard limits.whenFull == .dropOldest, let freed = try dropOldest(st) else { break }
                        newDepth -= 1
                        newBytes -= freed
                        c.droppedOldest += 1
                    }
                    if newDepth + 1 > limits.maxEvents || newBytes + size > limits.maxBytes { break items }
                    let s = st.insertEvent
                    defer { s.reset() }
                    try s.bind(1, Int64(bitPattern: sequence))
                    try s.bind(2, now)
                    try s.bind(3, text)
                    try s.bind(4, item.origin)
                    try s.execute()
                    outcomes.append(.spooled(sequence: sequence))
                    sequence += 1
                    newDepth += 1
                    newBytes += size
                    c.spooled += 1
                }
                if let p = item.position { position = p }
            }
            guard !outcomes.isEmpty else { return }
            if sequence != nextSequence { try setMeta(st, "next_sequence", String(sequence)) }
            if let p = position { try saveInput(st, p, now: now) }
            newDead -= try evictDeadLetters(db, count: newDead, counters: &c)
            try saveCounters(st, old: counters, new: c)
        }
        nextSequence = sequence
        depth = newDepth
        bytes = newBytes
        deadLetterCount = newDead
        counters = c
        return outcomes
    }

    /// Waits until one more event of `size` bytes fits, the spool closes, or `timeout` passes.
    func waitForRoom(size: Int64 = 512, timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while db != nil && isFull(adding: size) {
            if !condition.wait(until: deadline) { break }
        }
        return !isFull(adding: size)
    }

    /// Counts socket lines answered "error spool full".
    func countRefused(_ n: Int) {
        guard n > 0 else { return }
        condition.lock()
        defer { condition.unlock() }
        guard let db, let st = statements else { return }
        var c = counters
        c.refusedFull += Int64(n)
        do {
            try db.transaction { () throws(StoreError) in try saveCounters(st, old: counters, new: c) }
            counters = c
        } catch {}
    }

    /// The saved position of `source`, if any.
    func inputPosition(_ source: String) -> InputPosition? {
        condition.lock()
        defer { condition.unlock() }
        guard let db else { return nil }
        return (try? Self.readInputs(db))?.first { $0.source == source }
    }

    // MARK: Sending

    /// Up to `limit` events after `sequence`, oldest first.
    func unsent(after sequence: UInt64, limit: Int) throws(StoreError) -> [SpooledEvent] {
        condition.lock()
        defer { condition.unlock() }
        guard let st = statements else { throw Self.closedError }
        let s = st.unsent
        defer { s.reset() }
        try s.bind(1, Int64(bitPattern: sequence))
        try s.bind(2, limit)
        return try Self.readEvents(s)
    }

    /// The events still spooled with sequence numbers in `range`.
    func events(in range: ClosedRange<UInt64>) throws(StoreError) -> [SpooledEvent] {
        condition.lock()
        defer { condition.unlock() }
        guard let st = statements else { throw Self.closedError }
        let s = st.range
        defer { s.reset() }
        try s.bind(1, Int64(bitPattern: range.lowerBound))
        try s.bind(2, Int64(bitPattern: range.upperBound))
        return try Self.readEvents(s)
    }

    private static func readEvents(_ s: Statement) throws(StoreError) -> [SpooledEvent] {
        var out: [SpooledEvent] = []
        while try s.step() {
            out.append(SpooledEvent(sequence: UInt64(bitPattern: s.int64(0)), spooledMs: s.int64(1), text: s.string(2),
                                    origin: s.string(3)))
        }
        return out
    }

    /// Ends events in one transaction: delivered ones are deleted, the others move to dead_letters.
    /// An event no longer in the spool (dropped meanwhile) only counts.
    func settle(_ outcomes: [(SpooledEvent, Settlement)]) throws(StoreError) {
        condition.lock()
        defer { condition.unlock() }
        guard let db, let st = statements else { throw Self.closedError }
        let now = System.nowMs()
        var newDepth = depth, newBytes = bytes, newDead = deadLetterCount
        var c = counters
        try db.transaction { () throws(StoreError) in
            for (event, settlement) in outcomes {
                let freed = try delete(st, event.sequence)
                if let freed {
                    newDepth -= 1
                    newBytes -= freed
                }
                switch settlement {
                case .delivered(let code):
                    if code == .duplicate { c.duplicate += 1 } else { c.accepted += 1 }
                case .deadLetter(let code, let reason):
                    guard freed != nil else { continue }
                    try insertDeadLetter(st, sequence: event.sequence, spooledMs: event.spooledMs, now: now, code: code,
                                         reason: reason, event: event.text, origin: event.origin)
                    newDead += 1
                    c.rejected += 1
                }
            }
            newDead -= try evictDeadLetters(db, count: newDead, counters: &c)
            try saveCounters(st, old: counters, new: c)
        }
        depth = newDepth
        bytes = newBytes
        deadLetterCount = newDead
        counters = c
        condition.broadcast()
    }

    // MARK: Status

    var depthNow: Int {
        condition.lock()
        defer { condition.unlock() }
        return depth
    }

    func snapshot() throws(StoreError) -> SpoolSnapshot {
        condition.lock()
        defer { condition.unlock() }
        guard let db else { throw Self.closedError }
        return SpoolSnapshot(gatewayID: gatewayID, depth: depth, bytes: bytes,
                             oldestSpooledMs: try db.scalarInt("SELECT spooled_ms FROM events ORDER BY sequence LIMIT 1"),
                             deadLetters: deadLetterCount, counters: counters, firstSequence: firstSequence,
                             nextSequence: nextSequence, inputs: try Self.readInputs(db))
    }

    /// Reads a spool without locking it (for `status` and `dead-letters`, also while a gateway runs).
    static func inspect(directory: String) throws(SpoolError) -> SpoolSnapshot {
        let db = try openForReading(directory)
        do {
            let meta = try readMeta(db)
            let s = try db.prepare("SELECT count(*), coalesce(sum(length(CAST(event AS BLOB))), 0), min(spooled_ms) FROM events")
            _ = try s.step()
            return SpoolSnapshot(gatewayID: meta["gateway_id"] ?? "?", depth: Int(s.int64(0)), bytes: s.int64(1),
                                 oldestSpooledMs: s.isNull(2) ? nil : s.int64(2),
                                 deadLetters: Int(try db.scalarInt("SELECT count(*) FROM dead_letters") ?? 0),
                                 counters: try readCounters(db),
                                 firstSequence: meta["first_sequence"].flatMap(UInt64.init) ?? 0,
                                 nextSequence: meta["next_sequence"].flatMap(UInt64.init) ?? 0,
                                 inputs: try readInputs(db))
        } catch {
            throw SpoolError(message: "spool \(directory): \(error)")
        }
    }

    static func deadLetters(directory: String, limit: Int?) throws(SpoolError) -> [DeadLetter] {
        let db = try openForReading(directory)
        do {
            let s = try db.prepare("""
                SELECT id, sequence, code, reason, event, origin, spooled_ms, dead_ms FROM dead_letters ORDER BY id DESC LIMIT ?
                """)
            try s.bind(1, limit ?? -1)
            var out: [DeadLetter] = []
            while try s.step() {
                out.append(DeadLetter(id: s.int64(0), sequence: s.isNull(1) ? nil : UInt64(bitPattern: s.int64(1)),
                                      code: s.string(2), reason: s.string(3), event: s.string(4), origin: s.string(5),
                                      spooledMs: s.isNull(6) ? nil : s.int64(6), deadMs: s.int64(7)))
            }
            return out.reversed()
        } catch {
            throw SpoolError(message: "spool \(directory): \(error)")
        }
    }

    private static func openForReading(_ directory: String) throws(SpoolError) -> Database {
        let path = "\(directory)/\(databaseName)"
        guard access(path, F_OK) == 0 else {
            throw SpoolError(message: "no spool in \(directory) (\(path) does not exist)")
        }
        do {
            // Read-write without create: a WAL database needs its -shm; nothing here writes.
            let db = try Database(path: path, readOnly: false, create: false)
            try db.execute("PRAGMA busy_timeout = 5000")
            guard let v = try db.scalarInt("PRAGMA user_version"), v >= 1 else {
                throw SpoolError(message: "\(path) is not a takt-gateway spool")
            }
            return db
        } catch let e as SpoolError {
            throw e
        } catch {
            throw SpoolError(message: "cannot read spool \(path): \(error)")
        }
    }

    private static func readInputs(_ db: Database) throws(StoreError) -> [InputPosition] {
        let s = try db.prepare("SELECT source, device, inode, offset, line, format, csv_header FROM inputs ORDER BY source")
        var out: [InputPosition] = []
        while try s.step() {
            out.append(InputPosition(source: s.string(0), device: UInt64(bitPattern: s.int64(1)),
                                     inode: UInt64(bitPattern: s.int64(2)), offset: s.int64(3), line: Int(s.int64(4)),
                                     format: s.string(5), csvHeader: s.isNull(6) ? nil : s.string(6)))
        }
        return out
    }

    // MARK: Statements (called under the lock, inside a transaction)

    private static let closedError = StoreError(kind: .closed, message: "the spool is closed", operation: "using the spool")

    /// Deletes the oldest event; returns its size, or nil when the spool is empty.
    private func dropOldest(_ st: Statements) throws(StoreError) -> Int64? {
        let q = st.oldestEvent
        defer { q.reset() }
        guard try q.step() else { return nil }
        let sequence = UInt64(bitPattern: q.int64(0))
        q.reset()
        return try delete(st, sequence)
    }

    /// Deletes one event; returns its size, or nil when it was not there.
    private func delete(_ st: Statements, _ sequence: UInt64) throws(StoreError) -> Int64? {
        let s = st.deleteEvent
        defer { s.reset() }
        try s.bind(1, Int64(bitPattern: sequence))
        guard try s.step() else { return nil }
        let size = s.int64(0)
        while try s.step() {}
        return size
    }

    private func insertDeadLetter(_ st: Statements, sequence: UInt64?, spooledMs: Int64?, now: Int64, code: String,
                                  reason: String, event: String, origin: String) throws(StoreError) {
        let s = st.insertDeadLetter
        defer { s.reset() }
        try s.bind(1, sequence.map { Int64(bitPattern: $0) })
        try s.bind(2, spooledMs)
        try s.bind(3, now)
        try s.bind(4, code)
        try s.bind(5, reason)
        try s.bind(6, String(event.prefix(8_192)))
        try s.bind(7, origin)
        try s.execute()
    }

    /// Deletes the oldest dead letters beyond the limit; returns how many.
    private func evictDeadLetters(_ db: Database, count: Int, counters c: inout SpoolCounters) throws(StoreError) -> Int {
        let excess = count - limits.maxDeadLetters
        guard excess > 0 else { return 0 }
        try db.execute("DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters ORDER BY id LIMIT \(excess))")
        c.deadLettersEvicted += Int64(excess)
        return excess
    }

    private func setMeta(_ st: Statements, _ key: String, _ value: String) throws(StoreError) {
        let s = st.setMeta
        defer { s.reset() }
        try s.bind(1, key)
        try s.bind(2, value)
        try s.execute()
    }

    private func saveInput(_ st: Statements, _ p: InputPosition, now: Int64) throws(StoreError) {
        let s = st.upsertInput
        defer { s.reset() }
        try s.bind(1, p.source)
        try s.bind(2, Int64(bitPattern: p.device))
        try s.bind(3, Int64(bitPattern: p.inode))
        try s.bind(4, p.offset)
        try s.bind(5, p.line)
        try s.bind(6, p.format)
        if let h = p.csvHeader { try s.bind(7, h) } else { try s.bindNull(7) }
        try s.bind(8, now)
        try s.execute()
    }

    private func saveCounters(_ st: Statements, old: SpoolCounters, new: SpoolCounters) throws(StoreError) {
        for col in SpoolCounters.columns where old[keyPath: col.key] != new[keyPath: col.key] {
            let s = st.setCounter
            defer { s.reset() }
            try s.bind(1, col.name)
            try s.bind(2, new[keyPath: col.key])
            try s.execute()
        }
    }
}
