// rpc.proto: connection preface, call status, goaway, health and stats.
import TaktDomain
import TaktProtoC

/// `RpcStatus`, the payload of a STATUS frame: OK or an `RPCError`.
/// Status codes are an open set (`StatusCode` wraps the raw value), so any code decodes.
public struct RPCStatus: Sendable, Hashable, CustomStringConvertible {
    public var code: StatusCode
    /// Empty for OK.
    public var message: String
    /// 0: no retry hint.
    public var retryAfterMs: UInt32

    public static let ok = RPCStatus(code: .ok)

    public init(code: StatusCode, message: String = "", retryAfterMs: UInt32 = 0) {
        self.code = code
        self.message = message
        self.retryAfterMs = retryAfterMs
    }

    public init(_ error: RPCError) {
        self.init(code: error.code, message: error.message, retryAfterMs: error.retryAfterMs ?? 0)
    }

    public var isOK: Bool { code == .ok }

    /// nil for OK; the failure otherwise.
    public var error: RPCError? {
        isOK ? nil : RPCError(code, message, retryAfterMs: retryAfterMs == 0 ? nil : retryAfterMs)
    }

    public var description: String { message.isEmpty ? code.name : "\(code.name): \(message)" }
}

extension RPCStatus: ProtoMessage, ProtoDecoderBacked {
    public static var protoMessageName: String { "takt.v1.RpcStatus" }

    public func appendProtobuf(to buffer: inout [UInt8]) {
        var arena = PackArena(expectedBytes: message.utf8.count + 1)
        var m = Takt__V1__RpcStatus()
        takt__v1__rpc_status__init(&m)
        m.code = cEnum(code.rawValue)
        arena.set(&m.message, message)
        m.retry_after_ms = retryAfterMs
        appendPacked(&m, to: &buffer, size: takt__v1__rpc_status__get_packed_size, pack: takt__v1__rpc_status__pack)
    }

    public init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try Self.protoDecoder.decode(bytes)
    }

    static let protoDecoder = ProtoDecoder<Takt__V1__RpcStatus, RPCStatus>(
        protoMessageName, unpack: { takt__v1__rpc_status__unpack($0, $1, $2) },
        free: { takt__v1__rpc_status__free_unpacked($0, $1) },
        map: { (m: borrowing Takt__V1__RpcStatus) throws(DecodeError) in
            RPCStatus(code: StatusCode(rawValue: enumValue(m.code)), message: try string(m.message, "message"),
                      retryAfterMs: m.retry_after_ms)
        })
}

extension ClientHello: ProtoMessage, ProtoDecoderBacked {
    public static var protoMessageName: String { "takt.v1.ClientHello" }

    public func appendProtobuf(to buffer: inout [UInt8]) {
        var arena = PackArena(expectedBytes: clientName.utf8.count + authToken.utf8.count + 2)
        var m = Takt__V1__ClientHello()
        takt__v1__client_hello__init(&m)
        m.protocol_version = protocolVersion
        arena.set(&m.client_name, clientName)
        arena.set(&m.auth_token, authToken)
        m.max_frame_size = maxFrameSize
        appendPacked(&m, to: &buffer, size: takt__v1__client_hello__get_packed_size, pack: takt__v1__client_hello__pack)
    }

    public init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try Self.protoDecoder.decode(bytes)
    }

    static let protoDecoder = ProtoDecoder<Takt__V1__ClientHello, ClientHello>(
        protoMessageName, unpack: { takt__v1__client_hello__unpack($0, $1, $2) },
        free: { takt__v1__client_hello__free_unpacked($0, $1) },
        map: { (m: borrowing Takt__V1__ClientHello) throws(DecodeError) in
            ClientHello(protocolVersion: m.protocol_version, clientName: try string(m.client_name, "client_name"),
                        authToken: try string(m.auth_token, "auth_token"), maxFrameSize: m.max_frame_size)
        })
}

extension ServerHello: ProtoMessage, ProtoDecoderBacked {
    public static var protoMessageName: String { "takt.v1.ServerHello" }

    public func appendProtobuf(to buffer: inout [UInt8]) {
        var arena = PackArena(expectedBytes: serverName.utf8.count + compression.count * 24 + 16)
        var m = Takt__V1__ServerHello()
        takt__v1__server_hello__init(&m)
        m.protocol_version = protocolVersion
        arena.set(&m.server_name, serverName)
        m.max_frame_size = maxFrameSize
        m.max_in_flight_calls = maxInFlightCalls
        m.keepalive_interval_ms = keepaliveIntervalMs
        m.idle_timeout_ms = idleTimeoutMs
        m.n_compression = compression.count
        m.compression = arena.strings(compression)
        m.max_batch_events = maxBatchEvents
        appendPacked(&m, to: &buffer, size: takt__v1__server_hello__get_packed_size, pack: takt__v1__server_hello__pack)
    }

    public init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try Self.protoDecoder.decode(bytes)
    }

    /// Fields are taken as sent: a 0 stays 0 (the domain defaults apply only to values built in Swift).
    static let protoDecoder = ProtoDecoder<Takt__V1__ServerHello, ServerHello>(
        protoMessageName, unpack: { takt__v1__server_hello__unpack($0, $1, $2) },
        free: { takt__v1__server_hello__free_unpacked($0, $1) },
        map: { (m: borrowing Takt__V1__ServerHello) throws(DecodeError) in
            ServerHello(protocolVersion: m.protocol_version, serverName: try string(m.server_name, "server_name"),
                        maxFrameSize: m.max_frame_size, maxInFlightCalls: m.max_in_flight_calls,
                        keepaliveIntervalMs: m.keepalive_interval_ms, idleTimeoutMs: m.idle_timeout_ms,
                        compression: try strings(m.compression, m.n_compression, "compression"),
                        maxBatchEvents: m.max_batch_events)
        })
}

extension Goaway: ProtoMessage, ProtoDecoderBacked {
    public static var protoMessageName: String { "takt.v1.Goaway" }

    public func appendProtobuf(to buffer: inout [UInt8]) {
        var arena = PackArena(expectedBytes: reason.utf8.count + 1)
        var m = Takt__V1__Goaway()
        takt__v1__goaway__init(&m)
        m.last_call_id = lastCallID
        m.code = cEnum(code.rawValue)
        arena.set(&m.reason, reason)
        appendPacked(&m, to: &buffer, size: takt__v1__goaway__get_packed_size, pack: takt__v1__goaway__pack)
    }

    public init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try Self.protoDecoder.decode(bytes)
    }

    static let protoDecoder = ProtoDecoder<Takt__V1__Goaway, Goaway>(
        protoMessageName, unpack: { takt__v1__goaway__unpack($0, $1, $2) },
        free: { takt__v1__goaway__free_unpacked($0, $1) },
        map: { (m: borrowing Takt__V1__Goaway) throws(DecodeError) in
            Goaway(lastCallID: m.last_call_id, code: StatusCode(rawValue: enumValue(m.code)),
                   reason: try string(m.reason, "reason"))
        })
}

/// `HealthCheckRequest`: "" for the whole server, or a service name such as `takt.v1.Ingest`.
public struct HealthCheckRequest: Sendable, Hashable {
    public var service: String
    public init(service: String = "") {
        self.service = service
    }
}

extension HealthCheckRequest: ProtoMessage, ProtoDecoderBacked {
    public static var protoMessageName: String { "takt.v1.HealthCheckRequest" }

    public func appendProtobuf(to buffer: inout [UInt8]) {
        var arena = PackArena(expectedBytes: service.utf8.count + 1)
        var m = Takt__V1__HealthCheckRequest()
        takt__v1__health_check_request__init(&m)
        arena.set(&m.service, service)
        appendPacked(&m, to: &buffer, size: takt__v1__health_check_request__get_packed_size,
                     pack: takt__v1__health_check_request__pack)
    }

    public init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try Self.protoDecoder.decode(bytes)
    }

    static let protoDecoder = ProtoDecoder<Takt__V1__HealthCheckRequest, HealthCheckRequest>(
        protoMessageName, unpack: { takt__v1__health_check_request__unpack($0, $1, $2) },
        free: { takt__v1__health_check_request__free_unpacked($0, $1) },
        map: { (m: borrowing Takt__V1__HealthCheckRequest) throws(DecodeError) in
            HealthCheckRequest(service: try string(m.service, "service"))
        })
}

/// `HealthCheckResponse`.
extension ServingStatus: ProtoMessage, ProtoDecoderBacked {
    public static var protoMessageName: String { "takt.v1.HealthCheckResponse" }

    public func appendProtobuf(to buffer: inout [UInt8]) {
        var m = Takt__V1__HealthCheckResponse()
        takt__v1__health_check_response__init(&m)
        m.status = cEnum(rawValue)
        appendPacked(&m, to: &buffer, size: takt__v1__health_check_response__get_packed_size,
                     pack: takt__v1__health_check_response__pack)
    }

    public init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try Self.protoDecoder.decode(bytes)
    }

    static let protoDecoder = ProtoDecoder<Takt__V1__HealthCheckResponse, ServingStatus>(
        protoMessageName, unpack: { takt__v1__health_check_response__unpack($0, $1, $2) },
        free: { takt__v1__health_check_response__free_unpacked($0, $1) },
        map: { (m: borrowing Takt__V1__HealthCheckResponse) throws(DecodeError) in
            let value = enumValue(m.status)
            guard let s = ServingStatus(rawValue: value) else { throw DecodeError(field: "status", "unknown ServingStatus \(value)") }
            return s
        })
}

/// `StatsRequest`: no fields.
public struct StatsRequest: Sendable, Hashable {
    public init() {}
}

extension StatsRequest: ProtoMessage, ProtoDecoderBacked {
    public static var protoMessageName: String { "takt.v1.StatsRequest" }

    public func appendProtobuf(to buffer: inout [UInt8]) {}

    public init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try Self.protoDecoder.decode(bytes)
    }

    /// Still unpacked, so that garbage is refused like for every other message.
    static let protoDecoder = ProtoDecoder<Takt__V1__StatsRequest, StatsRequest>(
        protoMessageName, unpack: { takt__v1__stats_request__unpack($0, $1, $2) },
        free: { takt__v1__stats_request__free_unpacked($0, $1) },
        map: { (_: borrowing Takt__V1__StatsRequest) in StatsRequest() })
}

/// `StatsResponse`. The per-status and per-result maps are sent sorted by code (deterministic bytes);
/// a code repeated on the wire has its counts added. A method's `name` is derived from its id, not read.
extension ServerStats: ProtoMessage, ProtoDecoderBacked {
    public static var protoMessageName: String { "takt.v1.StatsResponse" }

    public func appendProtobuf(to buffer: inout [UInt8]) {
        let statusRows = methods.reduce(0) { $0 + $1.statuses.count }
        var arena = PackArena(expectedBytes: methods.count * (MemoryLayout<Takt__V1__MethodStats>.stride + 40)
                                  + (statusRows + results.count) * (MemoryLayout<Takt__V1__StatusCount>.stride + 8)
                                  + version.utf8.count + durability.utf8.count + auth.utf8.count + 64)
        var m = Takt__V1__StatsResponse()
        takt__v1__stats_response__init(&m)
        m.uptime_ms = uptimeMs
        m.connections_open = connectionsOpen
        m.connections_total = connectionsTotal
        m.n_methods = methods.count
        m.methods = arena.messages(methods) { arena, p, method in
            takt__v1__method_stats__init(p)
            p.pointee.method = cEnum(Int(method.method.rawValue))
            arena.set(&p.pointee.name, method.method.name)
            p.pointee.calls = method.calls
            let statuses = method.statuses.sorted { $0.key.rawValue < $1.key.rawValue }
            p.pointee.n_statuses = statuses.count
            p.pointee.statuses = arena.messages(statuses) { _, s, entry in
                takt__v1__status_count__init(s)
                s.pointee.code = cEnum(entry.key.rawValue)
                s.pointee.count = entry.value
            }
        }
        let results = results.sorted { $0.key.rawValue < $1.key.rawValue }
        m.n_results = results.count
        m.results = arena.messages(results) { _, p, entry in
            takt__v1__result_count__init(p)
            p.pointee.code = cEnum(entry.key.rawValue)
            p.pointee.count = entry.value
        }
        m.events_stored = eventsStored
        m.store_bytes = storeBytes
        m.wal_bytes = walBytes
        m.commits = commits
        m.subscribers = subscribers
        arena.set(&m.version, version)
        arena.set(&m.durability, durability)
        m.strict = strict ? 1 : 0
        m.auth_failures = authFailures
        m.in_flight_bytes = inFlightBytes
        arena.set(&m.auth, auth)
        appendPacked(&m, to: &buffer, size: takt__v1__stats_response__get_packed_size, pack: takt__v1__stats_response__pack)
    }

    public init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try Self.protoDecoder.decode(bytes)
    }

    static let protoDecoder = ProtoDecoder<Takt__V1__StatsResponse, ServerStats>(
        protoMessageName, unpack: { takt__v1__stats_response__unpack($0, $1, $2) },
        free: { takt__v1__stats_response__free_unpacked($0, $1) },
        map: { (m: borrowing Takt__V1__StatsResponse) throws(DecodeError) in
            let methods = try messages(m.methods, m.n_methods, "methods") {
                (s: borrowing Takt__V1__MethodStats, path) throws(DecodeError) in
                let id = enumValue(s.method)
                guard let method = UInt16(exactly: id).flatMap(MethodID.init(rawValue:)) else {
                    throw DecodeError(field: "\(path()).method", "unknown MethodId \(id)")
                }
                var statuses: [StatusCode: UInt64] = [:]
                if s.n_statuses > 0, let rows = s.statuses {
                    for i in 0..<s.n_statuses {
                        guard let row = rows[i] else { throw DecodeError(field: "\(path()).statuses[\(i)]", "missing") }
                        statuses[StatusCode(rawValue: enumValue(row.pointee.code)), default: 0] &+= row.pointee.count
                    }
                }
                return MethodStats(method: method, calls: s.calls, statuses: statuses)
            }
            var results: [ResultCode: UInt64] = [:]
            if m.n_results > 0, let rows = m.results {
                for i in 0..<m.n_results {
                    guard let row = rows[i] else { throw DecodeError(field: "results[\(i)]", "missing") }
                    let code = try ResultCode(wire: enumValue(row.pointee.code), "results[\(i)].code")
                    results[code, default: 0] &+= row.pointee.count
                }
            }
            var stats = ServerStats(
                uptimeMs: m.uptime_ms, connectionsOpen: m.connections_open, connectionsTotal: m.connections_total,
                methods: methods, results: results, eventsStored: m.events_stored, storeBytes: m.store_bytes,
                walBytes: m.wal_bytes, commits: m.commits, subscribers: m.subscribers,
                version: try string(m.version, "version"), durability: try string(m.durability, "durability"),
                strict: m.strict != 0)
            stats.authFailures = m.auth_failures
            stats.inFlightBytes = m.in_flight_bytes
            stats.auth = try string(m.auth, "auth")
            return stats
        })
}
