// RPC status, modeled on grpc-swift-2's RPCError: a code that can grow plus a message.

/// gRPC's status code set. A struct wrapping the raw value so new codes never break a switch.
public struct StatusCode: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let ok = StatusCode(rawValue: 0)
    public static let cancelled = StatusCode(rawValue: 1)
    public static let unknown = StatusCode(rawValue: 2)
    public static let invalidArgument = StatusCode(rawValue: 3)
    public static let deadlineExceeded = StatusCode(rawValue: 4)
    public static let notFound = StatusCode(rawValue: 5)
    public static let alreadyExists = StatusCode(rawValue: 6)
    public static let permissionDenied = StatusCode(rawValue: 7)
    public static let resourceExhausted = StatusCode(rawValue: 8)
    public static let failedPrecondition = StatusCode(rawValue: 9)
    public static let aborted = StatusCode(rawValue: 10)
    public static let outOfRange = StatusCode(rawValue: 11)
    public static let unimplemented = StatusCode(rawValue: 12)
    public static let `internal` = StatusCode(rawValue: 13)
    public static let unavailable = StatusCode(rawValue: 14)
    public static let dataLoss = StatusCode(rawValue: 15)
    public static let unauthenticated = StatusCode(rawValue: 16)

    static let names = ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
                        "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
                        "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
                        "UNAUTHENTICATED"]

    public var name: String {
        rawValue >= 0 && rawValue < Self.names.count ? Self.names[rawValue] : "CODE_\(rawValue)"
    }
    public var description: String { name }

    /// Whether a client may retry a call that failed with this code without risk (PROTOCOL.md, "Retries").
    /// Ingest is idempotent by identity, so retrying it after UNAVAILABLE or DEADLINE_EXCEEDED is safe.
    public var isRetryable: Bool {
        self == .unavailable || self == .resourceExhausted || self == .deadlineExceeded || self == .aborted
    }
}

/// An RPC failure: code, a message naming the problem, and an optional server-supplied retry delay.
public struct RPCError: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: StatusCode
    public var message: String
    /// When set, the client should wait at least this long before retrying.
    public var retryAfterMs: UInt32?

    public init(_ code: StatusCode, _ message: String, retryAfterMs: UInt32? = nil) {
        self.code = code
        self.message = message
        self.retryAfterMs = retryAfterMs
    }

    public var description: String { "\(code.name): \(message)" }

    public static func invalidArgument(_ m: String) -> RPCError { RPCError(.invalidArgument, m) }
}

/// Errors that know how to present themselves as an RPC status (like grpc-swift-2's RPCErrorConvertible).
public protocol RPCErrorConvertible: Error {
    var rpcError: RPCError { get }
}

extension RPCError: RPCErrorConvertible {
    public var rpcError: RPCError { self }
}
