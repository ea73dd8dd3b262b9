// The protobuf face of the domain types: every RPC payload of proto/takt/v1 encodes from and decodes
// to a TaktDomain value (or a small named wrapper here). Nothing outside TaktProto sees protobuf-c.
//
// method                  request                     response
// Health.Check            HealthCheckRequest          ServingStatus
// Health.Stats            StatsRequest                ServerStats
// Ingest.SubmitEvent      Event / IncomingEvent*      EventResult
// Ingest.SubmitBatch      EventBatch / IncomingBatch* BatchAck
// Query.QueryMetrics      MetricsQuery                MetricsResponse
// Query.ListEvents        ListEventsRequest           EventPage
// Query.Subscribe         SubscribeRequest            SubscriptionUpdate (stream)
// Registry.UpsertWorkers  WorkerList                  UpsertResult
// Registry.ListWorkers    RegistryListRequest         WorkerList
// Registry.UpsertWorkstations / ListWorkstations: as workers, with WorkstationList
// Registry.ListSites      RegistryListRequest         SiteList
// connection frames       ClientHello, ServerHello, Goaway, RPCStatus (STATUS)
// * what the server decodes: bad events become per-event INVALID results instead of failing the call.
import TaktDomain

/// A value that can be written as the protobuf payload of one RPC message.
public protocol ProtoEncodable: Sendable {
    /// The fully qualified protobuf message this value is sent as, e.g. `takt.v1.Batch`.
    static var protoMessageName: String { get }
    /// Appends the packed protobuf encoding to `buffer` (which may already hold a frame header).
    func appendProtobuf(to buffer: inout [UInt8])
}

/// A value that can be read from the protobuf payload of one RPC message.
///
/// Decoding never trusts the input: it unpacks through a budgeted allocator (`DecodeBudget`), checks
/// every enum value and every string's UTF-8, and reports any problem as a `DecodeError` naming the field.
public protocol ProtoDecodable: Sendable {
    static var protoMessageName: String { get }
    init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError)
}

/// Both directions: what most payload types are.
public typealias ProtoMessage = ProtoEncodable & ProtoDecodable

extension ProtoEncodable {
    /// The packed protobuf encoding alone.
    public func protobufBytes() -> [UInt8] {
        var out: [UInt8] = []
        appendProtobuf(to: &out)
        return out
    }
}

extension ProtoDecodable {
    public init(protobuf bytes: [UInt8]) throws(DecodeError) {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(DecodeError) -> Self in try Self(protobuf: raw) }
        }
        self = try result.get()
    }
}

/// A payload that is not a valid encoding of the expected message, or that maps to no domain value.
/// The server answers it with `INVALID_ARGUMENT`.
public struct DecodeError: Error, Sendable, Hashable, CustomStringConvertible, RPCErrorConvertible {
    /// The protobuf message being decoded, e.g. `takt.v1.MetricsQuery`.
    public var messageName: String
    /// Path of the offending field inside that message (`events[3].worker_id`); nil when the payload as a
    /// whole could not be unpacked.
    public var field: String?
    public var reason: String

    public init(messageName: String, field: String?, reason: String) {
        self.messageName = messageName
        self.field = field
        self.reason = reason
    }

    /// A field-level error; the decoder fills in the message name.
    init(field: String, _ reason: String) {
        self.init(messageName: "", field: field, reason: reason)
    }

    /// `takt.v1.MetricsQuery.scope: unknown MetricsScope 7`, or the payload-level reason.
    public var message: String {
        if let field { return "\(messageName).\(field): \(reason)" }
        return reason
    }

    public var description: String { message }
    public var rpcError: RPCError { .invalidArgument(message) }
}

/// The memory one decode may use: `40 × payload bytes + 64 KiB`, enforced by protobuf-c's allocator hook.
///
/// Why 40: besides the unpacked structs themselves (an `Event` is ~112 bytes for as little as 2 wire bytes),
/// protobuf-c keeps a 32-byte scan record for every field it meets while a message is being parsed, and
/// our allocator adds a 16-byte header to every block. The densest legitimate payloads (registry lists of
/// records holding nothing but a one-character id: 5 wire bytes each) measure about 32 × their size in
/// `TaktProtoTests`; floods of empty sub-messages need 60–90 × and are refused. The 64 KiB floor keeps
/// small messages (hellos, short queries, stats) clear of the limit. A 4 MiB frame can thus cost at most
/// 160 MiB, and only while it is being decoded.
public enum DecodeBudget {
    public static let bytesPerPayloadByte = 40
    public static let floorBytes = 64 << 10

    public static func limit(forPayloadBytes n: Int) -> Int {
        let (scaled, overflow) = n.multipliedReportingOverflow(by: bytesPerPayloadByte)
        return overflow ? Int.max : scaled.addingReportingOverflow(floorBytes).overflow ? Int.max : scaled + floorBytes
    }
}
