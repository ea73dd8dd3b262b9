import Testing
@testable import TaktMetrics

@Suite("Chunked series")
struct SeriesTests {
    @Test("random inserts keep rows sorted, chunks non-empty and bounded, sums exact", arguments: [2, 3, 4, 7, 64])
    func randomInserts(capacity: Int) {
        var rng = SeededGenerator(seed: UInt64(capacity))
        var series = Series<ConfidenceChunk>(chunkCapacity: capacity)
        var model: [(Int64, Double)] = []
        for i in 0..<600 {
            // Mostly appends, some late rows, some far in the past.
            let t: Int64 = switch i % 5 {
            case 0: Int64.random(in: 0...Int64(i), using: &rng)
            case 1: Int64(i) - Int64.random(in: 0...10, using: &rng)
            default: Int64(i)
            }
            let c = Double(Int.random(in: 70...100, using: &rng)) / 100
            var p = series.lowerBound(t)
            while p != series.endPosition, series.time(at: p) == t, series.chunks[p.chunk].confidences[p.row] <= c {
                p = series.next(p)
            }
            series.insert((t, c), at: p)
            model.append((t, c))
        }
        model.sort { $0 < $1 }
        let rows = series.chunks.flatMap { zip($0.times, $0.confidences).map { ($0, $1) } }
        #expect(rows.map(\.0) == model.map(\.0))
        #expect(rows.map(\.1) == model.map(\.1))
        #expect(series.count == model.count)
        for chunk in series.chunks {
            #expect(!chunk.times.isEmpty && chunk.times.count <= capacity)
            #expect(chunk.fixedSum == chunk.confidences.reduce(0) { $0 + FixedPoint.quantize($1) })
        }
        // Window sums and ranks agree with a direct count.
        for _ in 0..<50 {
            let a = Int64.random(in: -5...610, using: &rng), b = Int64.random(in: -5...610, using: &rng)
            let (from, to) = (min(a, b), max(a, b))
            let inWindow = model.filter { $0.0 >= from && $0.0 < to }
            let got = series.windowSum(from: from, to: to)
            #expect(got.count == inWindow.count)
            var expected = WideSum()
            for (_, c) in inWindow { expected.add(FixedPoint.quantize(c)) }
            #expect(got.sum.low == expected.low && got.sum.high == expected.high)
        }
    }

    @Test("sorted batch inserts build exactly the chunks that one-by-one inserts build", arguments: [2, 3, 7, 64, 4096])
    func sortedBatchesEqualSingleInserts(capacity: Int) {
        var rng = SeededGenerator(seed: UInt64(capacity) &+ 99)
        var batched = VersionStore(chunkCapacity: capacity)
        var single = VersionStore(chunkCapacity: capacity)
        var clock: Int64 = 1_000
        for _ in 0..<120 {
            // A commit: several gateways' overlapping time ranges, a few late rows, equal (time, confidence) twins.
            var rows: [(Int64, Double)] = []
            for _ in 0..<Int.random(in: 1...60, using: &rng) {
                let t = Bool.random(using: &rng) && clock > 500 ? clock - Int64.random(in: 0...400, using: &rng)
                                                               : clock + Int64.random(in: 0...40, using: &rng)
                let c = Double(Int.random(in: 70...74, using: &rng)) / 100
                rows.append((t, c))
                if Int.random(in: 0..<10, using: &rng) == 0 { rows.append((t, c)) }
            }
            clock += 30
            for r in rows { single.insertAccepted(r.0, r.1) }
            batched.insertAccepted(sorted: rows.sorted { $0 < $1 })
        }
        #expect(batched.accepted.count == single.accepted.count)
        #expect(batched.accepted.chunks.flatMap(\.times) == single.accepted.chunks.flatMap(\.times))
        #expect(batched.accepted.chunks.flatMap(\.confidences) == single.accepted.chunks.flatMap(\.confidences))
        for chunk in batched.accepted.chunks {
            #expect(!chunk.times.isEmpty && chunk.times.count <= capacity)
            // Array's own doubling would reach 2 × capacity; malloc size classes may add a few rows.
            #expect(chunk.times.capacity < max(2 * capacity, 32), "a merge doubled a chunk's storage past its capacity")
            #expect(chunk.fixedSum == chunk.confidences.reduce(0) { $0 + FixedPoint.quantize($1) })
        }
    }

    @Test("lowerBound finds the first row at or after any time, near the end and far from it", arguments: [2, 5, 64, 4096])
    func lowerBoundMatchesACount(capacity: Int) {
        var rng = SeededGenerator(seed: UInt64(capacity) &+ 7)
        var series = Series<TimeChunk>(chunkCapacity: capacity)
        var times: [Int64] = []
        for _ in 0..<3_000 {
            // Runs of equal times, as events of one instant from several cameras give.
            let t = (times.last ?? 0) + Int64.random(in: 0...3, using: &rng)
            series.insert(t, at: series.endPosition)
            times.append(t)
        }
        for t in Int64(-2)...(times.last! + 2) {
            let expected = times.count { $0 < t }
            let p = series.lowerBound(t)
            #expect(series.rank(p) == expected, "lowerBound(\(t))")
            if p != series.endPosition { #expect(series.time(at: p) >= t) }
        }
    }

    @Test("fixed-point confidences round half to even and clamp to [0, 1]")
    func quantizeRounds() {
        let ulp = 1.0 / FixedPoint.scale
        #expect(FixedPoint.quantize(0) == 0)
        #expect(FixedPoint.quantize(1) == 1 << 50)
        #expect(FixedPoint.quantize(-0.5) == 0 && FixedPoint.quantize(2) == 1 << 50 && FixedPoint.quantize(.nan) == 0)
        #expect(FixedPoint.quantize(ulp / 2) == 0)  // a tie goes to the even neighbour
        #expect(FixedPoint.quantize(ulp * 1.5) == 2)
        #expect(FixedPoint.quantize(ulp * 2.5) == 2)
        var rng = SeededGenerator(seed: 5)
        for _ in 0..<10_000 {
            let c = Double.random(in: 0...1, using: &rng)
            #expect(FixedPoint.quantize(c) == UInt64((c * FixedPoint.scale).rounded(.toNearestOrEven)))
        }
    }
}
