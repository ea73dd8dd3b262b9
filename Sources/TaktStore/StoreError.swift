import CSQLite
import TaktDomain

/// A store failure: what kind, SQLite's extended result code and message when SQLite reported it,
/// and what the store was doing. Converts itself to an RPC status (`RPCErrorConvertible`).
public struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Grows without breaking a switch (a struct wrapping a private enum, like `StatusCode`).
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        private enum Value: Sendable, Hashable {
            case sqlite, invalidArgument, schemaTooNew, directoryInUse, system, closed
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// SQLite returned an error; `StoreError.sqliteCode` says which.
        public static let sqlite = Kind(.sqlite)
        /// A request argument is wrong (page size, page token, a registry id).
        public static let invalidArgument = Kind(.invalidArgument)
        /// The database was written by a newer taktd.
        public static let schemaTooNew = Kind(.schemaTooNew)
        /// Another process holds the data directory's lock.
        public static let directoryInUse = Kind(.directoryInUse)
        /// A system call failed (creating the data directory, the lock file).
        public static let system = Kind(.system)
        /// The store was closed.
        public static let closed = Kind(.closed)

        public var description: String { "\(value)" }
    }

    public var kind: Kind
    /// SQLite extended result code (e.g. 13 `SQLITE_FULL`, 522 `SQLITE_IOERR_SHORT_READ`); 0 when not from SQLite.
    public var sqliteCode: Int32
    /// SQLite's message (`database or disk is full`) or the problem in words.
    public var message: String
    /// What the store was doing (`committing 512 events`, `opening /data/takt.db`).
    public var operation: String
    /// The statement, when one was running.
    public var sql: String?

    public init(kind: Kind, sqliteCode: Int32 = 0, message: String, operation: String, sql: String? = nil) {
        self.kind = kind
        self.sqliteCode = sqliteCode
        self.message = message
        self.operation = operation
        self.sql = sql
    }

    static func invalidArgument(_ message: String) -> StoreError {
        StoreError(kind: .invalidArgument, message: message, operation: "validating the request")
    }

    static func closed(_ operation: String) -> StoreError {
        StoreError(kind: .closed, message: "the event store is closed", operation: operation)
    }

    /// SQLite's primary result code (the low byte of the extended code).
    public var sqlitePrimaryCode: Int32 { sqliteCode & 0xff }

    /// Whether retrying later may succeed (disk full, I/O error, busy, read-only, closed).
    public var isRetryable: Bool { rpcError.code.isRetryable }

    public var description: String {
        var s = "\(operation): \(message)"
        if kind == .sqlite { s += " (SQLite code \(sqliteCode))" }
        return s
    }
}

extension StoreError: RPCErrorConvertible {
    public var rpcError: RPCError {
        switch kind {
        case .invalidArgument:
            return RPCError(.invalidArgument, message)
        case .schemaTooNew, .directoryInUse:
            return RPCError(.failedPrecondition, description)
        case .closed:
            return RPCError(.unavailable, description)
        case .system:
            return RPCError(.internal, description)
        default:
            switch sqlitePrimaryCode {
            case SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY:
                // Transient or operator-fixable (free disk space, fix permissions): the client retries.
                return RPCError(.unavailable, description, retryAfterMs: 1_000)
            case SQLITE_CORRUPT, SQLITE_NOTADB:
                return RPCError(.dataLoss, description)
            case SQLITE_NOMEM:
                return RPCError(.resourceExhausted, description)
            default:
                return RPCError(.internal, description)
            }
        }
    }
}
