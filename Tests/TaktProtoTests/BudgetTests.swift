// The decode budget (DecodeBudget): legitimate payloads at their documented limits fit; floods of tiny
// sub-messages or unknown fields, whose unpacked size dwarfs their wire size, are refused cleanly.
import Testing
import TaktDomain
@testable import TaktProto

@Suite struct BudgetTests {
    @Test func floodOfEmptyEventsIsRefused() throws {
        // Each `0A 00` is an empty Event: 2 bytes on the wire, ~170 bytes unpacked.
        let flood = [UInt8](repeating: 0, count: 40_000).enumerated().map { UInt8($0.offset % 2 == 0 ? 0x0A : 0x00) }
        let outcome = decodeCheckingMemory(IncomingBatch.self, flood)
        #expect(outcome.memory.exhausted)
        #expect(outcome.memory.peakBytes <= outcome.memory.budget)
        guard case .failure(let error) = outcome.result else {
            Issue.record("a flood of empty events decoded")
            return
        }
        #expect(error.message.contains("not a valid takt.v1.Batch"))
        #expect(error.message.contains("memory budget"))
        #expect(error.rpcError.code == .invalidArgument)
        // A few empty events are fine (they are INVALID one by one).
        let few = try IncomingBatch(protobuf: Array(flood.prefix(20)))
        #expect(few.events.count == 10)
        #expect(few.events.allSatisfy { $0.precheck(AcceptancePolicy(), nowMs: now)?.code == .invalid })
    }

    @Test func floodOfEmptyStoredEventsIsRefused() {
        // `0A 02 0A 00`: a StoredEvent holding an empty Event, ~230 bytes unpacked for 4 on the wire.
        let flood = (0..<10_000).flatMap { _ in [UInt8]([0x0A, 0x02, 0x0A, 0x00]) }
        let outcome = decodeCheckingMemory(EventPage.self, flood)
        #expect(outcome.memory.exhausted)
        #expect(outcome.memory.peakBytes <= outcome.memory.budget)
        if case .success = outcome.result { Issue.record("a flood of empty stored events decoded") }
    }

    @Test func floodOfUnknownFieldsStaysWithinBudget() {
        // protobuf-c keeps unknown fields (a record and a copy each): ~36 × the wire size, just inside.
        var w = WireWriter()
        for _ in 0..<30_000 { w.varintField(15, 1) }
        let outcome = decodeCheckingMemory(RPCStatus.self, w.bytes)
        #expect(outcome.memory.peakBytes <= outcome.memory.budget)
        var heavier = WireWriter()
        for _ in 0..<30_000 { heavier.message(15) { _ in } }  // empty unknown length-delimited fields
        let second = decodeCheckingMemory(RPCStatus.self, heavier.bytes)
        #expect(second.memory.peakBytes <= second.memory.budget)
    }

    @Test func repeatedSingularFieldRecyclesWithinTheBudget() {
        // A singular sub-message sent 20,000 times: protobuf-c frees each unpacked copy (~170 bytes) when
        // the next arrives, so about 3.4 MB is allocated in total against a 1.7 MB budget while far less
        // is live at once (mostly protobuf-c's list of scanned fields). The arena hands out one budget's
        // worth, then the allocator falls back to malloc/free; nothing leaks or runs over.
        var w = WireWriter()
        w.message(1) { stored in for _ in 0..<20_000 { stored.message(1) { _ in } } }
        let outcome = decodeCheckingMemory(EventPage.self, w.bytes)
        #expect(!outcome.memory.exhausted, "\(outcome.memory)")
        #expect(outcome.memory.liveBytes == 0)
        #expect(outcome.memory.peakBytes < outcome.memory.budget, "\(outcome.memory)")
        #expect(20_000 * 150 > outcome.memory.budget, "the test must allocate more than the budget in total")
        if case .failure(let error) = outcome.result { #expect(!error.message.contains("memory budget")) }
    }

    @Test func budgetFormula() {
        #expect(DecodeBudget.limit(forPayloadBytes: 0) == 64 << 10)
        #expect(DecodeBudget.limit(forPayloadBytes: 1_000) == 40_000 + 65_536)
        #expect(DecodeBudget.limit(forPayloadBytes: .max) == .max)
    }

    /// The densest legitimate payloads at their documented limits decode within the budget
    /// (this is what `DecodeBudget.bytesPerPayloadByte` = 40 is sized by).
    @Test func legitimatePayloadsAtTheirLimitsFit() throws {
        func check<T: ProtoDecoderBacked>(_ t: T.Type, _ bytes: [UInt8]) {
            let outcome = decodeCheckingMemory(T.self, bytes)
            #expect(!outcome.memory.exhausted, "\(T.self): \(outcome.memory) for \(bytes.count) bytes")
            // Headroom, so that allocator or protobuf-c changes show up here before they refuse real traffic.
            #expect(Double(outcome.memory.peakBytes) < 0.85 * Double(outcome.memory.budget),
                    "\(T.self) uses \(Double(outcome.memory.peakBytes) / Double(bytes.count)) × its size")
        }
        check(WorkerList.self, WorkerList((0..<10_000).map { WorkerRecord(siteID: "", workerID: "W\($0 % 10)") }).protobufBytes())
        check(WorkstationList.self, WorkstationList((0..<10_000).map { WorkstationRecord(siteID: "", workstationID: "\($0 % 10)") })
            .protobufBytes())
        check(SiteList.self, SiteList((0..<10_000).map { _ in SiteRecord(siteID: "s", workers: 1, workstations: 1) }).protobufBytes())
        check(ListEventsRequest.self, ListEventsRequest(filter: EventFilter(workerIDs: (0..<1_000).map { "\($0 % 10)" },
                                                                            workstationIDs: (0..<1_000).map { "\($0 % 10)" }))
            .protobufBytes())
        check(BatchAck.self, BatchAck(results: (0..<10_000).map { $0 % 2 == 0 ? .accepted : EventResult(.duplicate, "d") })
            .protobufBytes())
        check(BatchAck.self, BatchAck(results: (0..<10_000).map { _ in .accepted }).protobufBytes())
        check(IncomingBatch.self, EventBatch(events: (0..<10_000).map { _ in
            Event(eventTimeMs: 1, workerID: "W", workstationID: "S", kind: .idle, confidence: 1) }).protobufBytes())
        check(MetricsResponse.self, MetricsResponse(window: TimeWindow(fromMs: 0, toMs: 1), timeline: [
            TimelineRow(subject: .factory, siteID: "", entityID: "",
                        buckets: (0..<10_000).map { TimelineBucket(startMs: Int64($0), endMs: Int64($0) + 1) }),
        ]).protobufBytes())
    }
}
