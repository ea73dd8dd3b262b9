// The frame layout of docs/PROTOCOL.md, section "Frames". Pure byte codec: no sockets, no Glibc.

/// Frame types (header byte 4). Values are part of the protocol and never change.
public enum FrameType: UInt8, Sendable, Hashable, CaseIterable {
    /// Client → server, first frame: `ClientHello`.
    case hello = 1
    /// Server → client answer to HELLO: `ServerHello`.
    case helloAck = 2
    /// Client → server: start of a call (method id, call id, timeout in `param`), payload = request message.
    case request = 3
    /// Server → client: the single response of a unary call (implies status OK; ends the call).
    case response = 4
    /// Server → client: one message of a server stream (call continues).
    case streamMessage = 5
    /// Server → client: end of a call with its final status (`RpcStatus`).
    case status = 6
    /// Client → server: cancel the call `callID` (no payload).
    case cancel = 7
    /// Either way: liveness probe; `param` is echoed in the PONG.
    case ping = 8
    case pong = 9
    /// Server → client (or client → server): the sender will close; payload `Goaway`.
    case goaway = 10
}

/// One frame. The 16-byte header is: length u32, type u8, flags u8, method u16, call id u32, param u32 (big-endian).
public struct Frame: Sendable, Hashable {
    public static let headerSize = 16

    public var type: FrameType
    /// Reserved in v1: must be 0.
    public var flags: UInt8
    /// Stable method id (REQUEST only; 0 otherwise).
    public var methodID: UInt16
    /// Client-chosen call id (0 for connection-level frames).
    public var callID: UInt32
    /// REQUEST: timeout in ms (0 = none). PING/PONG: opaque value echoed back. Otherwise 0.
    public var param: UInt32
    public var payload: [UInt8]

    public init(type: FrameType, flags: UInt8 = 0, methodID: UInt16 = 0, callID: UInt32 = 0, param: UInt32 = 0,
                payload: [UInt8] = []) {
        self.type = type
        self.flags = flags
        self.methodID = methodID
        self.callID = callID
        self.param = param
        self.payload = payload
    }

    /// Appends the encoded frame to `buffer`.
    public func encode(into buffer: inout [UInt8]) {
        buffer.reserveCapacity(buffer.count + Frame.headerSize + payload.count)
        Frame.appendHeader(into: &buffer, length: UInt32(payload.count), type: type, flags: flags,
                           methodID: methodID, callID: callID, param: param)
        buffer.append(contentsOf: payload)
    }

    public func encoded() -> [UInt8] {
        var b: [UInt8] = []
        encode(into: &b)
        return b
    }

    @inlinable
    static func appendHeader(into b: inout [UInt8], length: UInt32, type: FrameType, flags: UInt8, methodID: UInt16,
                             callID: UInt32, param: UInt32) {
        appendU32(&b, length)
        b.append(type.rawValue)
        b.append(flags)
        b.append(UInt8(truncatingIfNeeded: methodID >> 8))
        b.append(UInt8(truncatingIfNeeded: methodID))
        appendU32(&b, callID)
        appendU32(&b, param)
    }

    @inlinable
    static func appendU32(_ b: inout [UInt8], _ v: UInt32) {
        b.append(UInt8(truncatingIfNeeded: v >> 24))
        b.append(UInt8(truncatingIfNeeded: v >> 16))
        b.append(UInt8(truncatingIfNeeded: v >> 8))
        b.append(UInt8(truncatingIfNeeded: v))
    }
}

/// The 8-byte connection preface each side sends first: "TAKT", version u16, reserved u16 (0).
public enum Preface {
    public static let size = 8
    public static let version: UInt16 = 1
    public static let magic: [UInt8] = Array("TAKT".utf8)

    public static func bytes(version: UInt16 = Preface.version) -> [UInt8] {
        magic + [UInt8(version >> 8), UInt8(version & 0xff), 0, 0]
    }

    public enum Check: Sendable, Hashable {
        case needMoreBytes
        case valid(version: UInt16)
        case invalid(String)
    }

    /// Validates the first bytes of a connection without consuming them.
    public static func check(_ bytes: some Collection<UInt8>) -> Check {
        let prefix = Array(bytes.prefix(size))
        for (i, b) in prefix.enumerated() where i < 4 && b != magic[i] {
            return .invalid("bad connection preface: expected \"TAKT\" magic bytes")
        }
        if prefix.count < size { return .needMoreBytes }
        let version = UInt16(prefix[4]) << 8 | UInt16(prefix[5])
        if version != Preface.version {
            return .invalid("unsupported protocol version \(version); this peer speaks version \(Preface.version)")
        }
        if prefix[6] != 0 || prefix[7] != 0 { return .invalid("bad connection preface: reserved bytes must be 0") }
        return .valid(version: version)
    }
}

/// A protocol violation found while decoding frames. Fatal for the connection.
public struct FrameError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        case frameTooLarge
        case unknownFrameType
        case badFlags
        case badPreface
    }
    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    public var description: String { message }
}
