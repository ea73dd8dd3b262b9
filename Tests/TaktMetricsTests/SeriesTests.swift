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
}
