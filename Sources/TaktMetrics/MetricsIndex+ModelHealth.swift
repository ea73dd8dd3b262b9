// Model health (spec section 6) over the per-(site, version) confidence series. See `MetricsIndex`.
import TaktDomain

extension Series where Chunk == ConfidenceChunk {
    /// Count and exact fixed-point sum of the rows with time in `[from, to)`: whole chunks by their stored
    /// sums, the two partial chunks row by row.
    func windowSum(from: Int64, to: Int64) -> (count: Int, sum: WideSum) {
        var sum = WideSum()
        guard from < to, !isEmpty else { return (0, sum) }
        let a = lowerBound(from), b = lowerBound(to)
        let count = rank(b) - rank(a)
        var c = a.chunk, r = a.row
        while c < chunks.count && (c < b.chunk || (c == b.chunk && r < b.row)) {
            let chunk = chunks[c]
            let stop = c == b.chunk ? b.row : chunk.times.count
            if r == 0 && stop == chunk.times.count {
                sum.add(chunk.fixedSum)
            } else {
                for i in r..<stop { sum.add(FixedPoint.quantize(chunk.confidences[i])) }
            }
            c += 1
            r = 0
        }
        return (count, sum)
    }
}

extension Series where Chunk == TimeChunk {
    func count(from: Int64, to: Int64) -> Int {
        guard from < to, !isEmpty else { return 0 }
        return rank(lowerBound(to)) - rank(lowerBound(from))
    }
}

extension MetricsIndex {
    /// Model health of every version and of all versions together, as of `toMs`, for one site or all (nil
    /// or empty).
    public func modelHealth(toMs: Int64, siteID: String?) -> ModelHealthReport {
        let snapshot = snapshot()
        var byVersion: [Int32: [VersionStore]] = [:]
        for site in snapshot.selectedSites(siteID) {
            for (v, store) in site.versions {
                let hasAccepted = !store.accepted.isEmpty && store.accepted.time(at: store.accepted.startPosition) < toMs
                let hasRejected = !store.rejected.isEmpty && store.rejected.time(at: store.rejected.startPosition) < toMs
                if hasAccepted || hasRejected { byVersion[v, default: []].append(store) }
            }
        }
        let names = snapshot.versionNames
        let order = byVersion.keys.sorted { MetricsFormula.byteLess(names[$0], names[$1]) }
        let overall = Self.health(nil, byVersion.values.flatMap { $0 }, toMs: toMs)
        return ModelHealthReport(toMs: toMs, overall: overall,
                                 versions: order.map { Self.health(names[$0], byVersion[$0]!, toMs: toMs) })
    }

    static func health(_ version: String?, _ stores: [VersionStore], toMs: Int64) -> ModelHealth {
        // The last 100 accepted before `to` by (time, confidence): a backward merge over the stores.
        var cursors: [SeriesPosition?] = stores.map { $0.accepted.previous($0.accepted.lowerBound(toMs)) }
        var sample: [Double] = []
        sample.reserveCapacity(MetricsFormula.modelHealthSampleSize)
        while sample.count < MetricsFormula.modelHealthSampleSize {
            var best = -1
            var bestKey: (Int64, Double) = (0, 0)
            for (i, cursor) in cursors.enumerated() {
                guard let p = cursor else { continue }
                let chunk = stores[i].accepted.chunks[p.chunk]
                let key = (chunk.times[p.row], chunk.confidences[p.row])
                if best < 0 || key > bestKey {
                    best = i
                    bestKey = key
                }
            }
            if best < 0 { break }
            sample.append(bestKey.1)
            cursors[best] = stores[best].accepted.previous(cursors[best]!)
        }
        sample.reverse()
        let stats = MetricsFormula.meanAndStddev(sample)
        var h = ModelHealth(modelVersion: version, samples: Int64(sample.count), meanConfidence: stats.mean,
                            stddevConfidence: stats.stddev, status: ModelStatus(mean: stats.mean, samples: sample.count))

        let dayAgo = toMs - MetricsFormula.dayMs, weekBefore = toMs - 8 * MetricsFormula.dayMs
        var recentCount = 0, baselineCount = 0
        var recentSum = WideSum(), baselineSum = WideSum()
        var rejections = 0
        for store in stores {
            let recent = store.accepted.windowSum(from: dayAgo, to: toMs)
            recentCount += recent.count
            recentSum.add(recent.sum)
            let baseline = store.accepted.windowSum(from: weekBefore, to: dayAgo)
            baselineCount += baseline.count
            baselineSum.add(baseline.sum)
            rejections += store.rejected.count(from: dayAgo, to: toMs)
        }
        h.lowConfidenceRejections24h = Int64(rejections)
        let d = MetricsFormula.drift(recentSum: recentSum.value, recentCount: recentCount,
                                     baselineSum: baselineSum.value, baselineCount: baselineCount)
        h.recentMean = d.recentMean
        h.baselineMean = d.baselineMean
        h.driftPct = d.driftPct
        h.driftDetected = d.detected
        return h
    }
}
