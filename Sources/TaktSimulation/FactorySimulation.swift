// A simulated factory: workers on shifts at workstations, watched by cameras whose gateways send the
// events of spec/metrics.md section 1, with the imperfections real gateways have (re-sent duplicates,
// late deliveries, low-confidence detections). Deterministic for a seed; used by `takt seed` (demo
// data) and `takt-load` (load generation).
import TaktDomain

/// A shift, in UTC: starts `startMinuteOfDay` minutes after midnight, lasts `durationMinutes` (may cross midnight).
public struct Shift: Sendable, Hashable {
    public var name: String
    public var startMinuteOfDay: Int
    public var durationMinutes: Int
    public init(name: String, startMinuteOfDay: Int, durationMinutes: Int) {
        self.name = name
        self.startMinuteOfDay = startMinuteOfDay
        self.durationMinutes = durationMinutes
    }

    /// "A" 06:00–14:00 and "B" 14:00–22:00 UTC.
    public static let twoShifts = [Shift(name: "A", startMinuteOfDay: 6 * 60, durationMinutes: 8 * 60),
                                   Shift(name: "B", startMinuteOfDay: 14 * 60, durationMinutes: 8 * 60)]
}

/// One event as a gateway delivers it: the event, when it is sent, and which imperfection it carries.
public struct SimulatedEvent: Sendable, Hashable {
    public var event: Event
    /// When the gateway sends it (ms since the epoch); ≥ the event time. The stream is ordered by it.
    public var deliverAtMs: Int64
    /// Delivered minutes to hours after it happened (out of order with the worker's other events).
    public var isLate: Bool
    /// A re-sent copy of an event delivered before it (same identity).
    public var isDuplicate: Bool
    /// Confidence deliberately below 0.70: the server rejects it with `LOW_CONFIDENCE`.
    public var isLowConfidence: Bool

    public init(event: Event, deliverAtMs: Int64, isLate: Bool = false, isDuplicate: Bool = false,
                isLowConfidence: Bool = false) {
        self.event = event
        self.deliverAtMs = deliverAtMs
        self.isLate = isLate
        self.isDuplicate = isDuplicate
        self.isLowConfidence = isLowConfidence
    }
}

public struct FactorySimulation: Sendable, Hashable {
    public struct Configuration: Sendable, Hashable {
        public var seed: UInt64
        /// Workers `W1…Wn`; worker i works shift `shifts[i % shifts.count]` at station `S(i % workstations + 1)`.
        public var workers: Int
        /// Workstations `S1…Sn`; station i's camera runs `modelVersions[i % modelVersions.count]`.
        public var workstations: Int
        public var siteID: String
        /// First event time (ms since the epoch, > 0).
        public var startMs: Int64
        /// Exclusive bound on event times; nil: open-ended (live generation). Set it to "now" for demo
        /// data so no event lies in the future.
        public var endMs: Int64?
        public var modelVersions: [String]
        /// Empty: every worker is observed around the clock (no shift changes, lunch or slow start).
        public var shifts: [Shift]
        /// Gap between two state observations of one worker (uniform, ms).
        public var observationIntervalMs: ClosedRange<Int64>
        /// Chance that a working observation is followed by a `product_count` before the next observation.
        public var productChance: Double
        public var unitsPerProduct: ClosedRange<Int64>
        /// At the start of a shift workers are idle far more often.
        public var slowStartMinutes: Int
        /// Lunch break around mid-shift, per worker and shift.
        public var lunchMinutes: ClosedRange<Int64>
        /// Chance that a worker takes the lunch break (absent) in a shift.
        public var lunchChance: Double
        /// Chance per observation that a worker moves to another station for 10–60 minutes.
        public var stationMoveChance: Double
        /// Share of events re-sent once more later (1–600 s after the first delivery).
        public var duplicateFraction: Double
        /// Share of events delivered `lateDelayMs` after they happened instead of within 2 s.
        public var lateFraction: Double
        public var lateDelayMs: ClosedRange<Int64>
        /// Share of events with confidence in [0.35, 0.69].
        public var lowConfidenceFraction: Double
        /// Give every event an idempotency key: gateway `gw-<worker id>`, sequence per gateway (a
        /// duplicate keeps its original's key).
        public var idempotencyKeys: Bool

        public init(seed: UInt64 = 1, workers: Int = 6, workstations: Int = 6, siteID: String = Event.defaultSite,
                    startMs: Int64, endMs: Int64?, modelVersions: [String] = ["v2.3", "v2.4"],
                    shifts: [Shift] = Shift.twoShifts,
                    observationIntervalMs: ClosedRange<Int64> = 20_000...60_000, productChance: Double = 0.35,
                    unitsPerProduct: ClosedRange<Int64> = 1...5, slowStartMinutes: Int = 30,
                    lunchMinutes: ClosedRange<Int64> = 30...45, lunchChance: Double = 0.9,
                    stationMoveChance: Double = 0.001, duplicateFraction: Double = 0.01, lateFraction: Double = 0.02,
                    lateDelayMs: ClosedRange<Int64> = 120_000...10_800_000, lowConfidenceFraction: Double = 0.02,
                    idempotencyKeys: Bool = false) {
            self.seed = seed
            self.workers = workers
            self.workstations = workstations
            self.siteID = siteID
            self.startMs = startMs
            self.endMs = endMs
            self.modelVersions = modelVersions
            self.shifts = shifts
            self.observationIntervalMs = observationIntervalMs
            self.productChance = productChance
            self.unitsPerProduct = unitsPerProduct
            self.slowStartMinutes = slowStartMinutes
            self.lunchMinutes = lunchMinutes
            self.lunchChance = lunchChance
            self.stationMoveChance = stationMoveChance
            self.duplicateFraction = duplicateFraction
            self.lateFraction = lateFraction
            self.lateDelayMs = lateDelayMs
            self.lowConfidenceFraction = lowConfidenceFraction
            self.idempotencyKeys = idempotencyKeys
        }

        /// Out-of-range values brought into range, so a simulation never traps on a bad option.
        var normalized: Configuration {
            var c = self
            c.workers = max(1, c.workers)
            c.workstations = max(1, c.workstations)
            c.startMs = max(1, c.startMs)
            if c.modelVersions.isEmpty { c.modelVersions = [""] }
            c.shifts = c.shifts.map {
                Shift(name: $0.name, startMinuteOfDay: (($0.startMinuteOfDay % 1440) + 1440) % 1440,
                      durationMinutes: min(max($0.durationMinutes, 60), 1440))
            }
            let lo = max(2_000, c.observationIntervalMs.lowerBound)
            c.observationIntervalMs = lo...max(lo, c.observationIntervalMs.upperBound)
            let u = max(1, min(c.unitsPerProduct.lowerBound, Int64(AcceptancePolicy.maxCount)))
            c.unitsPerProduct = u...max(u, min(c.unitsPerProduct.upperBound, Int64(AcceptancePolicy.maxCount)))
            let l = max(1, c.lunchMinutes.lowerBound)
            c.lunchMinutes = l...max(l, c.lunchMinutes.upperBound)
            let d = max(0, c.lateDelayMs.lowerBound)
            c.lateDelayMs = d...max(d, c.lateDelayMs.upperBound)
            return c
        }
    }

    public let configuration: Configuration

    public init(_ configuration: Configuration) {
        self.configuration = configuration.normalized
    }

    /// Demo data: `hours` of two-shift production ending at `nowMs` (no event time at or after it).
    public static func demo(seed: UInt64 = 1, nowMs: Int64, hours: Int = 36, workers: Int = 6,
                            workstations: Int = 6, siteID: String = Event.defaultSite) -> FactorySimulation {
        FactorySimulation(Configuration(seed: seed, workers: workers, workstations: workstations, siteID: siteID,
                                        startMs: nowMs - Int64(max(1, hours)) * 3_600_000, endMs: nowMs))
    }

    /// Open-ended live events from `startMs` on, every worker observed around the clock: pull events and
    /// send each at its `deliverAtMs`.
    public static func live(seed: UInt64 = 1, startMs: Int64, workers: Int = 6, workstations: Int = 6,
                            siteID: String = Event.defaultSite, idempotencyKeys: Bool = true) -> FactorySimulation {
        FactorySimulation(Configuration(seed: seed, workers: workers, workstations: workstations, siteID: siteID,
                                        startMs: startMs, endMs: nil, shifts: [], idempotencyKeys: idempotencyKeys))
    }

    /// Every worker's events, merged in delivery order.
    public func events() -> SimulatedEventStream {
        SimulatedEventStream(configuration: configuration, workerIndices: Array(0..<configuration.workers))
    }

    /// The factory split by worker into `count` streams (worker i goes to stream `i % count`), each in
    /// delivery order: one per simulated gateway. Together they hold exactly the events of `events()`.
    public func streams(count: Int) -> [SimulatedEventStream] {
        let n = max(1, count)
        return (0..<n).map { k in
            SimulatedEventStream(configuration: configuration,
                                 workerIndices: Array(stride(from: k, to: configuration.workers, by: n)))
        }
    }

    // MARK: Registry

    public func workerID(_ index: Int) -> String { "W\(index + 1)" }
    public func workstationID(_ index: Int) -> String { "S\(index + 1)" }

    /// Worker records for `UpsertWorkers`: names, shifts and the department of the home station.
    public var workerRecords: [WorkerRecord] {
        let c = configuration
        return (0..<c.workers).map { i in
            let first = Self.firstNames[i % Self.firstNames.count]
            let last = Self.lastNames[(i + i / Self.firstNames.count) % Self.lastNames.count]
            let home = i % c.workstations
            return WorkerRecord(siteID: c.siteID, workerID: workerID(i), name: first + " " + last,
                                shift: c.shifts.isEmpty ? "" : c.shifts[i % c.shifts.count].name,
                                department: Self.stationKinds[home % Self.stationKinds.count].department)
        }
    }

    /// Workstation records for `UpsertWorkstations`: names, types and locations.
    public var workstationRecords: [WorkstationRecord] {
        let c = configuration
        return (0..<c.workstations).map { i in
            let kind = Self.stationKinds[i % Self.stationKinds.count]
            let number = i / Self.stationKinds.count + 1
            let hall = String(Character(Unicode.Scalar(UInt8(65 + (i / 20) % 26))))
            return WorkstationRecord(siteID: c.siteID, workstationID: workstationID(i), name: "\(kind.name) \(number)",
                                     location: "Hall \(hall), bay \(i % 20 + 1)", type: kind.type)
        }
    }

    static let firstNames = ["Ana", "Bruno", "Carla", "David", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas",
                             "Kira", "Luis", "Maya", "Nikolai", "Olga", "Pedro", "Rosa", "Samir", "Tomas", "Ursula",
                             "Victor", "Wen", "Yara", "Zoran", "Amara"]
    static let lastNames = ["Costa", "Novak", "Silva", "Schmidt", "Okafor", "Haddad", "Lindqvist", "Moreau", "Tanaka",
                            "Kowalski", "Rossi", "Petrov", "Mendes", "Fischer", "Nakamura", "Alvarez", "Ibrahim",
                            "Jensen", "Ferreira", "Weber"]
    static let stationKinds: [(name: String, type: String, department: String)] = [
        ("Assembly", "assembly", "Assembly"), ("Welding", "welding", "Fabrication"),
        ("Packaging", "packaging", "Logistics"), ("Inspection", "inspection", "Quality"),
        ("CNC", "machining", "Fabrication"), ("Painting", "painting", "Finishing"),
    ]
}
