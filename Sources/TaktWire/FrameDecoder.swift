// Incremental frame decoding: bytes arrive in arbitrary pieces; frames come out whole.

/// Accumulates bytes and yields complete frames. A length is checked against `maxPayloadSize`
/// before anything is allocated for the payload, so a hostile length costs nothing.
public struct FrameDecoder: Sendable {
    public let maxPayloadSize: Int
    private var buffer: [UInt8] = []
    private var readIndex = 0

    public init(maxPayloadSize: Int = 4 << 20) {
        self.maxPayloadSize = maxPayloadSize
    }

    /// Bytes received but not yet returned as frames.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        compactIfNeeded()
        buffer.append(contentsOf: bytes)
    }

    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// Takes `count` raw bytes from the front (used for the preface), or nil if not yet buffered.
    public mutating func takeRaw(_ count: Int) -> [UInt8]? {
        guard bufferedByteCount >= count else { return nil }
        let out = Array(buffer[readIndex..<readIndex + count])
        readIndex += count
        return out
    }

    /// Peeks at up to `count` raw bytes without consuming them.
    public func peekRaw(_ count: Int) -> ArraySlice<UInt8> {
        buffer[readIndex..<min(buffer.count, readIndex + count)]
    }

    /// The next complete frame, nil when more bytes are needed. Throws on a protocol violation;
    /// after a throw the decoder must not be used again (the connection is closed).
    public mutating func next() throws(FrameError) -> Frame? {
        let available = buffer.count - readIndex
        guard available >= Frame.headerSize else { return nil }
        return try buffer.withUnsafeBufferPointer { (p) throws(FrameError) -> Frame? in
            let h = readIndex
            let length = Int(UInt32(p[h]) << 24 | UInt32(p[h + 1]) << 16 | UInt32(p[h + 2]) << 8 | UInt32(p[h + 3]))
            guard let type = FrameType(rawValue: p[h + 4]) else {
                throw FrameError(.unknownFrameType, "unknown frame type \(p[h + 4])")
            }
            if length > maxPayloadSize {
                throw FrameError(.frameTooLarge, "frame payload of \(length) bytes exceeds the limit of \(maxPayloadSize) bytes")
            }
            let flags = p[h + 5]
            if flags != 0 { throw FrameError(.badFlags, "frame flags must be 0 in protocol v1, got \(flags)") }
            guard available >= Frame.headerSize + length else { return nil }
            let method = UInt16(p[h + 6]) << 8 | UInt16(p[h + 7])
            let callID = UInt32(p[h + 8]) << 24 | UInt32(p[h + 9]) << 16 | UInt32(p[h + 10]) << 8 | UInt32(p[h + 11])
            let param = UInt32(p[h + 12]) << 24 | UInt32(p[h + 13]) << 16 | UInt32(p[h + 14]) << 8 | UInt32(p[h + 15])
            let start = h + Frame.headerSize
            let payload = length == 0 ? [] : Array(p[start..<start + length])
            readIndex = start + length
            return Frame(type: type, flags: flags, methodID: method, callID: callID, param: param, payload: payload)
        }
    }

    private mutating func compactIfNeeded() {
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
            readIndex = 0
        } else if readIndex > 64 * 1024 && readIndex * 2 > buffer.count {
            buffer.removeSubrange(0..<readIndex)
            readIndex = 0
        }
    }
}
