// The formulas of spec/metrics.md sections 3, 5 and 6, written once so that `ReferenceMetrics` and
// `MetricsIndex` round their doubles identically (bitwise-equal results, not merely close ones).
import TaktDomain

public enum MetricsFormula {
    public static let msPerHour: Double = 3_600_000
    public static let defaultCapMs: Int64 = 600_000

    /// Section 3: `100 × working / (working + idle)`; 0 when the denominator is 0.
    @inline(__always)
    public static func utilization(workingMs: Int64, idleMs: Int64) -> Double {
        let denominator = workingMs + idleMs
        return denominator == 0 ? 0 : 100 * Double(workingMs) / Double(denominator)
    }

    /// Section 5: `100 × occupancy / window length`.
    @inline(__always)
    public static func occupancyUtilization(occupancyMs: Int64, lengthMs: Int64) -> Double {
        lengthMs <= 0 ? 0 : 100 * Double(occupancyMs) / Double(lengthMs)
    }

    /// `units / (ms / 3,600,000)`; 0 when `ms` is 0 (units per working hour, or per occupied hour).
    @inline(__always)
    public static func perHour(units: Int64, ms: Int64) -> Double {
        ms == 0 ? 0 : Double(units) / (Double(ms) / msPerHour)
    }

    /// Byte-wise string order (spec section 2: `S10 < S2`), independent of Unicode collation.
    @inline(__always)
    public static func byteLess(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    /// The factory figures of section 5 from worker rows (in (site, worker) order, which fixes the summation
    /// order of the means) and the number of workstations with occupancy.
    public static func factory(workers: [WorkerMetrics], activeWorkstations: Int64) -> FactoryMetrics {
        var f = FactoryMetrics(activeWorkstations: activeWorkstations)
        var active: Int64 = 0
        var utilizationSum = 0.0
        var producing: Int64 = 0
        var rateSum = 0.0
        for w in workers {
            f.totalWorkingMs += w.workingMs
            f.totalUnits += w.units
            if w.workingMs + w.idleMs > 0 {
                active += 1
                utilizationSum += w.utilizationPct
            }
            if w.unitsPerHour > 0 {
                producing += 1
                rateSum += w.unitsPerHour
            }
        }
        f.activeWorkers = active
        f.avgUtilizationPct = active == 0 ? 0 : utilizationSum / Double(active)
        f.avgUnitsPerHour = producing == 0 ? 0 : rateSum / Double(producing)
        return f
    }

    /// Section 6 statistics of a sample in ascending `(event time, confidence)` order: mean and population
    /// standard deviation (two passes, so that both engines round alike).
    public static func meanAndStddev(_ sample: [Double]) -> (mean: Double, stddev: Double) {
        if sample.isEmpty { return (0, 0) }
        var sum = 0.0
        for c in sample { sum += c }
        let mean = sum / Double(sample.count)
        var squares = 0.0
        for c in sample { squares += (c - mean) * (c - mean) }
        return (mean, (squares / Double(sample.count)).squareRoot())
    }

    /// Section 6 drift: `100 × (baseline − recent) / baseline`, nil when either window has fewer than 30 events.
    public static let driftMinimumEvents = 30
    public static let modelHealthSampleSize = 100
    public static let dayMs: Int64 = 86_400_000

    public static func drift(recentSum: Double, recentCount: Int, baselineSum: Double, baselineCount: Int)
        -> (recentMean: Double?, baselineMean: Double?, driftPct: Double?, detected: Bool)
    {
        let recent = recentCount > 0 ? recentSum / Double(recentCount) : nil
        let baseline = baselineCount > 0 ? baselineSum / Double(baselineCount) : nil
        var pct: Double?
        if recentCount >= driftMinimumEvents, baselineCount >= driftMinimumEvents, let r = recent, let b = baseline, b != 0 {
            pct = 100 * (b - r) / b
        }
        let detected = (pct.map { $0 > 15 } ?? false) || (recent.map { $0 < 0.75 } ?? false)
        return (recent, baseline, pct, detected)
    }
}

/// Timeline buckets (spec section 7): boundaries at local midnight + k·bucket for a fixed UTC offset,
/// the first and last bucket clipped to the window.
public struct TimelineGrid: Sendable, Hashable {
    public let window: TimeWindow
    public let bucketMs: Int64
    public let offsetMs: Int64
    /// Start of the (unclipped) bucket holding `window.fromMs`.
    public let firstStart: Int64
    public let count: Int

    public init(window: TimeWindow, bucketMs: Int64, utcOffsetMinutes: Int32) {
        precondition(bucketMs > 0, "bucketMs must be positive")
        self.window = window
        self.bucketMs = bucketMs
        self.offsetMs = Int64(utcOffsetMinutes) * 60_000
        let local = window.fromMs + offsetMs
        let floored = local - Self.floorMod(local, bucketMs)
        self.firstStart = floored - offsetMs
        self.count = window.toMs > window.fromMs ? Int((window.toMs - 1 - firstStart) / bucketMs) + 1 : 0
    }

    @inline(__always)
    static func floorMod(_ a: Int64, _ m: Int64) -> Int64 {
        let r = a % m
        return r < 0 ? r + m : r
    }

    /// Bucket `k` clipped to the window.
    public func bucket(_ k: Int) -> (start: Int64, end: Int64) {
        let s = firstStart + Int64(k) * bucketMs
        return (Swift.max(s, window.fromMs), Swift.min(s + bucketMs, window.toMs))
    }

    /// Index of the bucket holding `t` (which must lie in the window).
    @inline(__always)
    public func index(of t: Int64) -> Int { Int((t - firstStart) / bucketMs) }

    public func emptyBuckets() -> [TimelineBucket] {
        (0..<count).map { k in
            let b = bucket(k)
            return TimelineBucket(startMs: b.start, endMs: b.end)
        }
    }

    /// Calls `body(k, ms)` for each bucket overlapped by `[start, end)` (inside the window).
    @inline(__always)
    public func distribute(_ start: Int64, _ end: Int64, _ body: (Int, Int64) -> Void) {
        var s = start
        var k = index(of: s)
        while s < end {
            let bucketEnd = firstStart + Int64(k + 1) * bucketMs
            let e = Swift.min(end, bucketEnd)
            body(k, e - s)
            s = e
            k += 1
        }
    }
}
