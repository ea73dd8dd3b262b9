// A small JSON writer with ordered keys (spec field order) and exact doubles (shortest round-trip form).
import TaktDomain

indirect enum JSON {
    case object([(String, JSON)])
    case array([JSON])
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)
    case null

    static func integer<T: BinaryInteger>(_ v: T) -> JSON { .int(Int64(clamping: v)) }
    static func optional(_ v: Int64?) -> JSON { v.map { .int($0) } ?? .null }
    static func optional(_ v: Double?) -> JSON { v.map { .double($0) } ?? .null }

    func render(pretty: Bool = true) -> String {
        var out = ""
        write(to: &out, pretty: pretty, indent: 0)
        return out
    }

    private func write(to out: inout String, pretty: Bool, indent: Int) {
        let nl = pretty ? "\n" : ""
        func pad(_ n: Int) -> String { pretty ? String(repeating: "  ", count: n) : "" }
        switch self {
        case .object(let fields):
            if fields.isEmpty { out += "{}"; return }
            out += "{" + nl
            for (i, (k, v)) in fields.enumerated() {
                out += pad(indent + 1)
                JSON.string(k).write(to: &out, pretty: pretty, indent: 0)
                out += pretty ? ": " : ":"
                v.write(to: &out, pretty: pretty, indent: indent + 1)
                out += i == fields.count - 1 ? nl : "," + nl
            }
            out += pad(indent) + "}"
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            out += "[" + nl
            for (i, v) in items.enumerated() {
                out += pad(indent + 1)
                v.write(to: &out, pretty: pretty, indent: indent + 1)
                out += i == items.count - 1 ? nl : "," + nl
            }
            out += pad(indent) + "]"
        case .string(let s):
            out += "\""
            for ch in s.unicodeScalars {
                switch ch {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                default:
                    if ch.value < 0x20 {
                        let hex = String(ch.value, radix: 16)
                        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                    } else {
                        out.unicodeScalars.append(ch)
                    }
                }
            }
            out += "\""
        case .int(let v): out += String(v)
        case .double(let d): out += d.isFinite ? d.description : "null"
        case .bool(let b): out += b ? "true" : "false"
        case .null: out += "null"
        }
    }

    func print(pretty: Bool = true) { Swift.print(render(pretty: pretty)) }
}

/// Domain values with the field names of spec/metrics.md.
extension JSON {
    static func window(_ w: TimeWindow) -> JSON {
        .object([("from_ms", .int(w.fromMs)), ("to_ms", .int(w.toMs))])
    }

    static func worker(_ m: WorkerMetrics, name: String? = nil) -> JSON {
        var f: [(String, JSON)] = [
            ("site_id", .string(m.siteID)), ("worker_id", .string(m.workerID)),
        ]
        if let name, !name.isEmpty { f.append(("name", .string(name))) }
        f += [
            ("working_ms", .int(m.workingMs)), ("idle_ms", .int(m.idleMs)), ("absent_ms", .int(m.absentMs)),
            ("utilization_pct", .double(m.utilizationPct)), ("units", .int(m.units)),
            ("units_outside_working", .int(m.unitsOutsideWorking)), ("units_per_hour", .double(m.unitsPerHour)),
        ]
        if let t = m.lastSeenMs { f.append(("last_seen_ms", .int(t))) }
        return .object(f)
    }

    static func workstation(_ m: WorkstationMetrics, name: String? = nil) -> JSON {
        var f: [(String, JSON)] = [
            ("site_id", .string(m.siteID)), ("workstation_id", .string(m.workstationID)),
        ]
        if let name, !name.isEmpty { f.append(("name", .string(name))) }
        f += [
            ("occupancy_ms", .int(m.occupancyMs)), ("working_ms", .int(m.workingMs)),
            ("utilization_pct", .double(m.utilizationPct)), ("units", .int(m.units)),
            ("throughput_per_hour", .double(m.throughputPerHour)),
        ]
        if let t = m.lastActivityMs { f.append(("last_activity_ms", .int(t))) }
        return .object(f)
    }

    static func factory(_ m: FactoryMetrics) -> JSON {
        .object([
            ("active_workers", .int(m.activeWorkers)), ("active_workstations", .int(m.activeWorkstations)),
            ("total_working_ms", .int(m.totalWorkingMs)), ("total_units", .int(m.totalUnits)),
            ("avg_utilization_pct", .double(m.avgUtilizationPct)), ("avg_units_per_hour", .double(m.avgUnitsPerHour)),
        ])
    }

    static func modelHealth(_ h: ModelHealth) -> JSON {
        var f: [(String, JSON)] = []
        if let v = h.modelVersion { f.append(("model_version", .string(v))) }
        f += [
            ("samples", .int(h.samples)), ("mean_confidence", .double(h.meanConfidence)),
            ("stddev_confidence", .double(h.stddevConfidence)), ("status", .string(h.status.name)),
            ("low_confidence_rejections_24h", .int(h.lowConfidenceRejections24h)),
        ]
        if let v = h.recentMean { f.append(("recent_mean", .double(v))) }
        if let v = h.baselineMean { f.append(("baseline_mean", .double(v))) }
        if let v = h.driftPct { f.append(("drift_pct", .double(v))) }
        f.append(("drift_detected", .bool(h.driftDetected)))
        return .object(f)
    }

    /// An event as a JSON Lines object `takt ingest` reads back (received_at_ms is ignored there).
    static func event(_ s: StoredEvent) -> JSON {
        let e = s.event
        var f: [(String, JSON)] = [
            ("event_time_ms", .int(e.eventTimeMs)), ("worker_id", .string(e.workerID)),
            ("workstation_id", .string(e.workstationID)), ("kind", .string(e.kind.name)),
            ("confidence", .double(e.confidence)),
        ]
        if e.kind == .productCount { f.append(("count", .integer(e.units))) }
        f.append(("site_id", .string(e.effectiveSiteID)))
        if !e.modelVersion.isEmpty { f.append(("model_version", .string(e.modelVersion))) }
        f.append(("received_at_ms", .int(s.receivedAtMs)))
        return .object(f)
    }
}
