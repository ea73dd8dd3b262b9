// One simulated worker and the camera gateway watching them: produces that worker's events in
// event-time order, each already decorated with its delivery time and imperfections. Each worker has
// its own random sub-stream, so splitting the factory into gateways never changes an event.
import TaktDomain

struct WorkerSimulation: Sendable {
    private static let minute: Int64 = 60_000
    private static let day: Int64 = 86_400_000

    /// One occurrence of the worker's shift, with this day's lunch break (nil: works through).
    private struct ShiftSpan: Sendable {
        var start: Int64
        var end: Int64
        var lunch: Range<Int64>?
    }

    let index: Int
    private let config: FactorySimulation.Configuration
    private let workerID: String
    private let shift: Shift?
    private let home: Int
    private var rng: Xoshiro256
    /// Time of the next state observation.
    private var t: Int64
    /// Every event time so far is < this, so the worker's events come out in event-time order.
    private var lastTime: Int64 = 0
    private var span: ShiftSpan?
    private var kind: EventKind = .absent
    private var station: Int
    private var awayUntil: Int64?
    private var sequence: UInt64 = 0
    private var queue: [SimulatedEvent] = []
    private var head = 0
    private(set) var finished = false

    init(index: Int, configuration c: FactorySimulation.Configuration) {
        self.index = index
        config = c
        workerID = "W\(index + 1)"
        shift = c.shifts.isEmpty ? nil : c.shifts[index % c.shifts.count]
        home = index % c.workstations
        station = home
        rng = Xoshiro256(seed: c.seed, stream: UInt64(index))
        // Start observations staggered, not all on the same millisecond.
        t = c.startMs + rng.int(in: 0...c.observationIntervalMs.upperBound)
        refill()
    }

    /// Event time of the next event; nil once the worker is done. No later event has an earlier time.
    var nextEventTime: Int64? { head < queue.count ? queue[head].event.eventTimeMs : nil }

    mutating func pop() -> SimulatedEvent? {
        guard head < queue.count else { return nil }
        let e = queue[head]
        head += 1
        if head == queue.count {
            queue.removeAll(keepingCapacity: true)
            head = 0
            refill()
        }
        return e
    }

    private mutating func refill() {
        while queue.isEmpty && !finished { observe() }
    }

    private mutating func observe() {
        if let end = config.endMs, t >= end {
            finished = true
            return
        }
        if let shift {
            if span == nil || t >= span!.end {
                if let s = span {
                    // Leaving: the camera sees an empty station.
                    emit(.absent, at: max(s.end, lastTime + 1_000) + rng.int(in: 0...60_000))
                    span = nil
                    if !queue.isEmpty { return }
                }
                let next = nextSpan(of: shift, endingAfter: t)
                span = next
                let arrival = next.start + rng.int(in: -3 * Self.minute...5 * Self.minute)
                t = max(t, arrival, lastTime + 1_000)
                kind = .absent
                station = home
                awayUntil = nil
                return
            }
        }
        let interval = rng.int(in: config.observationIntervalMs)
        if let until = awayUntil, t >= until {
            station = home
            awayUntil = nil
        }
        if config.workstations > 1 && rng.chance(config.stationMoveChance) {
            station = (home + rng.int(in: 1...(config.workstations - 1))) % config.workstations
            awayUntil = t + rng.int(in: 10 * Self.minute...60 * Self.minute)
        }
        kind = nextKind()
        emit(kind, at: t)
        if kind == .working && rng.chance(config.productChance) && interval > 2_000 {
            let at = t + rng.int(in: 1_000...(interval - 1_000))
            emit(.productCount, at: at, count: UInt32(rng.int(in: config.unitsPerProduct)))
        }
        t += interval
    }

    /// The state seen now: absent at lunch; otherwise mostly the previous state, sometimes a new draw
    /// (idle far more often during the slow start of a shift).
    private mutating func nextKind() -> EventKind {
        var slowStart = false
        if let s = span {
            if let lunch = s.lunch, lunch.contains(t) { return .absent }
            slowStart = t - s.start < Int64(config.slowStartMinutes) * Self.minute
        }
        if rng.chance(slowStart ? 0.5 : 0.8) { return kind }
        let r = rng.unit()
        if slowStart { return r < 0.45 ? .working : r < 0.9 ? .idle : .absent }
        return r < 0.8 ? .working : r < 0.95 ? .idle : .absent
    }

    private mutating func nextSpan(of shift: Shift, endingAfter time: Int64) -> ShiftSpan {
        var day = time / Self.day - 1
        if time < 0 { day -= 1 }
        let duration = Int64(shift.durationMinutes) * Self.minute
        while true {
            let start = day * Self.day + Int64(shift.startMinuteOfDay) * Self.minute
            if start + duration > time {
                var lunch: Range<Int64>?
                if duration >= 4 * 60 * Self.minute && rng.chance(config.lunchChance) {
                    let from = start + duration / 2 - 20 * Self.minute + rng.int(in: -15 * Self.minute...15 * Self.minute)
                    lunch = from..<(from + rng.int(in: config.lunchMinutes) * Self.minute)
                }
                return ShiftSpan(start: start, end: start + duration, lunch: lunch)
            }
            day += 1
        }
    }

    private mutating func emit(_ kind: EventKind, at time: Int64, count: UInt32 = 0) {
        lastTime = max(lastTime, time)
        // Random draws happen whether or not the event is kept, so a shorter end never changes earlier events.
        let versionIndex = station % config.modelVersions.count
        let low = rng.chance(config.lowConfidenceFraction)
        var confidence: Double
        if low {
            confidence = rng.double(in: 0.35...0.69)
        } else {
            // Newer model versions are slightly more confident.
            let shift = 0.02 * Double(versionIndex) / Double(max(1, config.modelVersions.count - 1))
            confidence = min(0.99, rng.double(in: (0.80 + shift)...(0.97 + shift)))
        }
        confidence = (confidence * 10_000).rounded(.down) / 10_000
        let late = rng.chance(config.lateFraction)
        let deliverAt = time + (late ? rng.int(in: config.lateDelayMs) : rng.int(in: 100...2_000))
        let duplicate = rng.chance(config.duplicateFraction)
        let resendAt = deliverAt + rng.int(in: 1_000...600_000)
        if let end = config.endMs, time >= end { return }
        sequence += 1
        let key = config.idempotencyKeys ? IdempotencyKey(gatewayID: "gw-" + workerID, sequence: sequence) : nil
        let event = Event(eventTimeMs: time, workerID: workerID, workstationID: "S\(station + 1)", kind: kind,
                          confidence: confidence, count: count, siteID: config.siteID,
                          modelVersion: config.modelVersions[versionIndex], idempotencyKey: key)
        queue.append(SimulatedEvent(event: event, deliverAtMs: deliverAt, isLate: late, isLowConfidence: low))
        if duplicate {
            queue.append(SimulatedEvent(event: event, deliverAtMs: resendAt, isLate: late, isDuplicate: true,
                                        isLowConfidence: low))
        }
    }
}
