import Testing
import TaktDomain
@testable import TaktSimulation

private let now: Int64 = 1_764_151_200_000 // 2025-11-26T10:00:00Z
private let day: Int64 = 86_400_000

private func demo(seed: UInt64 = 7, hours: Int = 48) -> [SimulatedEvent] {
    Array(FactorySimulation.demo(seed: seed, nowMs: now, hours: hours).events())
}

/// Minutes since the start of the shift the event time falls in (shifts A 06:00 and B 14:00 UTC), or nil off shift.
private func minutesIntoShift(_ t: Int64) -> Int64? {
    let minuteOfDay = (t % day) / 60_000
    for start: Int64 in [360, 840] where minuteOfDay >= start && minuteOfDay < start + 480 {
        return minuteOfDay - start
    }
    return nil
}

@Suite struct SimulationTests {
    @Test func generatorsMatchReferenceValues() {
        var sm = SplitMix64(seed: 0)
        #expect(sm.next() == 0xE220_A839_7B1D_CDAF)
        var a = Xoshiro256(seed: 42), b = Xoshiro256(seed: 42)
        for _ in 0..<100 {
            let x = a.int(in: Int64(-5)...5)
            #expect(x == b.int(in: Int64(-5)...5) && (-5...5).contains(x))
            let u = a.unit()
            #expect(u == b.unit() && u >= 0 && u < 1)
        }
        #expect(Xoshiro256(seed: 1, stream: 0) != Xoshiro256(seed: 1, stream: 1))
    }

    @Test func sameSeedSameStreamOtherSeedOther() {
        let a = demo(seed: 7, hours: 12)
        #expect(a.count > 1_000)
        #expect(a == demo(seed: 7, hours: 12))
        #expect(a != demo(seed: 8, hours: 12))
    }

    @Test func deliveryOrderAndValidity() {
        let events = demo()
        let policy = AcceptancePolicy()
        var lastDelivery = Int64.min
        for s in events {
            #expect(s.deliverAtMs >= lastDelivery)
            lastDelivery = s.deliverAtMs
            #expect(s.deliverAtMs >= s.event.eventTimeMs)
            #expect(s.event.eventTimeMs < now && s.event.eventTimeMs >= now - 48 * 3_600_000)
            let verdict = policy.precheck(s.event, nowMs: now)
            if s.isLowConfidence {
                #expect(verdict?.code == .lowConfidence)
            } else {
                #expect(verdict == nil, "\(s.event): \(verdict?.message ?? "")")
                #expect(s.event.confidence >= 0.8 && s.event.confidence <= 0.99)
            }
            if s.event.kind == .productCount { #expect((1...5).contains(s.event.count)) }
            if !s.isLate && !s.isDuplicate { #expect(s.deliverAtMs - s.event.eventTimeMs <= 2_000) }
            if s.isLate && !s.isDuplicate { #expect(s.deliverAtMs - s.event.eventTimeMs >= 120_000) }
        }
    }

    @Test(arguments: [(0.01, 0.02, 0.02), (0.10, 0.20, 0.05)])
    func imperfectionShares(_ duplicates: Double, _ late: Double, _ low: Double) {
        var c = FactorySimulation.demo(seed: 11, nowMs: now, hours: 48, workers: 8).configuration
        c.duplicateFraction = duplicates
        c.lateFraction = late
        c.lowConfidenceFraction = low
        let events = Array(FactorySimulation(c).events())
        let originals = events.filter { !$0.isDuplicate }
        let n = Double(originals.count)
        #expect(n > 10_000)
        func within(_ count: Int, _ p: Double) -> Bool {
            // Five standard deviations of a binomial count.
            abs(Double(count) - n * p) <= 5 * (n * p * (1 - p)).squareRoot()
        }
        #expect(within(events.count - originals.count, duplicates))
        #expect(within(originals.filter(\.isLate).count, late))
        #expect(within(originals.filter(\.isLowConfidence).count, low))
        // A duplicate repeats an earlier delivery's identity; no identity is otherwise repeated.
        var seen = Set<EventIdentity>()
        for s in events {
            #expect(seen.insert(s.event.identity).inserted != s.isDuplicate)
        }
    }

    @Test func lateEventsArriveOutOfOrder() {
        var latestPerWorker: [String: Int64] = [:]
        var outOfOrder = 0
        for s in demo() {
            let w = s.event.workerID
            if s.event.eventTimeMs < latestPerWorker[w, default: .min] { outOfOrder += 1 }
            latestPerWorker[w] = max(latestPerWorker[w, default: .min], s.event.eventTimeMs)
        }
        #expect(outOfOrder > 50)
    }

    @Test func unitsOnlyWhileWorking() {
        let events = demo().filter { !$0.isDuplicate }.map(\.event)
        var byWorker: [String: [Event]] = [:]
        for e in events { byWorker[e.workerID, default: []].append(e) }
        var products = 0
        for (_, list) in byWorker {
            var state: EventKind?
            for e in list.sorted(by: { $0.eventTimeMs < $1.eventTimeMs }) {
                if e.kind.isState {
                    state = e.kind
                } else {
                    products += 1
                    #expect(state == .working)
                }
            }
        }
        #expect(products > 1_000)
    }

    @Test func shiftShape() {
        let states = demo().filter { !$0.isDuplicate && $0.event.kind.isState }.map(\.event)
        func share(_ kind: EventKind, minutes: Range<Int64>) -> Double {
            let inWindow = states.filter { minutesIntoShift($0.eventTimeMs).map(minutes.contains) ?? false }
            return Double(inWindow.filter { $0.kind == kind }.count) / Double(max(1, inWindow.count))
        }
        // Lunch (every break covers 09:55–10:10 into an 8 h shift's 4 h mark) against mid-morning.
        let lunchAbsent = share(.absent, minutes: 236..<249)
        let morningAbsent = share(.absent, minutes: 120..<180)
        #expect(lunchAbsent > 0.6)
        #expect(morningAbsent < 0.2)
        // Slow start: idle more often in the first half hour than later in the morning.
        #expect(share(.idle, minutes: 5..<30) > 2 * share(.idle, minutes: 120..<180))
        // Nobody is observed working far outside their shift.
        let offShift = states.filter { minutesIntoShift($0.eventTimeMs) == nil && $0.kind != .absent }
        for e in offShift {
            let minuteOfDay = (e.eventTimeMs % day) / 60_000
            #expect((354..<366).contains(minuteOfDay) || (834..<846).contains(minuteOfDay) || minuteOfDay < 2 || (1320..<1322).contains(minuteOfDay),
                    "\(e) at minute \(minuteOfDay)")
        }
    }

    @Test func workersVisitOtherStations() {
        let sim = FactorySimulation.demo(seed: 3, nowMs: now, hours: 48)
        let events = Array(sim.events()).map(\.event)
        let visits = events.filter { e in
            let worker = Int(e.workerID.dropFirst())! - 1
            return e.workstationID != sim.workstationID(worker % 6)
        }
        #expect(!visits.isEmpty)
        #expect(visits.count < events.count / 10)
        #expect(Set(events.map(\.modelVersion)) == ["v2.3", "v2.4"])
    }

    @Test func streamsSplitTheFactoryByWorker() {
        let sim = FactorySimulation.demo(seed: 5, nowMs: now, hours: 12, workers: 10)
        let whole = Array(sim.events())
        let parts = sim.streams(count: 3)
        #expect(parts.map(\.workerIDs) == [["W1", "W4", "W7", "W10"], ["W2", "W5", "W8"], ["W3", "W6", "W9"]])
        var merged: [SimulatedEvent] = []
        for stream in parts {
            let list = Array(stream)
            let ids = Set(stream.workerIDs)
            #expect(list.allSatisfy { ids.contains($0.event.workerID) })
            #expect(zip(list, list.dropFirst()).allSatisfy { $0.deliverAtMs <= $1.deliverAtMs })
            merged += list
        }
        func key(_ s: SimulatedEvent) -> String { "\(s.deliverAtMs) \(s.event)" }
        #expect(merged.map(key).sorted() == whole.map(key).sorted())
        #expect(sim.streams(count: 20).filter(\.workerIDs.isEmpty).count == 10)
    }

    @Test func liveStreamIsOpenEnded() {
        let start = now
        var stream = FactorySimulation.live(seed: 9, startMs: start, workers: 50).events()
        let policy = AcceptancePolicy()
        var last = Int64.min
        var keys = Set<IdempotencyKey>()
        var count = 0
        while let s = stream.next(deliveredBefore: start + 3_600_000) {
            count += 1
            #expect(s.deliverAtMs >= last)
            last = s.deliverAtMs
            #expect(s.event.eventTimeMs >= start)
            // Sent at its delivery time, every event passes the server's clock check.
            let verdict = policy.precheck(s.event, nowMs: s.deliverAtMs)
            #expect(verdict == nil || (s.isLowConfidence && verdict?.code == .lowConfidence))
            let key = s.event.idempotencyKey!
            #expect(key.gatewayID == "gw-" + s.event.workerID)
            #expect(keys.insert(key).inserted != s.isDuplicate)
        }
        // 50 workers around the clock, one observation per ~40 s plus products: ~6,000 events an hour.
        #expect(count > 4_000 && count < 9_000)
        #expect(stream.peekDelivery().map { $0 >= start + 3_600_000 } == true)
        #expect(stream.next() != nil)
    }

    @Test func registryRecords() {
        let sim = FactorySimulation.demo(seed: 1, nowMs: now, workers: 6, workstations: 6, siteID: "plant-1")
        let workers = sim.workerRecords
        #expect(workers.count == 6)
        #expect(workers[0] == WorkerRecord(siteID: "plant-1", workerID: "W1", name: "Ana Costa", shift: "A",
                                           department: "Assembly"))
        #expect(workers.map(\.shift) == ["A", "B", "A", "B", "A", "B"])
        #expect(Set(workers.map(\.name)).count == 6)
        let stations = sim.workstationRecords
        #expect(stations.map(\.workstationID) == ["S1", "S2", "S3", "S4", "S5", "S6"])
        #expect(stations[0] == WorkstationRecord(siteID: "plant-1", workstationID: "S1", name: "Assembly 1",
                                                 location: "Hall A, bay 1", type: "assembly"))
        let events = Array(sim.events()).map(\.event)
        #expect(Set(events.map(\.workerID)).isSubset(of: workers.map(\.workerID)))
        #expect(Set(events.map(\.workstationID)).isSubset(of: stations.map(\.workstationID)))
        #expect(events.allSatisfy { $0.siteID == "plant-1" })
        let many = FactorySimulation.demo(nowMs: now, workers: 250, workstations: 40)
        #expect(Set(many.workerRecords.map(\.name)).count == 250)
        #expect(many.workerRecords.allSatisfy { IdentifierRules.isValid($0.workerID) })
    }

    @Test func badConfigurationDoesNotTrap() {
        let c = FactorySimulation.Configuration(seed: 0, workers: 0, workstations: -3, startMs: -10, endMs: 3_600_000,
                                                modelVersions: [], shifts: [Shift(name: "N", startMinuteOfDay: -60, durationMinutes: 99_999)],
                                                observationIntervalMs: 0...1, unitsPerProduct: 0...1_000_000,
                                                lunchMinutes: 0...0, lateDelayMs: -9...(-5))
        let events = Array(FactorySimulation(c).events())
        #expect(!events.isEmpty)
        #expect(events.allSatisfy { $0.event.eventTimeMs > 0 && $0.event.eventTimeMs < 3_600_000 })
    }
}
