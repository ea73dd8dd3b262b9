// Hostile and broken payloads: every outcome is a value or a DecodeError, never a crash, and the budget
// allocator always ends with nothing allocated.
import Testing
import TaktDomain
@testable import TaktProto

/// Decodes `bytes` as `T`, checking memory; returns whether it decoded.
@discardableResult
func survives<T: ProtoDecoderBacked>(_ type: T.Type, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
    let outcome = decodeCheckingMemory(T.self, bytes, sourceLocation: sourceLocation)
    if case .failure(let e) = outcome.result {
        #expect(e.messageName == T.protoDecoder.messageName, sourceLocation: sourceLocation)
        #expect(!e.message.isEmpty, sourceLocation: sourceLocation)
        return false
    }
    return true
}

@Suite struct HostileInputTests {
    static let validBatch = Samples.batch(40).protobufBytes()

    @Test func everyTruncationOfABatch() {
        let bytes = Self.validBatch
        var decoded = 0
        for n in 0..<bytes.count {
            let prefix = Array(bytes.prefix(n))
            if survives(IncomingBatch.self, prefix) { decoded += 1 }
            survives(EventBatch.self, prefix)
        }
        // Cuts at a field boundary are valid shorter batches; most cuts are not.
        #expect(decoded > 0 && decoded < bytes.count / 2)
        #expect(survives(IncomingBatch.self, bytes))
    }

    @Test func everyTruncationOfOtherMessages() {
        let response = Samples.metricsResponse.protobufBytes()
        for n in 0..<response.count { survives(MetricsResponse.self, Array(response.prefix(n))) }
        let ack = BatchAck(results: (0..<100).map { $0 % 3 == 0 ? EventResult(.invalid, "bad \($0)") : .accepted }).protobufBytes()
        for n in 0..<ack.count { survives(BatchAck.self, Array(ack.prefix(n))) }
        let stats = Samples.serverStats.protobufBytes()
        for n in 0..<stats.count { survives(ServerStats.self, Array(stats.prefix(n))) }
    }

    @Test(arguments: [UInt64(1) << 31, UInt64(1) << 32, UInt64(1) << 62, UInt64.max, UInt64(Int64.max)])
    func oversizeLengthPrefixes(_ length: UInt64) {
        for field: UInt64 in [1, 2] {  // Batch.events (message) and Batch.gateway_id (string)
            var w = WireWriter()
            w.tag(field, 2)
            w.varint(length)
            w.bytes += [0x08, 0x01, 0x12, 0x01, 0x41]
            #expect(!survives(IncomingBatch.self, w.bytes))
        }
        // Nested: an event whose worker_id claims to be huge.
        var inner = WireWriter()
        inner.tag(EventField.workerID, 2)
        inner.varint(length)
        inner.bytes += [0x41, 0x42]
        #expect(!survives(IncomingBatch.self, wireBatch([inner.bytes])))
        // Packed codes whose length overruns.
        var codes = WireWriter()
        codes.tag(1, 2)
        codes.varint(length)
        codes.bytes += [1, 1, 1]
        #expect(!survives(BatchAck.self, codes.bytes))
    }

    @Test func overlongVarints() {
        // 11 continuation bytes: longer than any varint may be.
        #expect(!survives(IncomingBatch.self, [0x0A] + [UInt8](repeating: 0xFF, count: 11) + [0x01]))
        #expect(!survives(MetricsQuery.self, [0x08] + [UInt8](repeating: 0x80, count: 12)))
        #expect(!survives(ClientHello.self, [UInt8](repeating: 0xFF, count: 20)))
    }

    @Test func wrongWireTypes() {
        // (field, wire type) pairs that do not match the schema of takt.v1.Batch / Event.
        for wireType: UInt64 in [0, 1, 3, 4, 5, 6, 7] {
            var w = WireWriter()
            w.tag(1, wireType)  // events is length-delimited
            w.bytes += [0x01, 0, 0, 0, 0, 0, 0, 0, 0]
            #expect(!survives(IncomingBatch.self, w.bytes), "wire type \(wireType)")
            let event = wireEvent { $0.tag(EventField.kind, wireType == 0 ? 2 : wireType); $0.bytes += [1, 1, 0, 0, 0, 0, 0, 0, 0] }
            survives(IncomingBatch.self, wireBatch([event]))
            survives(IncomingEvent.self, event)
        }
        // A string field sent as a varint.
        var s = WireWriter()
        s.varintField(2, 5)
        #expect(!survives(IncomingBatch.self, s.bytes))
        // Field number 0 is never valid.
        #expect(!survives(RPCStatus.self, [0x00, 0x01]))
        // Unknown fields of every valid wire type are skipped.
        var unknown = WireWriter()
        unknown.varintField(99, 1)
        unknown.doubleField(100, 1)
        unknown.stringField(101, "x")
        unknown.tag(102, 5)
        unknown.bytes += [1, 2, 3, 4]
        #expect(survives(RPCStatus.self, unknown.bytes))
        #expect(survives(IncomingBatch.self, unknown.bytes + Self.validBatch))
    }

    @Test func emptyPayloadDecodesToDefaults() throws {
        #expect(try IncomingBatch(protobuf: []).events.isEmpty)
        #expect(try RPCStatus(protobuf: []) == .ok)
        #expect(try ServingStatus(protobuf: []) == .unknown)
        #expect(try MetricsResponse(protobuf: []) == MetricsResponse(window: TimeWindow(fromMs: 0, toMs: 0)))
        #expect(throws: DecodeError.self) { try MetricsQuery(protobuf: []) }  // scope is required
    }

    /// 120,000 inputs over six message types: half pure noise, half single-byte mutations of valid encodings.
    @Test func randomInputs() {
        var rng = SplitMix64(seed: 0x7A4B_7001)
        let seeds: [[UInt8]] = [
            Samples.batch(6).protobufBytes(), Samples.metricsResponse.protobufBytes(),
            BatchAck(results: [.accepted, EventResult(.invalid, "x"), EventResult(.duplicate, "d")]).protobufBytes(),
            Samples.serverStats.protobufBytes(),
            ListEventsRequest(filter: EventFilter(siteID: "s", workerIDs: ["a"], kinds: [.idle]), pageSize: 5).protobufBytes(),
            WorkerList([WorkerRecord(workerID: "W1", name: "n")]).protobufBytes(),
        ]
        var decoded = 0
        for i in 0..<120_000 {
            var bytes: [UInt8]
            if i % 2 == 0 {
                bytes = (0..<Int.random(in: 0...48, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                bytes = seeds[i % seeds.count]
                for _ in 0...Int.random(in: 0...3, using: &rng) {
                    switch Int.random(in: 0..<4, using: &rng) {
                    case 0 where !bytes.isEmpty: bytes[Int.random(in: 0..<bytes.count, using: &rng)] = .random(in: 0...255, using: &rng)
                    case 1 where !bytes.isEmpty: bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
                    case 2 where !bytes.isEmpty: bytes.remove(at: Int.random(in: 0..<bytes.count, using: &rng))
                    default: bytes.insert(.random(in: 0...255, using: &rng), at: Int.random(in: 0...bytes.count, using: &rng))
                    }
                }
            }
            let ok: Bool
            switch i % 6 {
            case 0: ok = Self.quietly(IncomingBatch.self, bytes)
            case 1: ok = Self.quietly(MetricsResponse.self, bytes)
            case 2: ok = Self.quietly(BatchAck.self, bytes)
            case 3: ok = Self.quietly(ServerStats.self, bytes)
            case 4: ok = Self.quietly(ListEventsRequest.self, bytes)
            default: ok = Self.quietly(WorkerList.self, bytes)
            }
            if ok { decoded += 1 }
        }
        // Both outcomes occur; the counts are deterministic for the seed.
        #expect(decoded > 1_000 && decoded < 110_000)
    }

    /// Like `survives` but with one `#expect` per failure only (120k expectations would be slow).
    static func quietly<T: ProtoDecoderBacked>(_ type: T.Type, _ bytes: [UInt8]) -> Bool {
        let outcome = bytes.withUnsafeBytes { T.protoDecoder.decodeReportingMemory($0) }
        if outcome.memory.liveBytes != 0 || outcome.memory.peakBytes > outcome.memory.budget {
            Issue.record("\(T.self): \(outcome.memory) for \(bytes)")
        }
        if case .success = outcome.result { return true }
        return false
    }
}
