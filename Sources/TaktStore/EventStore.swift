// The durable, exactly-once event store: one group-commit writer, a few readers.
// Nothing is reported ACCEPTED before the transaction holding it has committed.
@preconcurrency import Dispatch
import Logging
import TaktDomain
import TaktSync

/// `@unchecked Sendable`: every mutable field is either guarded by `lock` (the pending queue, flags,
/// counters, the commit handler) or confined to `writerQueue` (`writer`); readers are checked out of
/// `ReaderPool`, which is itself synchronized.
public final class EventStore: @unchecked Sendable {
    public typealias Completion = @Sendable (Result<[EventResult], StoreError>) -> Void
    public typealias CommitHandler = @Sendable (_ accepted: [StoredEvent], _ lowConfidence: [StoredEvent]) -> Void

    private enum Job {
        case ingest([IngestItem], SubmissionKeys, Completion)
        /// Registry writes and settings: one at a time, in order with the submissions around them.
        case exclusive(@Sendable (Writer) -> Void)
    }

    public let directory: String
    public let databasePath: String
    public let configuration: StoreConfiguration
    private let logger: Logger

    private let lock = Lock()
    // Guarded by `lock`.
    private var pending: [Job] = []
    /// Events in the pending ingest jobs.
    private var pendingEvents = 0
    private var drainScheduled = false
    private var closed = false
    private var commitHandler: CommitHandler?
    private var commitCount: UInt64 = 0
    private var eventCount: UInt64
    private var lowConfidenceCount: UInt64
    private var acceptedSinceOpen: UInt64 = 0
    private var lastFailure: StoreError?
    /// Group-commit gathering (writer queue only): how many calls the last transaction answered and
    /// how long its commit took. Those callers usually come straight back with their next event.
    private var lastTransactionCalls = 0
    private var lastCommitNs: UInt64 = 0
    /// Set (under `lock`) while the writer waits for stragglers; `enqueue` signals `arrivals` once the
    /// queue holds `gatherTarget` calls or `gatherEventLimit` events (or an exclusive job), and clears it:
    /// one wake-up per transaction rather than one per arriving call.
    private var gathering = false
    private var gatherTarget = 0
    private let arrivals = DispatchSemaphore(value: 0)
    /// The writer's keys as last published (under `lock`), for `submit` to resolve names with.
    private var keySnapshot: KeySnapshot
    /// Writer queue only: the keys' version in `keySnapshot`, and when it was published.
    private var publishedKeysVersion: UInt64
    private var publishedKeysAtNs: UInt64 = 0

    private let writerQueue = DispatchQueue(label: "takt.store.writer", qos: .userInitiated)
    /// Runs the commit handler and the completions of each committed transaction, in commit order, while
    /// the writer already runs the next one: a pipeline of two stages. The handler (the metric index)
    /// costs per event about half of what the transaction does; here it overlaps the next transaction
    /// instead of delaying it.
    private let completionQueue = DispatchQueue(label: "takt.store.completions", qos: .userInitiated)
    private let writer: Writer  // only touched on writerQueue (and in open/close, when no job can run)
    private let readers: ReaderPool
    private let directoryLock: DirectoryLock

    private init(directory: String, configuration: StoreConfiguration, logger: Logger, writer: Writer,
                 readers: ReaderPool, directoryLock: DirectoryLock, events: UInt64, lowConfidence: UInt64) {
        self.directory = directory
        self.databasePath = directory + "/takt.db"
        self.configuration = configuration
        self.logger = logger
        self.writer = writer
        self.keySnapshot = KeySnapshot(writer.keys)
        self.publishedKeysVersion = writer.keys.version
        self.readers = readers
        self.directoryLock = directoryLock
        self.eventCount = events
        self.lowConfidenceCount = lowConfidence
    }

    /// Opens (creating when needed) the store in `directory` (`takt.db` plus its WAL and a lock file).
    /// Fails with a clear error for a directory that cannot be written, a file that is not a database,
    /// a schema from a newer taktd, or a directory another process has open.
    public static func open(directory: String, configuration: StoreConfiguration = StoreConfiguration(),
                            logger: Logger) throws(StoreError) -> EventStore {
        try System.makeDirectories(directory)
        let directoryLock = try DirectoryLock(directory: directory)
        let path = directory + "/takt.db"
        let writer = try Writer(path: path, configuration: configuration, logger: logger)
        let readers = try ReaderPool(path: path, count: configuration.readerCount, configuration: configuration)
        let events = try writer.rowCount("events")
        let low = try writer.rowCount("low_confidence")
        logger.info("store opened", metadata: [
            "path": "\(path)", "events": "\(events)", "durability": "\(configuration.durability.rawValue)",
            "strict": "\(configuration.strict)",
        ])
        return EventStore(directory: directory, configuration: configuration, logger: logger, writer: writer,
                          readers: readers, directoryLock: directoryLock, events: events, lowConfidence: low)
    }

    deinit {
        // No job can be running or pending: a scheduled drain holds a reference. We may be on the writer
        // queue (the drain's release can be the last one), so close inline rather than through `close()`.
        guard !closed else { return }
        readers.close()
        writer.close()
        directoryLock.unlock()
    }

    /// Drains pending submissions, checkpoints (TRUNCATE) and closes every connection. Idempotent.
    /// Must not be called from a completion or the commit handler.
    public func close() {
        let first = lock.withLock { () -> Bool in
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        dispatchPrecondition(condition: .notOnQueue(writerQueue))
        dispatchPrecondition(condition: .notOnQueue(completionQueue))
        writerQueue.sync {}  // the drain loop runs until the queue is empty; nothing new can be added now
        completionQueue.sync {}  // and every committed transaction has been answered
        readers.close()  // before the final checkpoint, so TRUNCATE finds no reader
        let writer = self.writer
        writerQueue.sync { writer.close() }
        directoryLock.unlock()
        logger.info("store closed", metadata: ["path": "\(databasePath)"])
    }

    /// Called after each successful COMMIT, in commit order and before any completion of that transaction,
    /// on the store's completion queue (concurrently with the writer's next transaction).
    /// Set it before the first submit.
    public var onCommit: CommitHandler? {
        get { lock.withLock { commitHandler } }
        set { lock.withLock { commitHandler = newValue } }
    }

    // MARK: Ingest

    /// Queues events for the writer, which merges everything pending into one transaction. `completion`
    /// runs on the store's completion queue once that transaction committed (one result per item, in
    /// order) or failed (then nothing of this submission was stored). Keep it short.
    public func submit(_ items: [IngestItem], completion: @escaping Completion) {
        if items.isEmpty { return completion(.success([])) }
        // Names are looked up here, on the submitter's thread, in the last published keys: the writer then
        // only binds them (it still resolves what this snapshot did not know, and registers it).
        let keys = lock.withLock { keySnapshot }.resolve(items)
        enqueue(.ingest(items, keys, completion), onClosed: { completion(.failure(.closed("submitting events"))) })
    }

    public func submit(_ items: [IngestItem]) async throws(StoreError) -> [EventResult] {
        let result = await withCheckedContinuation { (c: CheckedContinuation<Result<[EventResult], StoreError>, Never>) in
            submit(items) { c.resume(returning: $0) }
        }
        return try result.get()
    }

    private func enqueue(_ job: Job, onClosed: () -> Void) {
        let schedule = lock.withLock { () -> Bool? in
            if closed { return nil }
            pending.append(job)
            var exclusive = true
            if case .ingest(let items, _, _) = job { pendingEvents += items.count; exclusive = false }
            if gathering && (exclusive || pending.count >= gatherTarget
                             || pendingEvents >= Self.gatherEventLimit) {
                gathering = false
                arrivals.signal()
            }
            if drainScheduled { return false }
            drainScheduled = true
            return true
        }
        guard let schedule else { return onClosed() }
        if schedule { writerQueue.async { self.drain() } }
    }

    /// One caller's events as the writer takes them.
    private struct Submission {
        var items: [IngestItem]
        var keys: SubmissionKeys
        var completion: Completion
    }

    /// What the writer takes next: one exclusive job, or pending submissions in arrival order up to
    /// `transactionCap(waiting:configured:)` events (a single call bigger than that still commits whole).
    private enum Turn {
        case idle
        case exclusive(@Sendable (Writer) -> Void)
        case ingest([Submission])
    }

    /// Events the next transaction may take when `waiting` events wait: half of them, but at least
    /// `splitFloorEvents` and at most the configured cap. Taking every waiting call marched closed-loop
    /// callers in lockstep: all of them waited for one commit, then the index, the answers, the clients and
    /// the decoding of their next calls ran while the writer idled. Two cohorts keep the writer busy while
    /// the other stages serve the cohort just committed (8 connections × 500-event batches: +5–10 %;
    /// 32 × 100: +14 %). The floor keeps each fsync shared by at least 1,000 events, and as half of what
    /// waits grows with the wait, a slow disk still gets big transactions. Single events rarely have
    /// 2,000 waiting, so their group commit is unchanged.
    static func transactionCap(waiting: Int, configured: Int) -> Int {
        Swift.min(configured, Swift.max(splitFloorEvents, waiting / 2))
    }
    static let splitFloorEvents = 1_000

    private func takeTurn() -> Turn {
        // Taken jobs are released after the lock is dropped: destroying a few hundred closures and
        // event arrays under it (as `removeAll` did) held up every connection thread's `enqueue`.
        var taken: [Job] = []
        return lock.withLock { () -> Turn in
            guard let first = pending.first else {
                drainScheduled = false
                return .idle
            }
            if case .exclusive(let body) = first {
                keep(from: 1, reserving: 16, releasingInto: &taken)
                return .exclusive(body)
            }
            var batch: [Submission] = []
            batch.reserveCapacity(pending.count)
            var events = 0
            var next = 0
            let cap = Self.transactionCap(waiting: pendingEvents, configured: configuration.maxEventsPerTransaction)
            while next < pending.count, case .ingest(let items, let keys, let completion) = pending[next] {
                if !batch.isEmpty && events + items.count > cap { break }
                batch.append(Submission(items: items, keys: keys, completion: completion))
                events += items.count
                pendingEvents -= items.count
                next += 1
            }
            keep(from: next, reserving: next, releasingInto: &taken)
            return .ingest(batch)
        }
    }

    /// The keys `submit` resolves with now (for tests).
    func lockedKeySnapshot() -> KeySnapshot { lock.withLock { keySnapshot } }

    /// Holds the writer inside an exclusive job until the returned closure is called, so that tests can
    /// queue submissions deterministically behind it.
    func pauseWriter() -> @Sendable () -> Void {
        let entered = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        enqueue(.exclusive { _ in
            entered.signal()
            release.wait()
        }, onClosed: { entered.signal() })
        entered.wait()
        return { release.signal() }
    }

    /// Under `lock`: leaves only the jobs from `index` on in the queue, and moves its old array into `taken`
    /// for the caller to release after unlocking. Taken jobs must not linger in `pending`: each slot holds
    /// its events until dropped. `expected`: about as many as were just taken; room for twice that many
    /// arrivals keeps `enqueue` from growing the array while the writer commits.
    private func keep(from index: Int, reserving expected: Int, releasingInto taken: inout [Job]) {
        var rest: [Job] = []
        rest.reserveCapacity(Swift.max(2 * expected, 64, pending.count - index))
        if index < pending.count { rest.append(contentsOf: pending[index...]) }
        swap(&taken, &pending)
        pending = rest
    }

    private var hasPendingWork: Bool { lock.withLock { !pending.isEmpty } }

    /// Before the next transaction, waits briefly for the callers the last one answered: without
    /// it, closed-loop callers split into cohorts that each pay a whole fsync (e.g. 64 single-event
    /// callers committing ~20 at a time). Waits at most half the last commit's duration (≤ 2 ms),
    /// and only while fewer calls wait than the last transaction answered and fewer events than
    /// `gatherEventLimit`: big batches amortize the fsync by themselves, and waiting for them would
    /// only march every caller in lockstep (decode, write, index, answer) instead of overlapping.
    private static let gatherEventLimit = 256

    private func gatherStragglers() {
        let target = lastTransactionCalls
        guard target > 1 else { return }
        let windowNs = min(lastCommitNs / 2, 2_000_000)
        guard windowNs > 20_000 else { return }
        let deadline = DispatchTime.now() + .nanoseconds(Int(windowNs))
        while true {
            let enough = lock.withLock { () -> Bool in
                let waiting = pending.count
                if waiting >= target || waiting == 0 || pendingEvents >= Self.gatherEventLimit { gathering = false; return true }
                if case .exclusive = pending[0] { gathering = false; return true }
                gathering = true
                gatherTarget = target
                return false
            }
            if enough { return }
            if arrivals.wait(timeout: deadline) == .timedOut {
                lock.withLock { gathering = false }
                while arrivals.wait(timeout: .now()) == .success {}
                return
            }
        }
    }

    private func drain() {
        while true {
            gatherStragglers()
            switch takeTurn() {
            case .idle:
                return
            case .exclusive(let body):
                body(writer)
            case .ingest(let batch):
                runTransaction(batch)
            }
        }
    }

    /// A new snapshot when the writer's keys changed since the last one, at most every 50 ms: once
    /// published, the writer's next new key copies its maps (copy-on-write), so a burst of first sightings
    /// (10,000 new gateways) must not copy them at every commit. Keys registered meanwhile are resolved by
    /// the writer itself.
    private func freshKeySnapshot() -> KeySnapshot? {
        let keys = writer.keys
        guard keys.version != publishedKeysVersion else { return nil }
        let nowNs = DispatchTime.now().uptimeNanoseconds
        guard nowNs - publishedKeysAtNs >= 50_000_000 else { return nil }
        publishedKeysVersion = keys.version
        publishedKeysAtNs = nowNs
        return KeySnapshot(keys)
    }

    private func runTransaction(_ batch: [Submission]) {
        let now = System.nowMs()
        let started = DispatchTime.now().uptimeNanoseconds
        defer {
            lastTransactionCalls = batch.count
            lastCommitNs = DispatchTime.now().uptimeNanoseconds - started
        }
        let outcome: IngestOutcome
        let submissions = batch.map(\.items)
        do throws(StoreError) {
            outcome = try writer.ingest(submissions, resolved: batch.map(\.keys), now: now)
        } catch {
            logger.error("ingest transaction failed", metadata: [
                "error": "\(error)", "submissions": "\(batch.count)", "retryable": "\(error.isRetryable)",
            ])
            lock.withLock { lastFailure = error }
            let completions = batch.map(\.completion)
            completionQueue.async { for completion in completions { completion(.failure(error)) } }
            return
        }
        let fresh = freshKeySnapshot()
        let handler = lock.withLock { () -> CommitHandler? in
            lastFailure = nil
            commitCount += 1
            eventCount += UInt64(outcome.accepted.count)
            acceptedSinceOpen += UInt64(outcome.accepted.count)
            lowConfidenceCount += UInt64(outcome.lowConfidence.count)
            if let fresh { keySnapshot = fresh }
            return commitHandler
        }
        let completions = batch.map(\.completion)
        completionQueue.async {
            if let handler, !(outcome.accepted.isEmpty && outcome.lowConfidence.isEmpty) {
                handler(outcome.storedEvents(outcome.accepted, of: submissions),
                        outcome.storedEvents(outcome.lowConfidence, of: submissions))
            }
            for (i, completion) in completions.enumerated() { completion(.success(outcome.results[i])) }
        }
        writer.maintainWAL(workWaiting: hasPendingWork)
    }

    // MARK: Writer jobs (registry, settings)

    /// Runs `body` on the writer, in order with submissions, and waits for it.
    private func onWriter<T: Sendable>(_ operation: String,
                                       _ body: @escaping @Sendable (Writer) throws(StoreError) -> T) throws(StoreError) -> T {
        dispatchPrecondition(condition: .notOnQueue(writerQueue))  // would wait for itself
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        var wasClosed = false
        enqueue(.exclusive { writer in
            do throws(StoreError) { box.result = .success(try body(writer)) } catch { box.result = .failure(error) }
            done.signal()
        }, onClosed: { wasClosed = true })
        if wasClosed { throw .closed(operation) }
        done.wait()
        return try box.result!.get()
    }

    private func onWriter<T: Sendable>(_ operation: String,
                                       _ body: @escaping @Sendable (Writer) throws(StoreError) -> T) async throws(StoreError) -> T {
        let result = await withCheckedContinuation { (c: CheckedContinuation<Result<T, StoreError>, Never>) in
            enqueue(.exclusive { writer in
                do throws(StoreError) { c.resume(returning: .success(try body(writer))) } catch { c.resume(returning: .failure(error)) }
            }, onClosed: { c.resume(returning: .failure(.closed(operation))) })
        }
        return try result.get()
    }

    /// Creates or updates workers (empty site: `default`). Serialized with ingestion, so an event submitted
    /// after this returns sees the registration (strict mode). Blocks until the writer ran it.
    public func upsertWorkers(_ records: [WorkerRecord]) throws(StoreError) -> UpsertResult {
        try onWriter("upserting workers") { (w: Writer) throws(StoreError) in try w.upsertWorkers(records, now: System.nowMs()) }
    }

    public func upsertWorkers(_ records: [WorkerRecord]) async throws(StoreError) -> UpsertResult {
        try await onWriter("upserting workers") { (w: Writer) throws(StoreError) in try w.upsertWorkers(records, now: System.nowMs()) }
    }

    public func upsertWorkstations(_ records: [WorkstationRecord]) throws(StoreError) -> UpsertResult {
        try onWriter("upserting workstations") { (w: Writer) throws(StoreError) in
            try w.upsertWorkstations(records, now: System.nowMs())
        }
    }

    public func upsertWorkstations(_ records: [WorkstationRecord]) async throws(StoreError) -> UpsertResult {
        try await onWriter("upserting workstations") { (w: Writer) throws(StoreError) in
            try w.upsertWorkstations(records, now: System.nowMs())
        }
    }

    /// Changes `PRAGMA max_page_count` on the writer (tests simulate a full disk with it).
    public func setMaxPageCount(_ pages: Int) throws(StoreError) {
        try onWriter("setting max_page_count") { (w: Writer) throws(StoreError) in try w.setMaxPageCount(pages) }
    }

    /// Runs a TRUNCATE checkpoint now (waiting up to the busy timeout for readers). Returns whether the
    /// WAL was emptied.
    @discardableResult
    public func checkpoint() throws(StoreError) -> Bool {
        try onWriter("checkpointing") { (w: Writer) in w.truncateWAL(waitMs: w.busyTimeoutMs) }
    }

    // MARK: Reads

    /// One page of stored events, newest first (event_time_ms DESC, then store sequence DESC).
    public func listEvents(_ request: ListEventsRequest) throws(StoreError) -> EventPage {
        try readers.withReader("listing events") { (r: Reader) throws(StoreError) in try r.listEvents(request) }
    }

    /// Streams every stored event in store-sequence order from one snapshot (startup index rebuild).
    public func forEachEvent(_ body: (StoredEvent) -> Void) throws(StoreError) {
        try readers.withReader("reading events") { (r: Reader) throws(StoreError) in try r.forEachEvent(body) }
    }

    /// Streams every recorded low-confidence rejection in the order recorded.
    public func forEachLowConfidence(_ body: (StoredEvent) -> Void) throws(StoreError) {
        try readers.withReader("reading low-confidence events") { (r: Reader) throws(StoreError) in
            try r.forEachLowConfidence(body)
        }
    }

    public func listWorkers(siteID: String? = nil) throws(StoreError) -> [WorkerRecord] {
        try readers.withReader("listing workers") { (r: Reader) throws(StoreError) in try r.listWorkers(siteID: siteID) }
    }

    public func listWorkstations(siteID: String? = nil) throws(StoreError) -> [WorkstationRecord] {
        try readers.withReader("listing workstations") { (r: Reader) throws(StoreError) in
            try r.listWorkstations(siteID: siteID)
        }
    }

    public func listSites() throws(StoreError) -> [SiteRecord] {
        try readers.withReader("listing sites") { (r: Reader) throws(StoreError) in try r.listSites() }
    }

    // MARK: Stats

    /// Transactions committed since open (a measure of group commit: far fewer than submissions under load).
    public var commits: UInt64 { lock.withLock { commitCount } }
    /// Events stored, all time.
    public var eventsStored: UInt64 { lock.withLock { eventCount } }

    /// False when closed, or when the last ingest transaction failed (disk full, I/O error) and none has
    /// committed since: health checks report NOT_SERVING then.
    public var isWritable: Bool { lock.withLock { !closed && lastFailure == nil } }

    /// The error of the last ingest transaction, when it failed and none has committed since.
    public var lastWriteError: StoreError? { lock.withLock { lastFailure } }

    public func stats() -> StoreStats {
        let (commits, events, low, accepted) = lock.withLock { (commitCount, eventCount, lowConfidenceCount, acceptedSinceOpen) }
        return StoreStats(events: events, lowConfidenceEvents: low, commits: commits, eventsAcceptedSinceOpen: accepted,
                          databaseBytes: System.fileSize(databasePath), walBytes: System.fileSize(databasePath + "-wal"))
    }
}

/// Carries a writer job's result to the waiting caller. `@unchecked Sendable`: written once on the writer
/// queue before the semaphore is signalled, read only after the wait returns.
private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, StoreError>?
}
