// `takt timeline`: the hourly heatmap of spec/metrics.md section 7, one row per worker or workstation.
import ArgumentParser
import TaktDomain

struct TimelineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timeline",
        abstract: "Heatmap of utilization per hour (or --bucket), one row per worker, workstation or the factory.",
        discussion: """
        Each cell is one bucket, shaded by utilization: · none, ░ under 25%, ▒ under 50%, ▓ under 75%, \
        █ 75% and more (with --metric units, shaded relative to the busiest bucket). Bucket boundaries are \
        UTC unless --utc-offset moves them (+02:00, -330 minutes). Example: takt timeline --by workstation --from -12h
        """)

    enum Subject: String, ExpressibleByArgument, CaseIterable { case worker, workstation, factory }
    enum Metric: String, ExpressibleByArgument, CaseIterable { case utilization, units }

    @OptionGroup var global: GlobalOptions
    @OptionGroup var window: WindowOptions
    @OptionGroup var filter: EntityFilterOptions

    @Option(help: "One row per worker, workstation, or one row for the factory.")
    var by: Subject = .worker
    @Option(help: ArgumentHelp("Bucket length (must divide 24h): 1h, 30m, 15m, 2h ...", valueName: "duration"))
    var bucket: String = "1h"
    @Option(parsing: .unconditional, help: ArgumentHelp("Bucket boundaries and labels in this UTC offset: +02:00, -05:30, or minutes (120).", valueName: "offset"))
    var utcOffset: String = "+00:00"
    @Option(help: "Shade cells by utilization or by units.")
    var metric: Metric = .utilization

    func validate() throws {
        guard let b = try? Durations.parse(bucket, bareUnitMs: nil), b >= 60_000, 86_400_000 % b == 0 else {
            throw ValidationError("--bucket \(bucket): expected a duration of at least 1m that divides 24h, like 1h, 30m, 15m")
        }
        guard Self.offsetMinutes(utcOffset) != nil else {
            throw ValidationError("--utc-offset \(utcOffset): expected ±HH:MM (like +02:00) or minutes within ±840")
        }
    }

    static func offsetMinutes(_ text: String) -> Int32? {
        let t = text.trimmingSpaces
        if let m = Int32(t) { return abs(m) <= 840 ? m : nil }
        guard let sign = t.first, sign == "+" || sign == "-" else { return nil }
        let parts = t.dropFirst().split(separator: ":")
        guard parts.count == 2, let h = Int32(parts[0]), let m = Int32(parts[1]), h <= 14, m < 60 else { return nil }
        let v = h * 60 + m
        guard v <= 840 else { return nil }
        return sign == "-" ? -v : v
    }

    func run() async throws {
        let bucketMs = try Durations.parse(bucket, bareUnitMs: nil)
        let offset = Self.offsetMinutes(utcOffset) ?? 0
        let fetch = MetricsFetch(global: global, window: window, filter: filter)
        var q = try fetch.query(.timeline)
        q.bucketMs = bucketMs
        q.utcOffsetMinutes = offset
        q.timelineSubject = by == .worker ? .worker : by == .workstation ? .workstation : .factory
        let client = try await global.connect()
        defer { client.close() }
        let r = try await client.metrics(q)
        let rows = r.timeline.sorted { ($0.siteID, $0.entityID) < ($1.siteID, $1.entityID) }
        if global.json {
            JSON.object([
                ("window", .window(r.window)), ("bucket_ms", .int(bucketMs)), ("utc_offset_minutes", .int(Int64(offset))),
                ("subject", .string(by.rawValue)),
                ("rows", .array(rows.map { row in
                    var f: [(String, JSON)] = [("site_id", .string(row.siteID))]
                    switch row.subject {
                    case .worker: f.append(("worker_id", .string(row.entityID)))
                    case .workstation: f.append(("workstation_id", .string(row.entityID)))
                    case .factory: break
                    }
                    f.append(("buckets", .array(row.buckets.map { b in
                        .object([
                            ("start_ms", .int(b.startMs)), ("end_ms", .int(b.endMs)), ("working_ms", .int(b.workingMs)),
                            ("idle_ms", .int(b.idleMs)), ("utilization_pct", .double(b.utilizationPct)), ("units", .int(b.units)),
                        ])
                    })))
                    return .object(f)
                })),
            ]).print()
            return
        }
        Heatmap(rows: rows, bucketMs: bucketMs, offsetMinutes: Int(offset), metric: metric, style: global.style)
            .render(window: r.window).forEach { print($0) }
    }
}

/// Renders timeline rows as shaded cells with hour labels above them.
struct Heatmap {
    let rows: [TimelineRow]
    let bucketMs: Int64
    let offsetMinutes: Int
    let metric: TimelineCommand.Metric
    let style: Style

    static let shades = ["·", "░", "▒", "▓", "█"]

    func shade(_ b: TimelineBucket, maxUnits: Int64) -> (String, Double) {
        let pct: Double
        switch metric {
        case .utilization: pct = b.workingMs + b.idleMs > 0 ? b.utilizationPct : -1
        case .units: pct = b.units > 0 && maxUnits > 0 ? Double(b.units) * 100 / Double(maxUnits) : -1
        }
        if pct < 0 { return (Self.shades[0], 0) }
        let i = pct < 25 ? 1 : pct < 50 ? 2 : pct < 75 ? 3 : 4
        return (Self.shades[i], pct)
    }

    func render(window: TimeWindow) -> [String] {
        let s = style
        guard let first = rows.first, !first.buckets.isEmpty else {
            return [MetricsView.windowLine(window, s), "no data in this window"]
        }
        let multiSite = Set(rows.map(\.siteID)).count > 1
        let labels = rows.map { r in
            r.subject == .factory ? (multiSite ? r.siteID : "factory") : (multiSite ? "\(r.siteID)/\(r.entityID)" : r.entityID)
        }
        let labelWidth = max(labels.map(\.count).max() ?? 0, 5)
        let n = first.buckets.count
        let summaryWidth = 16
        let cellWidth = labelWidth + 2 + n * 2 + summaryWidth <= Terminal.columns ? 2 : 1
        let maxUnits = rows.flatMap(\.buckets).map(\.units).max() ?? 0

        var out: [String] = [MetricsView.windowLine(window, s) + s.dim(", buckets of \(Durations.format(bucketMs))"
            + (offsetMinutes == 0 ? " UTC" : " at UTC\(offsetMinutes < 0 ? "-" : "+")\(Self.hhmm(abs(offsetMinutes)))"))]
        // Hour labels (local hour where a bucket starts an hour) every k hours so they never touch,
        // and the date above the first label of each day.
        let colsPerHour = Double(3_600_000) / Double(bucketMs) * Double(cellWidth)
        let k = [1, 2, 3, 4, 6, 12, 24].first { Double($0) * colsPerHour >= 4 } ?? 24
        let width = n * cellWidth + 8
        var hours = [Character](repeating: " ", count: width)
        var days = [Character](repeating: " ", count: width)
        var nextFree = 0, nextDayFree = 0
        var lastDay = ""
        for (i, b) in first.buckets.enumerated() {
            let pos = i * cellWidth
            let localMs = b.startMs + Int64(offsetMinutes) * 60_000
            let msOfDay = ((localMs % 86_400_000) + 86_400_000) % 86_400_000
            guard msOfDay % 3_600_000 == 0, (msOfDay / 3_600_000) % Int64(k) == 0, pos >= nextFree else { continue }
            for (j, ch) in Self.pad2(msOfDay / 3_600_000).enumerated() { hours[pos + j] = ch }
            nextFree = pos + 3
            let day = String(RFC3339.format(b.startMs, offsetMinutes: offsetMinutes).prefix(10).suffix(5))
            if day != lastDay && pos >= nextDayFree {
                for (j, ch) in day.enumerated() where pos + j < width { days[pos + j] = ch }
                nextDayFree = pos + 6
                lastDay = day
            }
        }
        let indent = String(repeating: " ", count: labelWidth + 2)
        out.append(s.dim(indent + String(days).trimmingTrailingSpaces))
        out.append(s.dim(indent + String(hours).trimmingTrailingSpaces))
        let unitsTitle = metric == .units ? "units" : "util"
        for (row, label) in zip(rows, labels) {
            var line = s.bold(label) + String(repeating: " ", count: labelWidth - label.count + 2)
            for b in row.buckets {
                let (ch, pct) = shade(b, maxUnits: maxUnits)
                let cell = String(repeating: ch, count: cellWidth)
                line += ch == Self.shades[0] ? s.dim(cell) : s.level(metric == .units ? 80 : pct, cell)
            }
            let working = row.buckets.reduce(Int64(0)) { $0 + $1.workingMs }
            let idle = row.buckets.reduce(Int64(0)) { $0 + $1.idleMs }
            let units = row.buckets.reduce(Int64(0)) { $0 + $1.units }
            let util = working + idle > 0 ? Double(working) * 100 / Double(working + idle) : 0
            line += "  " + Format.pct(util) + " " + s.dim(Format.count(units) + "u")
            out.append(line)
        }
        out.append(s.dim("· none  ░ <25%  ▒ <50%  ▓ <75%  █ ≥75% \(unitsTitle == "units" ? "of the busiest bucket's units" : "utilization")  (right: utilization, units)"))
        return out
    }

    static func pad2(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
    static func hhmm(_ minutes: Int) -> String { pad2(Int64(minutes / 60)) + ":" + pad2(Int64(minutes % 60)) }
}
