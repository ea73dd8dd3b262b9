// Time-sorted columnar storage in bounded chunks: the building block of `MetricsIndex`.
//
// Why chunks: a late event inserts in the middle at the cost of one chunk (≤ `chunkCapacity` rows), and
// because every chunk is a copy-on-write value, a writer that mutates storage while a query still holds a
// snapshot copies only the chunks it touches, never a whole 10-million-row column.

/// A position in a `Series`: chunk number and row inside it. `chunk == chunks.count` is the end.
struct SeriesPosition: Equatable, Sendable {
    var chunk: Int
    var row: Int
}

/// One chunk of a series: parallel columns, sorted by `times` (ties ordered by the owner).
protocol SeriesChunk: Sendable {
    associatedtype Row
    init()
    var times: [Int64] { get }
    mutating func insert(_ row: Row, at index: Int)
    mutating func removeFirst() -> Row
    mutating func removeLast() -> Row
    /// Bytes reserved by the columns (capacity, not count).
    var allocatedBytes: Int { get }
    var capacity: Int { get }
    mutating func reserve(_ rows: Int)
}

/// Rows of one chunk type, sorted by time across chunks.
struct Series<Chunk: SeriesChunk>: Sendable {
    static var defaultChunkCapacity: Int { 4096 }

    private(set) var chunks: [Chunk] = []
    private(set) var count = 0
    /// Rows per chunk at most. Small values exercise chunk boundaries in tests.
    let chunkCapacity: Int

    init(chunkCapacity: Int = Self.defaultChunkCapacity) {
        precondition(chunkCapacity >= 2 && chunkCapacity <= 4096, "chunk capacity must be in 2...4096")
        self.chunkCapacity = chunkCapacity
    }

    var isEmpty: Bool { count == 0 }
    var endPosition: SeriesPosition { SeriesPosition(chunk: chunks.count, row: 0) }
    var startPosition: SeriesPosition { SeriesPosition(chunk: 0, row: 0) }

    func time(at p: SeriesPosition) -> Int64 { chunks[p.chunk].times[p.row] }

    /// First position whose time is `>= t` (the end when none).
    func lowerBound(_ t: Int64) -> SeriesPosition {
        guard let lastChunk = chunks.last else { return endPosition }
        // Live events land at or near the end: settle those from the last chunk alone.
        if lastChunk.times[lastChunk.times.count - 1] < t { return endPosition }
        if lastChunk.times[0] < t {
            // Late rows and the rows a new event amends sit a few places from the end: gallop back from it
            // (1, 2, 4, … rows) so the search touches the chunk's last cache lines, not all 32 KiB of it.
            return lastChunk.times.withUnsafeBufferPointer { times in
                var hi = times.count - 1  // times[hi] >= t
                var step = 1
                var lo = hi
                repeat {  // ends by times[0] < t at the latest
                    lo = Swift.max(0, hi - step)
                    if times[lo] < t { break }
                    hi = lo
                    step &*= 2
                } while true
                var a = lo + 1, b = hi  // times[lo] < t <= times[hi]
                while a < b {
                    let mid = (a + b) / 2
                    if times[mid] < t { a = mid + 1 } else { b = mid }
                }
                return SeriesPosition(chunk: chunks.count - 1, row: a)
            }
        }
        // First chunk whose last time is >= t.
        var lo = 0, hi = chunks.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if chunks[mid].times[chunks[mid].times.count - 1] < t { lo = mid + 1 } else { hi = mid }
        }
        return chunks[lo].times.withUnsafeBufferPointer { times in
            var a = 0, b = times.count
            while a < b {
                let mid = (a + b) / 2
                if times[mid] < t { a = mid + 1 } else { b = mid }
            }
            return SeriesPosition(chunk: lo, row: a)
        }
    }

    /// First position whose time is `> t`.
    func upperBound(_ t: Int64) -> SeriesPosition {
        t == Int64.max ? endPosition : lowerBound(t + 1)
    }

    func next(_ p: SeriesPosition) -> SeriesPosition {
        if p.row + 1 < chunks[p.chunk].times.count { return SeriesPosition(chunk: p.chunk, row: p.row + 1) }
        return SeriesPosition(chunk: p.chunk + 1, row: 0)
    }

    /// The position before `p`, or nil at the start.
    func previous(_ p: SeriesPosition) -> SeriesPosition? {
        if p.row > 0 { return SeriesPosition(chunk: p.chunk, row: p.row - 1) }
        if p.chunk == 0 { return nil }
        return SeriesPosition(chunk: p.chunk - 1, row: chunks[p.chunk - 1].times.count - 1)
    }

    /// Number of rows before `p`. O(chunks), which is small next to the rows it stands for.
    func rank(_ p: SeriesPosition) -> Int {
        var n = p.row
        var c = 0
        while c < p.chunk && c < chunks.count {
            n += chunks[c].times.count
            c += 1
        }
        return n
    }

    /// Inserts `row` so that it lands at position `p` (rows from `p` on move one place later).
    mutating func insert(_ row: Chunk.Row, at p: SeriesPosition) {
        count += 1
        if chunks.isEmpty {
            chunks.append(Chunk())
            insertRow(row, chunk: 0, row: 0)
            return
        }
        var ci = p.chunk, ri = p.row
        if ci == chunks.count {
            // Appending: fill the last chunk, then start a new one (appends keep chunks full).
            ci -= 1
            ri = chunks[ci].times.count
            if ri >= chunkCapacity {
                chunks.append(Chunk())
                insertRow(row, chunk: ci + 1, row: 0)
                return
            }
        } else if ri == 0 && ci > 0 && chunks[ci - 1].times.count < chunkCapacity {
            // The end of the previous chunk is the same place and may have room.
            ci -= 1
            ri = chunks[ci].times.count
        }
        if chunks[ci].times.count >= chunkCapacity {
            // A full chunk: hand one row to a neighbour with room, or to a new chunk after it. Late events
            // mostly land near the end, so chunks stay (nearly) full; nothing is ever split in halves.
            let nextHasRoom = ci + 1 < chunks.count && chunks[ci + 1].times.count < chunkCapacity
            if !nextHasRoom && ci > 0 && ri > 0 && chunks[ci - 1].times.count < chunkCapacity {
                let moved = chunks[ci].removeFirst()
                insertRow(moved, chunk: ci - 1, row: chunks[ci - 1].times.count)
                ri -= 1
            } else {
                if !nextHasRoom { chunks.insert(Chunk(), at: ci + 1) }
                if ri == chunks[ci].times.count {
                    insertRow(row, chunk: ci + 1, row: 0)
                    return
                }
                let moved = chunks[ci].removeLast()
                insertRow(moved, chunk: ci + 1, row: 0)
            }
        }
        insertRow(row, chunk: ci, row: ri)
    }

    /// Grows a chunk's columns by doubling up to exactly `chunkCapacity` (Array's own doubling would reach
    /// 2 × 4,096 − 1 and waste half of every full chunk).
    private mutating func insertRow(_ row: Chunk.Row, chunk ci: Int, row ri: Int) {
        growChunk(ci, toHold: chunks[ci].times.count + 1)
        chunks[ci].insert(row, at: ri)
    }

    /// Makes room for `needed` rows in chunk `ci`, doubling (at least 16 rows) but never past `chunkCapacity`.
    private mutating func growChunk(_ ci: Int, toHold needed: Int) {
        guard needed > chunks[ci].capacity else { return }
        chunks[ci].reserve(Swift.min(chunkCapacity, Swift.max(16, needed, 2 * chunks[ci].times.count)))
    }

    /// Adds `count` rows to chunk `ci` through `merge`, which must keep the chunk sorted; the caller made sure
    /// they fit (`chunkCapacity`). Capacity grows as `insert` grows it.
    mutating func mergeRows(intoChunk ci: Int, count added: Int, _ merge: (inout Chunk) -> Void) {
        let needed = chunks[ci].times.count + added
        precondition(needed <= chunkCapacity, "merge past the chunk capacity")
        growChunk(ci, toHold: needed)
        merge(&chunks[ci])
        count += added
    }

    /// Bytes reserved by all chunks.
    var allocatedBytes: Int { chunks.reduce(chunks.capacity * MemoryLayout<Chunk>.stride) { $0 + $1.allocatedBytes } }

    /// Mutates the chunk holding `p` in place.
    mutating func withChunk<R>(at p: SeriesPosition, _ body: (inout Chunk, Int) -> R) -> R {
        body(&chunks[p.chunk], p.row)
    }
}

/// Only confidence series take a commit's rows as one merge (`VersionStore.insertAccepted(sorted:)`).
extension Series where Chunk == ConfidenceChunk {
    /// Merges `rows` (sorted, all belonging in chunk `ci`: none sorts before its rows that stay, none after
    /// the next chunk's first row) into chunk `ci` when they do not fit its room. The chunk keeps its rows up
    /// to the first merged one and fills up to `chunkCapacity` from the merge; the rest go to new chunks right
    /// after it, each full but the last. Equal rows keep arrival order (the chunk's before the new ones).
    /// One forward pass; a row's fixed-point value is computed only when it joins or leaves a chunk's sum.
    mutating func merge(overflowing rows: ArraySlice<(Int64, Double)>, into ci: Int) {
        let capacity = chunkCapacity
        var chunk = chunks[ci]
        chunks[ci] = ConfidenceChunk()  // so `chunk` holds the only reference and grows in place
        let keep = chunk.firstIndex(after: rows[rows.startIndex])
        let tailTimes = Array(chunk.times[keep...]), tailConfidences = Array(chunk.confidences[keep...])
        chunk.times.removeSubrange(keep...)
        chunk.confidences.removeSubrange(keep...)
        // The tail's rows stay in `chunk.fixedSum` until one of them moves to a new chunk.
        let total = tailTimes.count + rows.count
        let intoChunk = Swift.max(0, Swift.min(total, capacity - keep))
        chunk.reserve(keep + intoChunk)

        var i = 0, j = rows.startIndex
        var fresh: [ConfidenceChunk] = []
        for placed in 0..<total {
            let fromTail = j == rows.endIndex || (i < tailTimes.count && (tailTimes[i], tailConfidences[i]) <= rows[j])
            let (t, c) = fromTail ? (tailTimes[i], tailConfidences[i]) : rows[j]
            if fromTail { i += 1 } else { j += 1 }
            if placed < intoChunk {
                chunk.times.append(t)
                chunk.confidences.append(c)
                if !fromTail { chunk.fixedSum += FixedPoint.quantize(c) }
                continue
            }
            if (placed - intoChunk) % capacity == 0 {
                var next = ConfidenceChunk()
                next.reserve(Swift.min(capacity, total - placed))
                fresh.append(next)
            }
            let q = FixedPoint.quantize(c)
            if fromTail { chunk.fixedSum -= q }
            fresh[fresh.count - 1].times.append(t)
            fresh[fresh.count - 1].confidences.append(c)
            fresh[fresh.count - 1].fixedSum += q
        }
        chunks[ci] = chunk
        chunks.insert(contentsOf: fresh, at: ci + 1)
        count += rows.count
    }
}

// MARK: - Chunk types

/// A worker's state events: time and `workstation << 2 | kind code` (0 absent, 1 idle, 2 working).
struct StateChunk: SeriesChunk {
    var times: [Int64] = []
    var codes: [UInt32] = []
    init() {}
    mutating func insert(_ row: (Int64, UInt32), at index: Int) {
        times.insert(row.0, at: index)
        codes.insert(row.1, at: index)
    }
    mutating func removeFirst() -> (Int64, UInt32) { (times.removeFirst(), codes.removeFirst()) }
    mutating func removeLast() -> (Int64, UInt32) { (times.removeLast(), codes.removeLast()) }
    var allocatedBytes: Int { times.capacity * 8 + codes.capacity * 4 }
    var capacity: Int { min(times.capacity, codes.capacity) }
    mutating func reserve(_ rows: Int) {
        times.reserveCapacity(rows)
        codes.reserveCapacity(rows)
    }
}

/// A worker's product events: time and `workstation << 14 | count` (count 1...10,000).
typealias ProductChunk = StateChunk

/// Working and idle intervals observed at one workstation: start, length, and `worker << 1 | isWorking`.
struct StationChunk: SeriesChunk {
    var times: [Int64] = []
    var lengths: [UInt32] = []
    var codes: [UInt32] = []
    init() {}
    mutating func insert(_ row: (Int64, UInt32, UInt32), at index: Int) {
        times.insert(row.0, at: index)
        lengths.insert(row.1, at: index)
        codes.insert(row.2, at: index)
    }
    mutating func removeFirst() -> (Int64, UInt32, UInt32) {
        (times.removeFirst(), lengths.removeFirst(), codes.removeFirst())
    }
    mutating func removeLast() -> (Int64, UInt32, UInt32) { (times.removeLast(), lengths.removeLast(), codes.removeLast()) }
    var allocatedBytes: Int { times.capacity * 8 + lengths.capacity * 4 + codes.capacity * 4 }
    var capacity: Int { min(times.capacity, lengths.capacity, codes.capacity) }
    mutating func reserve(_ rows: Int) {
        times.reserveCapacity(rows)
        lengths.reserveCapacity(rows)
        codes.reserveCapacity(rows)
    }
}

/// Accepted events of one model version at one site: time and confidence, sorted by `(time, confidence)`,
/// with the exact fixed-point sum of the chunk's confidences for O(chunks) window means.
struct ConfidenceChunk: SeriesChunk {
    var times: [Int64] = []
    var confidences: [Double] = []
    var fixedSum: UInt64 = 0
    init() {}
    mutating func insert(_ row: (Int64, Double), at index: Int) {
        times.insert(row.0, at: index)
        confidences.insert(row.1, at: index)
        fixedSum += FixedPoint.quantize(row.1)
    }
    /// Merges rows sorted by `(time, confidence)` in one backward pass; equal rows go after the ones held,
    /// as `insert` at the place `VersionStore` computes would put them.
    mutating func merge(sorted rows: ArraySlice<(Int64, Double)>) {
        let n = times.count
        times.append(contentsOf: repeatElement(0, count: rows.count))
        confidences.append(contentsOf: repeatElement(0, count: rows.count))
        var i = n - 1, j = rows.endIndex - 1, k = n + rows.count - 1
        while j >= rows.startIndex {
            let (t, c) = rows[j]
            if i >= 0 && (times[i] > t || (times[i] == t && confidences[i] > c)) {
                times[k] = times[i]
                confidences[k] = confidences[i]
                i -= 1
            } else {
                times[k] = t
                confidences[k] = c
                fixedSum += FixedPoint.quantize(c)
                j -= 1
            }
            k -= 1
        }
    }

    /// Index of the first row that sorts after `row` (equal rows count as before it: they keep arrival order).
    func firstIndex(after row: (Int64, Double)) -> Int {
        var a = 0, b = times.count
        while a < b {
            let mid = (a + b) / 2
            if times[mid] < row.0 || (times[mid] == row.0 && confidences[mid] <= row.1) { a = mid + 1 } else { b = mid }
        }
        return a
    }

    mutating func removeFirst() -> (Int64, Double) {
        let row = (times.removeFirst(), confidences.removeFirst())
        fixedSum -= FixedPoint.quantize(row.1)
        return row
    }
    mutating func removeLast() -> (Int64, Double) {
        let row = (times.removeLast(), confidences.removeLast())
        fixedSum -= FixedPoint.quantize(row.1)
        return row
    }
    var allocatedBytes: Int { times.capacity * 8 + confidences.capacity * 8 }
    var capacity: Int { min(times.capacity, confidences.capacity) }
    mutating func reserve(_ rows: Int) {
        times.reserveCapacity(rows)
        confidences.reserveCapacity(rows)
    }
}

/// Times only (low-confidence rejections of one model version at one site).
struct TimeChunk: SeriesChunk {
    var times: [Int64] = []
    init() {}
    mutating func insert(_ row: Int64, at index: Int) { times.insert(row, at: index) }
    mutating func removeFirst() -> Int64 { times.removeFirst() }
    mutating func removeLast() -> Int64 { times.removeLast() }
    var allocatedBytes: Int { times.capacity * 8 }
    var capacity: Int { times.capacity }
    mutating func reserve(_ rows: Int) { times.reserveCapacity(rows) }
}

/// Confidences in [0, 1] as integers of 2^-50, so sums over windows are exact and order-free.
/// 4,096 rows of at most 2^50 fit a chunk's UInt64; window sums use a 128-bit accumulator.
enum FixedPoint {
    static let scale: Double = 1_125_899_906_842_624  // 2^50

    /// Rounds half to even without a libm call: adding 2^52 to a value in [0, 2^50] leaves exactly its
    /// rounded integer in the mantissa bits (the spacing of doubles in [2^52, 2^53) is 1).
    @inline(__always)
    static func quantize(_ c: Double) -> UInt64 {
        let clamped = c.isNaN ? 0 : Swift.min(Swift.max(c, 0), 1)
        return (clamped * scale + 0x1p52).bitPattern & 0x000F_FFFF_FFFF_FFFF
    }
}

/// Unsigned 128-bit sum of fixed-point confidences.
struct WideSum {
    var high: UInt64 = 0
    var low: UInt64 = 0

    @inline(__always)
    mutating func add(_ x: UInt64) {
        let (r, overflow) = low.addingReportingOverflow(x)
        low = r
        if overflow { high &+= 1 }
    }

    mutating func add(_ other: WideSum) {
        add(other.low)
        high &+= other.high
    }

    /// The sum as a confidence total (divided by the fixed-point scale).
    var value: Double { (Double(high) * 18_446_744_073_709_551_616.0 + Double(low)) / FixedPoint.scale }
}
