// The one connection that writes and checkpoints. Confined to the store's writer queue.
//
// Debian's SQLite 3.40.1 has the WAL-reset race (fixed upstream in 3.51.3): it needs two connections
// writing or checkpointing at once. Here only this connection ever writes or checkpoints: auto-checkpoint
// is off (`wal_autocheckpoint=0` plus our own WAL hook), readers are query_only and never checkpoint on
// close, and `maintainWAL` checkpoints between transactions on this same queue.
import CSQLite
import Logging
import TaktDomain

/// (site key, string id): how workers and workstations are interned.
struct SiteScopedName: Hashable, Sendable {
    var site: Int64
    var id: String
}

/// The writer's in-memory map of interned ids, loaded at open. A value type, so a failed transaction
/// restores it by assigning the copy taken before BEGIN (copy-on-write makes that copy free).
struct InternedKeys: Sendable {
    var sites: [String: Int64] = [:]
    var workers: [SiteScopedName: Int64] = [:]
    var workstations: [SiteScopedName: Int64] = [:]
    var models: [String: Int64] = [:]
    var gateways: [String: Int64] = [:]
    /// The last site, model and gateway looked up: consecutive events nearly always repeat them, and
    /// comparing a short string is far cheaper than hashing it. Part of the value, so a rollback
    /// restores them together with the maps.
    var lastSite: (name: String, key: Int64)?
    var lastModel: (name: String, key: Int64)?
    var lastGateway: (name: String, key: Int64)?
    /// Counts the keys added: `EventStore` republishes its `KeySnapshot` when this moved.
    var version: UInt64 = 0
}

/// An event's interned keys, looked up before the event reaches the writer (`KeySnapshot`) so that the
/// one thread every event passes through does not hash its names. Row ids start at 1: 0 means none.
struct ResolvedKeys: Sendable {
    var site: Int64
    var worker: Int64
    var station: Int64
    var model: Int64
    /// 0 when the event has no idempotency key.
    var gateway: Int64
    var isResolved: Bool { worker != 0 }
    static let unresolved = ResolvedKeys(site: 0, worker: 0, station: 0, model: 0, gateway: 0)
}

/// The resolved keys of one submission's items; a single event's are held inline (no array per call).
enum SubmissionKeys: Sendable {
    case one(ResolvedKeys)
    case each([ResolvedKeys])

    subscript(item: Int) -> ResolvedKeys {
        switch self {
        case .one(let keys): item == 0 ? keys : .unresolved
        case .each(let keys): item < keys.count ? keys[item] : .unresolved
        }
    }
}

/// The writer's keys as of a commit, shared with the threads that submit events.
final class KeySnapshot: Sendable {
    let keys: InternedKeys
    /// Sites and models are few (usually one site, a handful of models): found by comparing names,
    /// which for short strings is a register compare, instead of hashing them for every event.
    private let fewSites: [(name: String, key: Int64)]?
    private let fewModels: [(name: String, key: Int64)]?

    init(_ keys: InternedKeys) {
        self.keys = keys
        fewSites = keys.sites.count <= 8 ? keys.sites.map { ($0.key, $0.value) } : nil
        fewModels = keys.models.count <= 8 ? keys.models.map { ($0.key, $0.value) } : nil
    }

    /// Keys for each item; low-confidence items go to their own table by name and stay unresolved.
    func resolve(_ items: [IngestItem]) -> SubmissionKeys {
        items.count == 1 ? .one(resolve(items[0])) : .each(items.map(resolve))
    }

    /// An event's keys when all of them are known: site, worker, workstation, model and (when it has an
    /// idempotency key) gateway; `.unresolved` otherwise. Keys never change once assigned, so a key found
    /// in any committed copy of the writer's map is the writer's key too.
    private func resolve(_ item: IngestItem) -> ResolvedKeys {
        guard case .candidate(let e) = item,
              let site = Self.find(e.effectiveSiteID, in: fewSites) ?? keys.sites[e.effectiveSiteID],
              let worker = keys.workers[SiteScopedName(site: site, id: e.workerID)],
              let station = keys.workstations[SiteScopedName(site: site, id: e.workstationID)],
              let model = Self.find(e.modelVersion, in: fewModels) ?? keys.models[e.modelVersion] else { return .unresolved }
        var gateway: Int64 = 0
        if let key = e.idempotencyKey {
            guard let g = keys.gateways[key.gatewayID] else { return .unresolved }
            gateway = g
        }
        return ResolvedKeys(site: site, worker: worker, station: station, model: model, gateway: gateway)
    }

    /// The key of `name` in `few`; nil when absent or when there is no short list.
    @inline(__always)
    private static func find(_ name: String, in few: [(name: String, key: Int64)]?) -> Int64? {
        guard let few else { return nil }
        for entry in few where entry.name == name { return entry.key }
        return nil
    }
}

/// A row an ingest transaction wrote: where its event sits in the transaction's submissions, and the
/// store sequence (rowid) it got.
struct StoredRow {
    var submission: Int32
    var item: Int32
    var sequence: Int64
}

/// What one committed ingest transaction produced. The writer records only positions and sequences;
/// the `StoredEvent`s are built from the submissions on the completion stage, off the writer's path.
struct IngestOutcome {
    /// One result list per submission, in order.
    var results: [[EventResult]]
    var accepted: [StoredRow]
    var lowConfidence: [StoredRow]
    var receivedAtMs: Int64

    /// The stored form of `rows` (site filled in, product count normalized), in write order.
    func storedEvents(_ rows: [StoredRow], of submissions: [[IngestItem]]) -> [StoredEvent] {
        rows.map { row in
            var e = submissions[Int(row.submission)][Int(row.item)].event
            e.siteID = e.effectiveSiteID
            e.count = e.units
            return StoredEvent(event: e, receivedAtMs: receivedAtMs, sequence: row.sequence)
        }
    }
}

/// The latest WAL size in pages, set by SQLite's WAL hook after each commit (on the writer queue).
private final class WALFrames {
    var frames: Int32 = 0
}

final class Writer {
    let db: Database
    private let configuration: StoreConfiguration
    private let logger: Logger
    private(set) var keys = InternedKeys()
    private let walFrames = WALFrames()
    /// WAL pages already copied into the database by our checkpoints (in the current WAL generation).
    private var backfilledFrames = 0
    private var lastSeenFrames = 0
    private var lastTruncateAttemptFrames = 0

    private let begin: Statement
    private let commit: Statement
    private let insertEvent: Statement
    private let insertLowConfidence: Statement
    private let insertSite: Statement
    private let insertWorker: Statement
    private let insertWorkstation: Statement
    private let updateWorker: Statement
    private let updateWorkstation: Statement
    private let insertModel: Statement
    private let insertGateway: Statement

    init(path: String, configuration: StoreConfiguration, logger: Logger) throws(StoreError) {
        self.configuration = configuration
        self.logger = logger
        let db = try Database(path: path)
        self.db = db
        do throws(StoreError) {
            sqlite3_busy_timeout(db.handle, configuration.busyTimeoutMs)
            // The first statement that reads the file: a non-database fails here with SQLITE_NOTADB.
            let mode = try db.prepare("PRAGMA journal_mode=WAL")
            let journal = try mode.step() ? mode.string(0) : ""
            mode.reset()  // an unfinished statement would make later COMMITs fail
            guard journal == "wal" else {
                throw StoreError(kind: .sqlite, sqliteCode: SQLITE_ERROR,
                                 message: "could not switch to WAL mode (journal_mode is \(journal))",
                                 operation: "opening \(path)")
            }
            let synchronous = configuration.durability == .full ? "FULL" : "NORMAL"
            try db.execute("""
                PRAGMA synchronous=\(synchronous);
                PRAGMA wal_autocheckpoint=0;
                PRAGMA journal_size_limit=\(configuration.checkpointTruncatePages * 4096);
                PRAGMA cache_size=-\(configuration.writerCacheKiB);
                PRAGMA temp_store=MEMORY;
                """)
            if let max = configuration.maxPageCount { try db.execute("PRAGMA max_page_count=\(max)") }
            try Schema.migrate(db, logger: logger)
        } catch {
            var e = error
            e.operation = "opening \(path)"
            throw e
        }

        begin = try db.prepare("BEGIN IMMEDIATE")
        commit = try db.prepare("COMMIT")
        insertEvent = try db.prepare("""
            INSERT OR IGNORE INTO events(event_time_ms, kind, confidence, count, site, worker, workstation, model,
                                         gateway, sequence, received_at_ms)
            VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        insertLowConfidence = try db.prepare("""
            INSERT OR IGNORE INTO low_confidence(site_id, worker_id, workstation_id, kind, event_time_ms, confidence,
                                                 model, received_at_ms)
            VALUES(?, ?, ?, ?, ?, ?, ?, ?)
            """)
        insertSite = try db.prepare("INSERT INTO sites(site_id, created_at_ms) VALUES(?, ?)")
        insertWorker = try db.prepare("""
            INSERT INTO workers(site, worker_id, name, shift, department, created_at_ms, updated_at_ms)
            VALUES(?, ?, ?, ?, ?, ?, ?)
            """)
        insertWorkstation = try db.prepare("""
            INSERT INTO workstations(site, workstation_id, name, location, type, created_at_ms, updated_at_ms)
            VALUES(?, ?, ?, ?, ?, ?, ?)
            """)
        updateWorker = try db.prepare(
            "UPDATE workers SET name = ?, shift = ?, department = ?, updated_at_ms = ? WHERE id = ?")
        updateWorkstation = try db.prepare(
            "UPDATE workstations SET name = ?, location = ?, type = ?, updated_at_ms = ? WHERE id = ?")
        insertModel = try db.prepare("INSERT INTO models(model_version) VALUES(?)")
        insertGateway = try db.prepare("INSERT INTO gateways(gateway_id) VALUES(?)")

        try loadKeys()
        installWALHook()
    }

    private func loadKeys() throws(StoreError) {
        var k = InternedKeys()
        let sites = try db.prepare("SELECT id, site_id FROM sites")
        while try sites.step() { k.sites[sites.string(1)] = sites.int64(0) }
        let workers = try db.prepare("SELECT id, site, worker_id FROM workers")
        while try workers.step() { k.workers[SiteScopedName(site: workers.int64(1), id: workers.string(2))] = workers.int64(0) }
        let stations = try db.prepare("SELECT id, site, workstation_id FROM workstations")
        while try stations.step() {
            k.workstations[SiteScopedName(site: stations.int64(1), id: stations.string(2))] = stations.int64(0)
        }
        let models = try db.prepare("SELECT id, model_version FROM models")
        while try models.step() { k.models[models.string(1)] = models.int64(0) }
        let gateways = try db.prepare("SELECT id, gateway_id FROM gateways")
        while try gateways.step() { k.gateways[gateways.string(1)] = gateways.int64(0) }
        keys = k
    }

    private func installWALHook() {
        // Replaces SQLite's auto-checkpoint hook: we only record the WAL size; maintainWAL decides.
        let hook: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<CChar>?, Int32) -> Int32 = {
            context, _, _, frames in
            Unmanaged<WALFrames>.fromOpaque(context!).takeUnretainedValue().frames = frames
            return SQLITE_OK
        }
        sqlite3_wal_hook(db.handle, hook, Unmanaged.passUnretained(walFrames).toOpaque())
    }

    /// Total rows of a table (events and low-confidence rows are never deleted, so max(id) is the count
    /// and costs a b-tree descent rather than a scan of millions of rows).
    func rowCount(_ table: String) throws(StoreError) -> UInt64 {
        UInt64(try db.scalarInt("SELECT max(id) FROM \(table)") ?? 0)
    }

    var busyTimeoutMs: Int32 { configuration.busyTimeoutMs }

    func setMaxPageCount(_ pages: Int) throws(StoreError) {
        try db.execute("PRAGMA max_page_count=\(pages)")
    }

    // MARK: Ingest

    /// Stores every submission in one transaction. On any error the transaction is rolled back, the
    /// interned keys are restored and the error is thrown: nothing of it was stored.
    /// Stores one transaction's submissions. `resolved` holds each item's keys as looked up by the
    /// submitter (`KeySnapshot`), or nothing for a submission that was not resolved.
    func ingest(_ submissions: [[IngestItem]], resolved: [SubmissionKeys], now: Int64) throws(StoreError) -> IngestOutcome {
        let saved = keys
        var outcome = IngestOutcome(results: [], accepted: [], lowConfidence: [], receivedAtMs: now)
        outcome.results.reserveCapacity(submissions.count)
        let total = submissions.reduce(0) { $0 + $1.count }
        outcome.accepted.reserveCapacity(total)
        do throws(StoreError) {
            try begin.execute()
            for (s, items) in submissions.enumerated() {
                var results: [EventResult] = []
                results.reserveCapacity(items.count)
                let keys = resolved[s]
                for (i, item) in items.enumerated() {
                    switch item {
                    case .candidate(let e):
                        let result = try store(e, keys: keys[i], now: now)
                        if let sequence = result.stored {
                            outcome.accepted.append(StoredRow(submission: Int32(s), item: Int32(i), sequence: sequence))
                        }
                        results.append(result.result)
                    case .lowConfidence(let e):
                        let result = try recordLowConfidence(e, now: now)
                        if let sequence = result.stored {
                            outcome.lowConfidence.append(StoredRow(submission: Int32(s), item: Int32(i), sequence: sequence))
                        }
                        results.append(result.result)
                    }
                }
                outcome.results.append(results)
            }
            try commit.execute()
        } catch {
            db.rollbackIfNeeded()
            keys = saved
            var e = error
            e.operation = "storing \(total) events in \(submissions.count) submissions"
            throw e
        }
        return outcome
    }

    /// The result, and the new row's sequence when the event was stored.
    private func store(_ e: Event, keys resolved: ResolvedKeys, now: Int64) throws(StoreError) -> (result: EventResult, stored: Int64?) {
        let siteKey: Int64, workerKey: Int64, stationKey: Int64, model: Int64
        var gateway: Int64?
        var sequence: Int64?
        if let key = e.idempotencyKey {
            sequence = Int64(bitPattern: key.sequence)  // unsigned on the wire; the bit pattern keeps uniqueness
        }
        if resolved.isResolved {
            (siteKey, workerKey, stationKey, model) = (resolved.site, resolved.worker, resolved.station, resolved.model)
            if sequence != nil { gateway = resolved.gateway }
        } else {
            let siteID = e.effectiveSiteID
            var site = self.siteKey(siteID)
            var worker = site.flatMap { keys.workers[SiteScopedName(site: $0, id: e.workerID)] }
            var station = site.flatMap { keys.workstations[SiteScopedName(site: $0, id: e.workstationID)] }
            if worker == nil || station == nil {
                if configuration.acceptance.strict {
                    return (Self.unknownEntity(e, siteID: siteID, worker: worker == nil, workstation: station == nil), nil)
                }
                // Default mode: registered on first sight.
                let registered = try siteKeyRegistering(siteID, now: now)
                site = registered
                if worker == nil { worker = try registerWorker(WorkerRecord(siteID: siteID, workerID: e.workerID), site: registered, now: now) }
                if station == nil {
                    station = try registerWorkstation(WorkstationRecord(siteID: siteID, workstationID: e.workstationID),
                                                      site: registered, now: now)
                }
            }
            (siteKey, workerKey, stationKey) = (site!, worker!, station!)
            model = try modelKey(e.modelVersion)
            if let key = e.idempotencyKey { gateway = try gatewayKey(key.gatewayID) }
        }
        let count = Int64(e.units)
        let s = insertEvent
        defer { s.resetKeepingBindings() }  // all 11 parameters are bound below, every time
        try s.bind(1, e.eventTimeMs)
        try s.bind(2, Int64(e.kind.rawValue))
        try s.bind(3, e.confidence)
        try s.bind(4, count)
        try s.bind(5, siteKey)
        try s.bind(6, workerKey)
        try s.bind(7, stationKey)
        try s.bind(8, model)
        try s.bind(9, gateway)
        try s.bind(10, sequence)
        try s.bind(11, now)
        while try s.step() {}
        if db.changes == 1 { return (.accepted, db.lastInsertRowID) }
        // Identity is the only uniqueness rule (spec section 1): INSERT OR IGNORE skipped a duplicate.
        let suffix = e.kind == .productCount ? "; the first stored count wins" : ""
        return (EventResult(.duplicate,
            "an event with the same identity (site, worker_id, workstation_id, kind, event_time_ms) is already stored\(suffix)"), nil)
    }

    private static func unknownEntity(_ e: Event, siteID: String, worker: Bool, workstation: Bool) -> EventResult {
        let what: String
        switch (worker, workstation) {
        case (true, true): what = "worker_id \"\(e.workerID)\" and workstation_id \"\(e.workstationID)\" are"
        case (true, false): what = "worker_id \"\(e.workerID)\" is"
        default: what = "workstation_id \"\(e.workstationID)\" is"
        }
        return EventResult(.unknownEntity, "\(what) not registered at site \"\(siteID)\" (strict mode)")
    }

    /// LOW_CONFIDENCE, and the new row's sequence when this identity was not recorded before.
    private func recordLowConfidence(_ e: Event, now: Int64) throws(StoreError) -> (result: EventResult, stored: Int64?) {
        let siteID = e.effectiveSiteID
        let model = try modelKey(e.modelVersion)
        let s = insertLowConfidence
        defer { s.reset() }
        try s.bind(1, siteID)
        try s.bind(2, e.workerID)
        try s.bind(3, e.workstationID)
        try s.bind(4, Int64(e.kind.rawValue))
        try s.bind(5, e.eventTimeMs)
        try s.bind(6, e.confidence)
        try s.bind(7, model)
        try s.bind(8, now)
        while try s.step() {}
        let sequence = db.changes == 1 ? db.lastInsertRowID : nil
        let min = configuration.acceptance.minConfidence
        return (EventResult(.lowConfidence, "confidence \(e.confidence) below min_confidence \(min)"), sequence)
    }

    // MARK: Interning and registry

    @inline(__always) private func siteKeyRegistering(_ siteID: String, now: Int64) throws(StoreError) -> Int64 {
        if let k = keys.sites[siteID] { return k }
        return try registerSite(siteID, now: now)
    }

    /// The site's key if it is registered (nil otherwise).
    @inline(__always) private func siteKey(_ siteID: String) -> Int64? {
        if let last = keys.lastSite, last.name == siteID { return last.key }
        guard let k = keys.sites[siteID] else { return nil }
        keys.lastSite = (siteID, k)
        return k
    }

    @inline(__always) private func modelKey(_ version: String) throws(StoreError) -> Int64 {
        if let last = keys.lastModel, last.name == version { return last.key }
        let k: Int64
        if let known = keys.models[version] { k = known } else { k = try internModel(version) }
        keys.lastModel = (version, k)
        return k
    }

    @inline(__always) private func gatewayKey(_ id: String) throws(StoreError) -> Int64 {
        if let last = keys.lastGateway, last.name == id { return last.key }
        let k: Int64
        if let known = keys.gateways[id] { k = known } else { k = try internGateway(id) }
        keys.lastGateway = (id, k)
        return k
    }

    private func registerSite(_ siteID: String, now: Int64) throws(StoreError) -> Int64 {
        try insertSite.bind(1, siteID)
        try insertSite.bind(2, now)
        try insertSite.execute()
        let key = db.lastInsertRowID
        keys.sites[siteID] = key
        keys.version += 1
        return key
    }

    private func registerWorker(_ r: WorkerRecord, site: Int64, now: Int64) throws(StoreError) -> Int64 {
        let s = insertWorker
        try s.bind(1, site)
        try s.bind(2, r.workerID)
        try s.bind(3, r.name)
        try s.bind(4, r.shift)
        try s.bind(5, r.department)
        try s.bind(6, now)
        try s.bind(7, now)
        try s.execute()
        let key = db.lastInsertRowID
        keys.workers[SiteScopedName(site: site, id: r.workerID)] = key
        keys.version += 1
        return key
    }

    private func registerWorkstation(_ r: WorkstationRecord, site: Int64, now: Int64) throws(StoreError) -> Int64 {
        let s = insertWorkstation
        try s.bind(1, site)
        try s.bind(2, r.workstationID)
        try s.bind(3, r.name)
        try s.bind(4, r.location)
        try s.bind(5, r.type)
        try s.bind(6, now)
        try s.bind(7, now)
        try s.execute()
        let key = db.lastInsertRowID
        keys.workstations[SiteScopedName(site: site, id: r.workstationID)] = key
        keys.version += 1
        return key
    }

    private func internModel(_ version: String) throws(StoreError) -> Int64 {
        try insertModel.bind(1, version)
        try insertModel.execute()
        let key = db.lastInsertRowID
        keys.models[version] = key
        keys.version += 1
        return key
    }

    private func internGateway(_ id: String) throws(StoreError) -> Int64 {
        try insertGateway.bind(1, id)
        try insertGateway.execute()
        let key = db.lastInsertRowID
        keys.gateways[id] = key
        keys.version += 1
        return key
    }

    private static func siteOf(_ s: String) -> String { s.isEmpty ? Event.defaultSite : s }

    private static func checkIDs(_ site: String, _ id: String, field: String, index: Int) throws(StoreError) {
        if !site.isEmpty && !IdentifierRules.isValid(site) {
            throw .invalidArgument("site_id of record \(index): only 1-64 bytes of [A-Za-z0-9_.:-] allowed, got \"\(site.prefix(80))\"")
        }
        if !IdentifierRules.isValid(id) {
            throw .invalidArgument("\(field) of record \(index): only 1-64 bytes of [A-Za-z0-9_.:-] allowed, got \"\(id.prefix(80))\"")
        }
    }

    func upsertWorkers(_ records: [WorkerRecord], now: Int64) throws(StoreError) -> UpsertResult {
        try upsert(records, noun: "workers", field: "worker_id", now: now, site: \.siteID, id: \.workerID,
                   existing: { keys.workers[$0] },
                   update: { (r, key) throws(StoreError) in
                       try updateWorker.bind(1, r.name)
                       try updateWorker.bind(2, r.shift)
                       try updateWorker.bind(3, r.department)
                       try updateWorker.bind(4, now)
                       try updateWorker.bind(5, key)
                       try updateWorker.execute()
                   },
                   insert: { (r, site) throws(StoreError) in _ = try registerWorker(r, site: site, now: now) })
    }

    func upsertWorkstations(_ records: [WorkstationRecord], now: Int64) throws(StoreError) -> UpsertResult {
        try upsert(records, noun: "workstations", field: "workstation_id", now: now, site: \.siteID, id: \.workstationID,
                   existing: { keys.workstations[$0] },
                   update: { (r, key) throws(StoreError) in
                       try updateWorkstation.bind(1, r.name)
                       try updateWorkstation.bind(2, r.location)
                       try updateWorkstation.bind(3, r.type)
                       try updateWorkstation.bind(4, now)
                       try updateWorkstation.bind(5, key)
                       try updateWorkstation.execute()
                   },
                   insert: { (r, site) throws(StoreError) in _ = try registerWorkstation(r, site: site, now: now) })
    }

    /// One registry upsert for either kind of record: ids checked first, then one transaction that
    /// updates known ids and registers new ones; the in-memory keys roll back with it.
    private func upsert<Record>(
        _ records: [Record], noun: String, field: String, now: Int64,
        site siteOfRecord: (Record) -> String, id: (Record) -> String,
        existing: (SiteScopedName) -> Int64?,
        update: (Record, Int64) throws(StoreError) -> Void,
        insert: (Record, Int64) throws(StoreError) -> Void
    ) throws(StoreError) -> UpsertResult {
        for (i, r) in records.enumerated() { try Self.checkIDs(siteOfRecord(r), id(r), field: field, index: i) }
        let saved = keys
        do throws(StoreError) {
            return try db.transaction { () throws(StoreError) -> UpsertResult in
                var result = UpsertResult(created: 0, updated: 0)
                for r in records {
                    let site = try siteKeyRegistering(Self.siteOf(siteOfRecord(r)), now: now)
                    if let key = existing(SiteScopedName(site: site, id: id(r))) {
                        try update(r, key)
                        result.updated += 1
                    } else {
                        try insert(r, site)
                        result.created += 1
                    }
                }
                return result
            }
        } catch {
            keys = saved
            var e = error
            if e.kind == .sqlite { e.operation = "upserting \(records.count) \(noun)" }
            throw e
        }
    }

    // MARK: Checkpoints

    /// Called after each commit. PASSIVE checkpoints never wait and never block anyone, but with readers
    /// always active the WAL can never restart from its beginning and grows without bound. So once it holds
    /// `checkpointTruncatePages`, and no submission is waiting (or it is 4x that, waiting or not), a TRUNCATE
    /// checkpoint waits up to `checkpointWaitMs` (5x that past 4x the limit) for the readers of the moment to
    /// finish: readers that start meanwhile read the fully checkpointed database, not the WAL, so they do
    /// not hold it up.
    func maintainWAL(workWaiting: Bool) {
        let frames = Int(walFrames.frames)
        if frames < lastSeenFrames {  // the WAL was restarted from its beginning
            backfilledFrames = 0
            lastTruncateAttemptFrames = 0
        }
        lastSeenFrames = frames
        if frames - backfilledFrames >= configuration.checkpointPassivePages {
            var log: Int32 = 0
            var done: Int32 = 0
            let rc = sqlite3_wal_checkpoint_v2(db.handle, nil, SQLITE_CHECKPOINT_PASSIVE, &log, &done)
            if rc == SQLITE_OK {
                backfilledFrames = Int(done)
            } else {
                logger.warning("passive checkpoint failed", metadata: ["error": "\(db.error(rc, "checkpointing"))"])
            }
        }
        let limit = configuration.checkpointTruncatePages
        if frames >= limit && (!workWaiting || frames >= 4 * limit)
            && frames - lastTruncateAttemptFrames >= configuration.checkpointPassivePages {
            lastTruncateAttemptFrames = frames
            // Past 4x the limit, bounding the WAL matters more than a short stall: wait longer.
            let wait = frames >= 4 * limit ? configuration.checkpointWaitMs * 5 : configuration.checkpointWaitMs
            if truncateWAL(waitMs: wait) {
                backfilledFrames = 0
                lastSeenFrames = 0
                lastTruncateAttemptFrames = 0
            }
        }
    }

    /// A TRUNCATE checkpoint that waits at most `waitMs` for readers (SQLITE_BUSY after that).
    @discardableResult
    func truncateWAL(waitMs: Int32) -> Bool {
        if waitMs != configuration.busyTimeoutMs { sqlite3_busy_timeout(db.handle, waitMs) }
        defer { if waitMs != configuration.busyTimeoutMs { sqlite3_busy_timeout(db.handle, configuration.busyTimeoutMs) } }
        var log: Int32 = 0
        var done: Int32 = 0
        let rc = sqlite3_wal_checkpoint_v2(db.handle, nil, SQLITE_CHECKPOINT_TRUNCATE, &log, &done)
        if rc == SQLITE_OK {
            walFrames.frames = 0
            return true
        }
        if rc & 0xff == SQLITE_BUSY {
            logger.debug("truncate checkpoint gave way to readers", metadata: ["walPages": "\(log)"])
        } else {
            logger.warning("truncate checkpoint failed", metadata: ["error": "\(db.error(rc, "checkpointing"))"])
        }
        return false
    }

    func close() {
        truncateWAL(waitMs: configuration.busyTimeoutMs)
        sqlite3_wal_hook(db.handle, nil, nil)
        db.close()
    }
}
