import TaktDomain

/// When a commit is durable.
public enum Durability: String, Sendable, Hashable, CaseIterable {
    /// `synchronous=FULL`: the WAL is fsynced at every commit; survives power loss.
    case full
    /// `synchronous=NORMAL`: survives a process crash, not power loss (the WAL is fsynced at checkpoints).
    case normal
}

public struct StoreConfiguration: Sendable, Hashable {
    public var durability: Durability
    /// Strict mode and min confidence (used for UNKNOWN_ENTITY and the LOW_CONFIDENCE message).
    public var acceptance: AcceptancePolicy
    /// How long a connection waits on a lock held by someone else (normally nobody: one writer).
    public var busyTimeoutMs: Int32
    /// Cap on events merged into one transaction by the group-commit writer.
    public var maxEventsPerTransaction: Int
    /// Reader connections (ListEvents, registry lists, startup scans).
    public var readerCount: Int
    /// After a commit, run a PASSIVE checkpoint once this many WAL pages were not yet checkpointed.
    /// 8,000 pages (32 MiB): a checkpoint copies each page once however often it changed since the last
    /// one, and ingest keeps rewriting the same index and table tail pages, so checkpointing 4x less
    /// often than SQLite's usual 2,000 took the writer from ~2.4 to ~2.0 µs per event in batched ingest
    /// (scenario 1: 350k → 430k events/s) with no change to single-event latency (docs/BENCHMARKS.md).
    public var checkpointPassivePages: Int
    /// When the WAL holds this many pages and no work is waiting (or 4x this, regardless), try a TRUNCATE
    /// checkpoint. Also the size the WAL file is cut back to when it is reused (`journal_size_limit`).
    public var checkpointTruncatePages: Int
    /// How long that TRUNCATE checkpoint may wait for current readers (it stalls the writer meanwhile).
    public var checkpointWaitMs: Int32
    /// Writer page cache in KiB.
    public var writerCacheKiB: Int
    /// Limit on the database size in pages (`PRAGMA max_page_count`); nil: SQLite's default. For tests that
    /// need a full disk; `EventStore.setMaxPageCount` changes it on an open store.
    public var maxPageCount: Int?

    public init(durability: Durability = .full, acceptance: AcceptancePolicy = AcceptancePolicy(),
                busyTimeoutMs: Int32 = 5_000, maxEventsPerTransaction: Int = 20_000, readerCount: Int = 3,
                checkpointPassivePages: Int = 8_000, checkpointTruncatePages: Int = 16_384,
                checkpointWaitMs: Int32 = 20, writerCacheKiB: Int = 32_768, maxPageCount: Int? = nil) {
        self.durability = durability
        self.acceptance = acceptance
        self.busyTimeoutMs = busyTimeoutMs
        self.maxEventsPerTransaction = maxEventsPerTransaction
        self.readerCount = readerCount
        self.checkpointPassivePages = checkpointPassivePages
        self.checkpointTruncatePages = checkpointTruncatePages
        self.checkpointWaitMs = checkpointWaitMs
        self.writerCacheKiB = writerCacheKiB
        self.maxPageCount = maxPageCount
    }

    public var strict: Bool {
        get { acceptance.strict }
        set { acceptance.strict = newValue }
    }
}

/// One event handed to the store, after `AcceptancePolicy.precheck`.
public enum IngestItem: Sendable, Hashable {
    /// Passed the precheck: stored unless a duplicate or (strict mode) an unknown entity.
    case candidate(Event)
    /// Below min confidence: recorded once per identity for model health; the result is LOW_CONFIDENCE.
    case lowConfidence(Event)

    public var event: Event {
        switch self {
        case .candidate(let e), .lowConfidence(let e): return e
        }
    }
}

public struct StoreStats: Sendable, Hashable {
    /// Events stored (all time).
    public var events: UInt64
    /// Low-confidence rejections recorded (all time).
    public var lowConfidenceEvents: UInt64
    /// Ingest transactions committed by the writer since open.
    public var commits: UInt64
    /// Events accepted since open.
    public var eventsAcceptedSinceOpen: UInt64
    public var databaseBytes: UInt64
    public var walBytes: UInt64
}
