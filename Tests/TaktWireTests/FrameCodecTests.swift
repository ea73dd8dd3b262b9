import Testing
import TaktWire

@Suite struct FrameCodecTests {
    static let samples: [Frame] = [
        Frame(type: .hello, payload: [8, 1]),
        Frame(type: .helloAck, payload: Array(repeating: 7, count: 300)),
        Frame(type: .request, methodID: 11, callID: 42, param: 1_000, payload: [1, 2, 3]),
        Frame(type: .response, callID: 42, payload: []),
        Frame(type: .streamMessage, callID: 0xFFFF_FFFF, payload: [0xFF]),
        Frame(type: .status, callID: 9, payload: [8, 3, 18, 1, 120]),
        Frame(type: .cancel, callID: 9),
        Frame(type: .ping, param: 0xDEAD_BEEF),
        Frame(type: .pong, param: 0xDEAD_BEEF),
        Frame(type: .goaway, payload: [8, 5]),
    ]

    @Test(arguments: samples)
    func roundTrip(_ frame: Frame) throws {
        var d = FrameDecoder()
        d.append(frame.encoded())
        #expect(try d.next() == frame)
        #expect(try d.next() == nil)
        #expect(d.bufferedByteCount == 0)
    }

    @Test func headerLayoutIsBigEndian() {
        let bytes = Frame(type: .request, methodID: 0x0102, callID: 0x0304_0506, param: 0x0708_090A, payload: [0xAA]).encoded()
        #expect(bytes == [0, 0, 0, 1, 3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0xAA])
    }

    @Test func fragmentationAtEveryByteBoundary() throws {
        var stream: [UInt8] = []
        for f in Self.samples { f.encode(into: &stream) }
        for split in 0...stream.count {
            var d = FrameDecoder()
            var out: [Frame] = []
            d.append(Array(stream[..<split]))
            while let f = try d.next() { out.append(f) }
            d.append(Array(stream[split...]))
            while let f = try d.next() { out.append(f) }
            #expect(out == Self.samples, "split at \(split)")
        }
    }

    @Test func byteByByte() throws {
        var stream: [UInt8] = []
        for f in Self.samples { f.encode(into: &stream) }
        var d = FrameDecoder()
        var out: [Frame] = []
        for b in stream {
            d.append([b])
            while let f = try d.next() { out.append(f) }
        }
        #expect(out == Self.samples)
    }

    @Test func coalescedFramesInOneRead() throws {
        var stream: [UInt8] = []
        for _ in 0..<1000 { Frame(type: .ping, param: 1).encode(into: &stream) }
        var d = FrameDecoder()
        d.append(stream)
        var n = 0
        while try d.next() != nil { n += 1 }
        #expect(n == 1000)
    }

    @Test func oversizeLengthRejectedFromHeaderAlone() {
        var d = FrameDecoder(maxPayloadSize: 1024)
        // Only the header: a 4 GiB length must be refused before any payload arrives.
        d.append([0xFF, 0xFF, 0xFF, 0xFF, 3, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0])
        #expect(throws: FrameError.self) { try d.next() }
        do { _ = try d.next() } catch { #expect(error.kind == .frameTooLarge) }
    }

    @Test func limitIsInclusive() throws {
        var d = FrameDecoder(maxPayloadSize: 10)
        d.append(Frame(type: .response, callID: 1, payload: Array(repeating: 1, count: 10)).encoded())
        #expect(try d.next()?.payload.count == 10)
        d.append(Frame(type: .response, callID: 1, payload: Array(repeating: 1, count: 11)).encoded())
        #expect(throws: FrameError.self) { try d.next() }
    }

    @Test func unknownTypeAndFlagsRejected() {
        var d = FrameDecoder()
        d.append([0, 0, 0, 0, 99, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])
        do { _ = try d.next(); Issue.record("accepted unknown type") } catch { #expect(error.kind == .unknownFrameType) }
        var d2 = FrameDecoder()
        d2.append([0, 0, 0, 0, 3, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])
        do { _ = try d2.next(); Issue.record("accepted flags") } catch { #expect(error.kind == .badFlags) }
    }

    @Test func preface() {
        #expect(Preface.check(Preface.bytes()) == .valid(version: 1))
        #expect(Preface.check(Array(Preface.bytes().prefix(3))) == .needMoreBytes)
        #expect(Preface.check(Array("GET / HTTP/1.1".utf8)) == .invalid("bad connection preface: expected \"TAKT\" magic bytes"))
        if case .invalid(let why) = Preface.check(Array("TAKT".utf8) + [0, 2, 0, 0]) {
            #expect(why.contains("version 2"))
        } else { Issue.record("version 2 accepted") }
        if case .invalid = Preface.check(Array("TAKT".utf8) + [0, 1, 0, 1]) {} else { Issue.record("reserved accepted") }
    }

    @Test func randomBytesNeverCrash() {
        var rng = SplitMix(seed: 7)
        for _ in 0..<20_000 {
            var d = FrameDecoder(maxPayloadSize: 4096)
            let n = Int(rng.next() % 200)
            d.append((0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            while true {
                do { if try d.next() == nil { break } } catch { break }
            }
        }
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
