// The state and the drawing of `takt top`. All state lives on one serial queue; frames are written
// with one write(2) each, in the alternate screen buffer, so the user's scrollback is untouched.
@preconcurrency import Dispatch
import Foundation
import TaktDomain
import TaktPosix

final class TopScreen: @unchecked Sendable {
    // @unchecked: every mutable field below is touched only on `queue`.
    private let queue = DispatchQueue(label: "takt.top.screen")
    private let server: String
    private let windowMs: Int64
    private let site: String?
    private var sort: WorkerSort
    private let style: Style
    private let raw: RawTerminal

    private var metrics: MetricsResponse?
    private var names = Names()
    private var events: [StoredEvent] = []
    private var seen = Set<Int64>()
    private var state: [String: (kind: EventKind, station: String, timeMs: Int64)] = [:]
    /// Arrival times (monotonic ns) of live events in the last minute.
    private var arrivals: [UInt64] = []
    private var live = false
    private var error: String?
    private var errorAtNs: UInt64 = 0
    private var updatedMs: Int64?
    private var redrawScheduled = false
    private var dirty = false
    private var refreshRequested = false
    private var quitting = false
    private var timer: (any DispatchSourceTimer)?

    init(server: String, windowMs: Int64, site: String?, sort: WorkerSort, style: Style, raw: RawTerminal) {
        self.server = server
        self.windowMs = windowMs
        self.site = site
        self.sort = sort
        self.style = style
        self.raw = raw
    }

    /// Alternate screen, hidden cursor, first frame, and a redraw every second (clock, "ago" times).
    func start() {
        Self.write("\u{1B}[?1049h\u{1B}[?25l\u{1B}[H\u{1B}[2J")
        queue.sync { draw() }
        let t = DispatchSource.makeTimerSource(queue: queue)
        t.schedule(deadline: .now() + 1, repeating: 1)
        t.setEventHandler { [weak self] in self?.draw() }
        t.resume()
        queue.sync { timer = t }
    }

    /// Restores the terminal and exits.
    func quit(status: Int32) -> Never {
        queue.sync { quitting = true }
        raw.restore()
        Self.write("\u{1B}[0m\u{1B}[?25h\u{1B}[?1049l")
        exit(status)
    }

    func redraw() { queue.async { self.draw() } }

    func setNames(_ n: Names) { queue.async { self.names = n; self.scheduleDraw() } }

    func setMetrics(_ r: MetricsResponse) {
        queue.async {
            self.metrics = r
            self.updatedMs = System.nowMs()
            self.error = nil
            self.scheduleDraw()
        }
    }

    func setError(_ message: String) {
        queue.async {
            self.error = message
            self.errorAtNs = System.monotonicNs()
            self.scheduleDraw()
        }
    }

    func setLive(_ on: Bool) { queue.async { self.live = on; self.scheduleDraw() } }

    func addEvents(_ new: [StoredEvent], live isLive: Bool) {
        queue.async {
            for e in new where !self.seen.contains(e.sequence) {
                self.seen.insert(e.sequence)
                self.events.append(e)
                if e.event.kind.isState {
                    let key = e.event.effectiveSiteID + "/" + e.event.workerID
                    if let old = self.state[key], old.timeMs > e.event.eventTimeMs {} else {
                        self.state[key] = (e.event.kind, e.event.workstationID, e.event.eventTimeMs)
                    }
                }
                if isLive { self.arrivals.append(System.monotonicNs()) }
            }
            if self.events.count > 200 {
                let drop = self.events.count - 100
                for e in self.events.prefix(drop) { self.seen.remove(e.sequence) }
                self.events.removeFirst(drop)
            }
            if isLive { self.dirty = true }
            self.scheduleDraw()
        }
    }

    /// True once after new live events arrived (the refresher then re-queries the metrics).
    func takeDirty() -> Bool { queue.sync { defer { dirty = false }; return dirty } }
    func takeRefreshRequest() -> Bool { queue.sync { defer { refreshRequested = false }; return refreshRequested } }
    func requestRefresh() { queue.async { self.refreshRequested = true } }

    func nextSort() {
        queue.async {
            let all: [WorkerSort] = [.utilization, .unitsPerHour, .units, .working, .idle, .id]
            let i = all.firstIndex(of: self.sort) ?? -1
            self.sort = all[(i + 1) % all.count]
            self.draw()
        }
    }

    /// At most ~10 frames a second however fast events come.
    private func scheduleDraw() {
        guard !redrawScheduled else { return }
        redrawScheduled = true
        queue.asyncAfter(deadline: .now() + .milliseconds(100)) {
            self.redrawScheduled = false
            self.draw()
        }
    }

    private func draw() {
        guard !quitting else { return }
        let size = Terminal.size() ?? (columns: 100, rows: 30)
        let lines = render(width: size.columns, height: size.rows)
        var frame = "\u{1B}[H"
        for (i, l) in lines.enumerated() {
            frame += l + "\u{1B}[0m\u{1B}[K"
            if i < lines.count - 1 { frame += "\r\n" }
        }
        frame += "\u{1B}[J"
        Self.write(frame)
    }

    static func write(_ s: String) {
        var bytes = Array(s.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(1, $0.baseAddress! + off, $0.count - off) }
            if n < 0 { if errno == EINTR { continue }; return }
            off += n
        }
    }

    // MARK: Layout

    /// Lines measured without colour, printed with it; a line too wide is cut (and printed plain).
    private struct Screen {
        var width: Int
        var lines: [String] = []
        mutating func add(plain: String, styled: String) {
            lines.append(plain.count > width ? String(plain.prefix(width)) : styled)
        }
        mutating func add(_ t: Table, _ style: Style, limit: Int) {
            let plain = t.render(.plain), styled = t.render(style)
            for (p, s) in zip(plain, styled).prefix(limit) { add(plain: p, styled: s) }
        }
    }

    private func render(width: Int, height: Int) -> [String] {
        let s = style
        var out = Screen(width: width)
        let now = System.nowMs()
        let title = "takt top  \(server)  last \(Durations.format(windowMs))\(site.map { "  site \($0)" } ?? "")  \(TimeText.clock(now))"
        let keys = "q quit  r refresh  s sort"
        let gap = max(2, width - title.count - keys.count)
        out.add(plain: title + String(repeating: " ", count: gap) + keys,
                styled: s.inverse(s.bold(title) + String(repeating: " ", count: gap) + keys))

        guard let m = metrics else {
            out.add(plain: "", styled: "")
            let msg = error ?? "loading metrics from \(server)…"
            out.add(plain: msg, styled: error == nil ? s.dim(msg) : s.red(msg))
            return Array(out.lines.prefix(height))
        }
        let f = m.factory ?? FactoryMetrics()
        let util = Format.utilization(f.avgUtilizationPct, width: 10, style: s)
        let kpiPlain = "ACTIVE WORKERS \(f.activeWorkers)   ACTIVE STATIONS \(f.activeWorkstations)   AVG UTILIZATION \(util.text)   UNITS \(Format.count(f.totalUnits))   UNITS/H \(Format.fixed(f.avgUnitsPerHour, 1))   WORKING \(Durations.format(f.totalWorkingMs))"
        let kpiStyled = "\(s.dim("ACTIVE WORKERS")) \(s.bold("\(f.activeWorkers)"))   \(s.dim("ACTIVE STATIONS")) \(s.bold("\(f.activeWorkstations)"))   \(s.dim("AVG UTILIZATION")) \(util.styled)   \(s.dim("UNITS")) \(s.bold(Format.count(f.totalUnits)))   \(s.dim("UNITS/H")) \(s.bold(Format.fixed(f.avgUnitsPerHour, 1)))   \(s.dim("WORKING")) \(s.bold(Durations.format(f.totalWorkingMs)))"
        out.add(plain: kpiPlain, styled: kpiStyled)
        out.add(plain: "", styled: "")

        // Space: title, KPIs, blank = 3; section titles 3 + blanks 2 + status 1; the rest is shared.
        let free = max(6, height - 9)
        let workers = sort.sorted(m.workers, reverse: false)
        let stations = StationSort.utilization.sorted(m.workstations, reverse: false)
        let workerRows = min(workers.count, max(2, free * 2 / 5))
        let stationRows = min(stations.count, max(2, (free - workerRows) / 2))
        let eventRows = max(1, free - workerRows - stationRows - 3)

        let lbTitle = "LEADERBOARD by \(sort.rawValue)"
        out.add(plain: lbTitle, styled: s.bold(lbTitle))
        var lb = Table([.init("#", .right), .init("WORKER"), .init("NAME"), .init("UTILIZATION"), .init("UNITS", .right),
                        .init("UNITS/H", .right), .init("WORKING", .right), .init("NOW")])
        for (i, w) in workers.prefix(workerRows).enumerated() {
            let key = w.siteID + "/" + w.workerID
            var now = Cell("-")
            if let st = state[key] {
                let text = "\(st.kind.name) @\(st.station) \(Durations.format(max(0, System.nowMs() - st.timeMs))) ago"
                let colored: String
                switch st.kind {
                case .working: colored = s.green(text)
                case .idle: colored = s.yellow(text)
                default: colored = s.dim(text)
                }
                now = Cell(text, styled: colored)
            }
            lb.add([Cell("\(i + 1)"), Cell(w.workerID, styled: s.bold(w.workerID)), Cell(names.worker(w.siteID, w.workerID) ?? ""),
                    Format.utilization(w.utilizationPct, width: 10, style: s), Cell(Format.count(w.units)),
                    Cell(Format.fixed(w.unitsPerHour, 1)), Cell(Durations.format(w.workingMs)), now])
        }
        out.add(lb, s, limit: workerRows + 1)
        if workers.count > workerRows { out.add(plain: "  … \(workers.count - workerRows) more", styled: s.dim("  … \(workers.count - workerRows) more")) }
        out.add(plain: "", styled: "")

        out.add(plain: "STATIONS by occupancy", styled: s.bold("STATIONS by occupancy"))
        var st = Table([.init("STATION"), .init("NAME"), .init("OCCUPANCY"), .init("UNITS", .right), .init("UNITS/H", .right),
                        .init("LAST ACTIVITY")])
        for w in stations.prefix(stationRows) {
            st.add([Cell(w.workstationID, styled: s.bold(w.workstationID)), Cell(names.station(w.siteID, w.workstationID) ?? ""),
                    Format.utilization(w.utilizationPct, width: 10, style: s), Cell(Format.count(w.units)),
                    Cell(Format.fixed(w.throughputPerHour, 1)),
                    Cell(w.lastActivityMs.map { "\(Durations.format(max(0, now - $0))) ago" } ?? "-")])
        }
        out.add(st, s, limit: stationRows + 1)
        out.add(plain: "", styled: "")

        out.add(plain: "LAST EVENTS", styled: s.bold("LAST EVENTS"))
        for e in events.suffix(eventRows).reversed() {
            let ev = e.event
            let units = ev.kind == .productCount ? " ×\(ev.units)" : ""
            let text = "\(TimeText.clock(ev.eventTimeMs))  \(ev.workerID)  \(ev.workstationID)  \(ev.kind.name)\(units)  \(Format.fixed(ev.confidence, 2))"
            let k: String
            switch ev.kind {
            case .working: k = s.green(ev.kind.name)
            case .idle: k = s.yellow(ev.kind.name)
            case .absent: k = s.dim(ev.kind.name)
            case .productCount: k = s.cyan(ev.kind.name)
            }
            out.add(plain: text, styled: "\(s.dim(TimeText.clock(ev.eventTimeMs)))  \(ev.workerID)  \(ev.workstationID)  \(k)\(units)  \(Format.fixed(ev.confidence, 2))")
        }

        // Status line at the bottom.
        var lines = Array(out.lines.prefix(height - 1))
        while lines.count < height - 1 { lines.append("") }
        let minuteAgo = System.monotonicNs() &- 60_000_000_000
        arrivals.removeAll { $0 < minuteAgo }
        var status = live ? "● live  \(arrivals.count) events in the last minute" : "○ not live (reconnecting)"
        if let u = updatedMs { status += "  metrics at \(TimeText.clock(u))" }
        if let e = error { status += "  " + e }
        let cut = status.count > width ? String(status.prefix(width)) : status
        lines.append(error != nil ? s.red(cut) : live ? s.green(cut) : s.yellow(cut))
        return lines
    }
}
