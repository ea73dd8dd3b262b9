// libFuzzer target `frames`: the bytes a peer sends on a connection, through the preface check and
// `FrameDecoder` exactly as `FramedChannel.deliverFrames` uses them (docs/PROTOCOL.md sections 1, 2, 7).
//
// Besides "never crashes", it checks what the decoder promises:
// - every frame it returns re-encodes to exactly the bytes it consumed, and is within the limit;
// - bytes arriving in any pieces give the same frames and the same error as arriving at once;
// - a smaller limit only cuts the sequence short (frames before the oversized one are identical).
// Built by scripts/fuzz.sh with -sanitize=fuzzer,address.
import TaktWire

/// The frame limit of the protocol (`--max-frame-bytes` default), and a small one for the prefix property.
let frameLimit = 4 << 20
let smallLimit = 64

enum Outcome: Equatable {
    /// The preface was refused (the connection gets GOAWAY and closes).
    case badPreface(String)
    /// Frames decoded, then either a protocol error or the end of the input with `buffered` bytes left.
    case frames([Frame], error: FrameError?, buffered: Int)
}

/// Feeds `input` in pieces whose sizes come from `pieceSize`, as the read source would.
func decode(_ input: [UInt8], limit: Int, pieceSize: (Int) -> Int) -> Outcome {
    var decoder = FrameDecoder(maxPayloadSize: limit)
    var expectPreface = true
    var frames: [Frame] = []
    var consumed = 0
    var offset = 0
    var piece = 0
    while offset < input.count {
        let n = min(max(pieceSize(piece), 1), input.count - offset)
        piece += 1
        input[offset..<offset + n].withUnsafeBytes { decoder.append($0) }
        offset += n
        if expectPreface {
            switch Preface.check(decoder.peekRaw(Preface.size)) {
            case .needMoreBytes:
                precondition(offset < Preface.size, "preface check wants more than \(Preface.size) bytes")
                continue
            case .invalid(let why):
                return .badPreface(why)
            case .valid(let version):
                precondition(version == Preface.version)
                let raw = decoder.takeRaw(Preface.size)
                precondition(raw == Array(input[0..<Preface.size]), "takeRaw returned other bytes than the preface")
                consumed = Preface.size
                expectPreface = false
            }
        }
        while true {
            let frame: Frame?
            do {
                frame = try decoder.next()
            } catch {
                // How much was buffered at that point depends on the pieces; the connection closes anyway.
                return .frames(frames, error: error, buffered: 0)
            }
            guard let frame else { break }
            precondition(frame.payload.count <= limit, "frame of \(frame.payload.count) bytes passed a \(limit)-byte limit")
            precondition(frame.flags == 0, "frame with flags \(frame.flags) accepted")
            let encoded = frame.encoded()
            precondition(consumed + encoded.count <= offset, "frame longer than the bytes received")
            precondition(encoded[...] == input[consumed..<consumed + encoded.count],
                         "frame does not re-encode to the bytes it was decoded from")
            consumed += encoded.count
            frames.append(frame)
        }
        precondition(consumed + decoder.bufferedByteCount == offset, "bytes lost or invented by the decoder")
        let buffered = decoder.bufferedByteCount
        if buffered >= Frame.headerSize {
            precondition(buffered < Frame.headerSize + Int(headerLength(input, consumed)), "a complete frame was left in the buffer")
        }
    }
    return .frames(frames, error: nil, buffered: decoder.bufferedByteCount)
}

/// The length field of the header starting at `at` (0 when fewer than 4 bytes remain).
func headerLength(_ b: [UInt8], _ at: Int) -> UInt32 {
    guard at + 4 <= b.count else { return 0 }
    return UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
}

/// Piece sizes from a small deterministic generator seeded by the input, mostly small, sometimes large.
struct Pieces {
    var state: UInt64
    init(_ input: [UInt8]) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in input.prefix(64) { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        state = h ^ UInt64(input.count)
    }
    mutating func next() -> Int {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let r = Int(truncatingIfNeeded: state >> 33)
        return r % 8 == 0 ? 1 + r % 70_000 : 1 + r % 23
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrames(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let whole = decode(input, limit: frameLimit) { _ in Int.max }
    var pieces = Pieces(input)
    let chunked = decode(input, limit: frameLimit) { _ in pieces.next() }
    precondition(whole == chunked, "decoding depends on how the bytes were split:\n\(whole)\n\(chunked)")
    if input.count <= 4096 {  // one byte per read: the slowest peer (bounded: it is quadratic-ish in debug)
        let bytewise = decode(input, limit: frameLimit) { _ in 1 }
        precondition(whole == bytewise, "decoding one byte at a time differs:\n\(whole)\n\(bytewise)")
    }

    let small = decode(input, limit: smallLimit) { _ in Int.max }
    switch (whole, small) {
    case (.badPreface(let a), .badPreface(let b)):
        precondition(a == b)
    case (.frames(let big, let bigError, _), .frames(let little, let littleError, _)):
        precondition(little.count <= big.count && Array(big.prefix(little.count)) == little,
                     "a smaller limit changed the frames before it")
        if little.count < big.count || (littleError != bigError) {
            precondition(littleError?.kind == .frameTooLarge, "a smaller limit failed with \(String(describing: littleError))")
        }
    default:
        preconditionFailure("the frame limit changed the preface check")
    }
    return 0
}
