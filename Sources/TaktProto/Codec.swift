// The two places that call protobuf-c: packing a C message built in a `PackArena`, and unpacking
// through a `TaktBudgetAllocator` into a domain value.
import CProtobufC
import TaktDomain
import TaktProtoC

// MARK: - Encoding

/// Bump allocator for the C structs, pointer arrays and C strings of one message being packed.
/// protobuf-c's pack only reads them, so everything is freed at once when the arena goes away.
struct PackArena: ~Copyable {
    private var blocks: [UnsafeMutableRawPointer] = []
    private var next: UnsafeMutableRawPointer?
    private var remaining = 0
    private var blockSize: Int

    static let blockAlignment = 16
    static let maxBlockSize = 1 << 20

    /// `expectedBytes`: a guess at the total; a good guess means one block.
    init(expectedBytes: Int = 1024) {
        blockSize = min(max(expectedBytes, 256), Self.maxBlockSize)
    }

    deinit {
        for b in blocks { b.deallocate() }
    }

    mutating func allocateRaw(byteCount: Int, alignment: Int) -> UnsafeMutableRawPointer {
        if let p = next {
            let pad = (alignment &- (Int(bitPattern: p) & (alignment &- 1))) & (alignment &- 1)
            if pad + byteCount <= remaining {
                next = p + pad + byteCount
                remaining -= pad + byteCount
                return p + pad
            }
        }
        let size = max(byteCount, blockSize)
        blockSize = min(blockSize * 2, Self.maxBlockSize)
        let block = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: Self.blockAlignment)
        blocks.append(block)
        next = block + byteCount
        remaining = size - byteCount
        return block
    }

    /// Uninitialized room for `count` values; C structs get initialized by their `…__init`.
    mutating func allocate<T>(_: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        precondition(MemoryLayout<T>.alignment <= Self.blockAlignment)
        let raw = allocateRaw(byteCount: MemoryLayout<T>.stride * max(count, 1), alignment: MemoryLayout<T>.alignment)
        return raw.bindMemory(to: T.self, capacity: max(count, 1))
    }

    /// A NUL-terminated copy of `s`. protobuf-c measures strings with strlen, so an embedded NUL
    /// ends the string on the wire.
    mutating func cString(_ s: String) -> UnsafeMutablePointer<CChar> {
        var s = s
        return s.withUTF8 { utf8 in
            let p = allocateRaw(byteCount: utf8.count + 1, alignment: 1)
            if let base = utf8.baseAddress { p.copyMemory(from: base, byteCount: utf8.count) }
            p.storeBytes(of: 0, toByteOffset: utf8.count, as: UInt8.self)
            return p.bindMemory(to: CChar.self, capacity: utf8.count + 1)
        }
    }

    /// Sets a string field; empty strings keep the `…__init` default (protobuf-c's shared empty string).
    @inline(__always)
    mutating func set(_ field: inout UnsafeMutablePointer<CChar>?, _ s: String) {
        if !s.isEmpty { field = cString(s) }
    }

    /// A `char **` array for a repeated string field.
    mutating func strings(_ list: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? {
        guard !list.isEmpty else { return nil }
        let p = allocate(UnsafeMutablePointer<CChar>?.self, count: list.count)
        for (i, s) in list.enumerated() { p[i] = cString(s) }
        return p
    }

    /// Structs plus the pointer array protobuf-c expects for a repeated message field, each struct passed
    /// through `fill` (which must call the message's `…__init` first).
    mutating func messages<T, Element>(
        _ list: [Element], _ fill: (inout PackArena, UnsafeMutablePointer<T>, Element) -> Void
    ) -> UnsafeMutablePointer<UnsafeMutablePointer<T>?>? {
        guard !list.isEmpty else { return nil }
        let structs = allocate(T.self, count: list.count)
        let pointers = allocate(UnsafeMutablePointer<T>?.self, count: list.count)
        for (i, e) in list.enumerated() {
            fill(&self, structs + i, e)
            pointers[i] = structs + i
        }
        return pointers
    }

    /// One optional sub-message.
    mutating func message<T>(_ fill: (inout PackArena, UnsafeMutablePointer<T>) -> Void) -> UnsafeMutablePointer<T> {
        let p = allocate(T.self, count: 1)
        fill(&self, p)
        return p
    }
}

/// Packs `message` (whose pointers must stay valid for the call) onto the end of `buffer`.
@inline(__always)
func appendPacked<M>(
    _ message: inout M, to buffer: inout [UInt8],
    size: (UnsafePointer<M>?) -> Int,
    pack: (UnsafePointer<M>?, UnsafeMutablePointer<UInt8>?) -> Int
) {
    let n = size(&message)
    guard n > 0 else { return }
    var written = 0
    if buffer.isEmpty {
        buffer = [UInt8](unsafeUninitializedCapacity: n) { out, count in
            written = pack(&message, out.baseAddress)
            count = written
        }
    } else {
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: n))
        written = buffer.withUnsafeMutableBufferPointer { out in pack(&message, out.baseAddress! + start) }
    }
    precondition(written == n, "protobuf-c packed \(written) bytes, announced \(n)")
}

// MARK: - Decoding

/// What a decode left in its budgeted allocator; `liveBytes` must be 0 once the message is freed.
struct DecodeMemory: Sendable, Hashable {
    var budget: Int
    var peakBytes: Int
    var liveBytes: Int
    var exhausted: Bool
}

/// Unpacks one C message type through a fresh budgeted allocator, maps it to `Value` while the C
/// message is alive, frees it with the same allocator and releases the allocator's arena.
struct ProtoDecoder<CMessage, Value>: Sendable {
    typealias Unpack = @Sendable (UnsafeMutablePointer<ProtobufCAllocator>?, Int, UnsafePointer<UInt8>?)
        -> UnsafeMutablePointer<CMessage>?
    typealias Free = @Sendable (UnsafeMutablePointer<CMessage>?, UnsafeMutablePointer<ProtobufCAllocator>?) -> Void
    typealias Map = @Sendable (borrowing CMessage) throws(DecodeError) -> Value

    let messageName: String
    let unpack: Unpack
    let free: Free
    let map: Map

    init(_ messageName: String, unpack: @escaping Unpack, free: @escaping Free, map: @escaping Map) {
        self.messageName = messageName
        self.unpack = unpack
        self.free = free
        self.map = map
    }

    func decode(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> Value {
        try decodeReportingMemory(bytes).result.get()
    }

    func decodeReportingMemory(_ bytes: UnsafeRawBufferPointer) -> (result: Result<Value, DecodeError>, memory: DecodeMemory) {
        let budget = DecodeBudget.limit(forPayloadBytes: bytes.count)
        var allocator = TaktBudgetAllocator()
        // The allocator's `allocator_data` points at itself, so it is set up where it stays put.
        return withUnsafeMutablePointer(to: &allocator) { a in
            takt_budget_allocator_init(a, budget, bytes.count)
            let base = UnsafeMutableRawPointer(a).assumingMemoryBound(to: ProtobufCAllocator.self)
            let result = unpackAndMap(bytes, base, a)
            takt_budget_allocator_release(a)
            let memory = DecodeMemory(budget: budget, peakBytes: a.pointee.peak, liveBytes: a.pointee.used,
                                      exhausted: a.pointee.exhausted != 0)
            assert(memory.liveBytes == 0, "protobuf-c left \(memory.liveBytes) bytes allocated decoding \(messageName)")
            return (result, memory)
        }
    }

    private func unpackAndMap(
        _ bytes: UnsafeRawBufferPointer, _ base: UnsafeMutablePointer<ProtobufCAllocator>,
        _ a: UnsafeMutablePointer<TaktBudgetAllocator>
    ) -> Result<Value, DecodeError> {
        let message: UnsafeMutablePointer<CMessage>?
        if let start = bytes.baseAddress, !bytes.isEmpty {
            message = unpack(base, bytes.count, start.assumingMemoryBound(to: UInt8.self))
        } else {
            var none: UInt8 = 0
            message = unpack(base, 0, &none)
        }
        guard let message else {
            var reason = "payload is not a valid \(messageName)"
            if a.pointee.exhausted != 0 {
                reason += ": decoding needs more than its memory budget of \(a.pointee.budget) bytes"
                    + " (\(DecodeBudget.bytesPerPayloadByte) × \(bytes.count)-byte payload + \(DecodeBudget.floorBytes >> 10) KiB)"
            } else {
                reason += " (truncated or malformed protobuf)"
            }
            return .failure(DecodeError(messageName: messageName, field: nil, reason: reason))
        }
        defer { free(message, base) }
        do throws(DecodeError) {
            return .success(try map(message.pointee))
        } catch {
            var e = error
            if e.messageName.isEmpty { e.messageName = messageName }
            return .failure(e)
        }
    }
}

/// Conformers whose decoding goes through one `ProtoDecoder` (all of them); lets tests inspect memory.
protocol ProtoDecoderBacked {
    associatedtype CMessage
    static var protoDecoder: ProtoDecoder<CMessage, Self> { get }
}

// MARK: - Field helpers

/// Reads a C string field; nil when it is not valid UTF-8 (protobuf-c does not check).
/// An embedded NUL ends the string: protobuf-c hands strings over NUL-terminated.
@inline(__always)
func readString(_ p: UnsafeMutablePointer<CChar>?) -> String? {
    guard let p, p.pointee != 0 else { return "" }
    return String(validatingCString: p)
}

/// Reads a string field of a non-event message: invalid UTF-8 is a `DecodeError` naming the field.
@inline(__always)
func string(_ p: UnsafeMutablePointer<CChar>?, _ field: @autoclosure () -> String) throws(DecodeError) -> String {
    guard let s = readString(p) else { throw DecodeError(field: field(), "not valid UTF-8") }
    return s
}

func strings(_ p: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ n: Int,
             _ field: String) throws(DecodeError) -> [String] {
    guard n > 0, let p else { return [] }
    var out: [String] = []
    out.reserveCapacity(n)
    for i in 0..<n { out.append(try string(p[i], "\(field)[\(i)]")) }
    return out
}

/// Maps the elements of a repeated message field.
func messages<T, Element>(
    _ p: UnsafeMutablePointer<UnsafeMutablePointer<T>?>?, _ n: Int, _ field: String,
    _ map: (borrowing T, _ path: () -> String) throws(DecodeError) -> Element
) throws(DecodeError) -> [Element] {
    guard n > 0, let p else { return [] }
    var out: [Element] = []
    out.reserveCapacity(n)
    for i in 0..<n {
        guard let m = p[i] else { throw DecodeError(field: "\(field)[\(i)]", "missing") }
        out.append(try map(m.pointee, { "\(field)[\(i)]" }))
    }
    return out
}

/// The signed value protobuf-c stored in a C enum field (proto3 enums are open: any int32 may arrive).
@inline(__always)
func enumValue<E: RawRepresentable>(_ e: E) -> Int where E.RawValue == UInt32 {
    Int(Int32(bitPattern: e.rawValue))
}

@inline(__always)
func cEnum<E: RawRepresentable>(_ value: Int) -> E where E.RawValue == UInt32 {
    E(rawValue: UInt32(bitPattern: Int32(truncatingIfNeeded: value)))!
}

extension EventKind {
    init(wire value: Int, _ field: @autoclosure () -> String) throws(DecodeError) {
        guard let k = EventKind(rawValue: value) else {
            throw DecodeError(field: field(), value == 0 ? "required, got EVENT_KIND_UNSPECIFIED" : "unknown EventKind \(value)")
        }
        self = k
    }
}

extension ResultCode {
    init(wire value: Int, _ field: @autoclosure () -> String) throws(DecodeError) {
        guard let c = ResultCode(rawValue: value) else {
            throw DecodeError(field: field(), value == 0 ? "required, got RESULT_CODE_UNSPECIFIED" : "unknown ResultCode \(value)")
        }
        self = c
    }
}
