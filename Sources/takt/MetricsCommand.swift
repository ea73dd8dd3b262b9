// `takt metrics factory|workers|workstations|all`: the numbers of spec/metrics.md sections 3-5.
import ArgumentParser
import TaktClient
import TaktDomain
import TaktPosix

struct MetricsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Productivity metrics for a window: factory KPIs, worker leaderboard, workstation occupancy.",
        discussion: """
        Examples:
          takt metrics workers --from -8h --sort units-per-hour
          takt metrics workstations --site plant-2 --json
          takt metrics factory --from 2025-11-26T06:00:00Z --to 2025-11-26T14:00:00Z
        """,
        subcommands: [MetricsAll.self, MetricsFactory.self, MetricsWorkers.self, MetricsWorkstations.self],
        defaultSubcommand: MetricsAll.self)
}

/// The filter options of metric and timeline queries.
struct EntityFilterOptions: ParsableArguments {
    @Option(name: .customLong("worker"), help: "Only this worker (repeat for more).")
    var workers: [String] = []
    @Option(name: .customLong("station"), help: "Only this workstation (repeat for more).")
    var stations: [String] = []
}

/// Queries metrics, with the registry's names beside them when the registry has any.
struct MetricsFetch {
    let global: GlobalOptions
    let window: WindowOptions
    var workers: [String] = []
    var stations: [String] = []

    init(global: GlobalOptions, window: WindowOptions, filter: EntityFilterOptions? = nil) {
        self.global = global
        self.window = window
        workers = filter?.workers ?? []
        stations = filter?.stations ?? []
    }

    func query(_ scope: MetricsScope) throws -> MetricsQuery {
        let (from, to) = try window.resolve()
        return MetricsQuery(scope: scope, fromMs: from, toMs: to, siteID: window.site, workerIDs: workers,
                            workstationIDs: stations)
    }

    func run(_ scope: MetricsScope, names: Bool) async throws -> (MetricsResponse, Names) {
        let q = try query(scope)
        let client = try await global.connect()
        defer { client.close() }
        async let response = client.metrics(q)
        let n = names ? await Names.load(client, site: window.site) : Names()
        return (try await response, n)
    }
}

/// Registry names by (site, id).
struct Names: Sendable {
    var workers: [String: String] = [:]
    var stations: [String: String] = [:]

    static func load(_ client: TaktClient, site: String?) async -> Names {
        var n = Names()
        if let ws = try? await client.listWorkers(siteID: site) {
            for w in ws where !w.name.isEmpty { n.workers[w.siteID + "/" + w.workerID] = w.name }
        }
        if let ss = try? await client.listWorkstations(siteID: site) {
            for s in ss where !s.name.isEmpty { n.stations[s.siteID + "/" + s.workstationID] = s.name }
        }
        return n
    }

    func worker(_ site: String, _ id: String) -> String? { workers[site + "/" + id] }
    func station(_ site: String, _ id: String) -> String? { stations[site + "/" + id] }
}

extension WorkerMetrics {
    /// Seen at all in the window (registered workers with no event are listed by the server too).
    var isActive: Bool { workingMs + idleMs > 0 || units + unitsOutsideWorking > 0 || lastSeenMs != nil }
}

extension WorkstationMetrics {
    var isActive: Bool { occupancyMs > 0 || units > 0 || lastActivityMs != nil }
}

enum MetricsView {
    /// "… 3 workers without activity in this window (--all lists them)".
    static func hiddenNote(_ n: Int, _ what: String, _ s: Style) -> String? {
        n == 0 ? nil : s.dim("… \(n) \(what)\(n == 1 ? "" : "s") without activity in this window (--all lists them)")
    }

    /// A table of the rows with activity (all rows with `all`), then a note on the ones left out.
    static func activeRows<Row>(_ rows: [Row], all: Bool, isActive: (Row) -> Bool, noun: String, _ s: Style,
                                table: ([Row]) -> [String]) -> [String] {
        let shown = all ? rows : rows.filter(isActive)
        var lines = shown.isEmpty ? [] : table(shown)
        if let note = hiddenNote(rows.count - shown.count, noun, s) { lines.append(note) }
        return lines
    }

    static func windowLine(_ w: TimeWindow, _ s: Style) -> String {
        s.dim("window \(TimeText.local(w.fromMs)) → \(TimeText.local(w.toMs)) (\(Durations.format(w.lengthMs)))")
    }

    static func factory(_ f: FactoryMetrics, _ s: Style) -> [String] {
        let rows: [(String, String)] = [
            ("active workers", "\(f.activeWorkers)"),
            ("active workstations", "\(f.activeWorkstations)"),
            ("total working", Durations.format(f.totalWorkingMs)),
            ("total units", Format.count(f.totalUnits)),
            ("avg utilization", Format.utilization(f.avgUtilizationPct, width: 20, style: s).styled),
            ("avg units/hour", Format.fixed(f.avgUnitsPerHour, 1)),
        ]
        let w = rows.map(\.0.count).max() ?? 0
        return rows.map { s.bold($0.0 + String(repeating: " ", count: w - $0.0.count)) + "  " + $0.1 }
    }

    static func workers(_ rows: [WorkerMetrics], names: Names, _ s: Style) -> [String] {
        let sites = Set(rows.map(\.siteID)).count > 1
        let showNames = rows.contains { names.worker($0.siteID, $0.workerID) != nil }
        var cols: [Table.Column] = [.init("#", .right)]
        if sites { cols.append(.init("SITE")) }
        cols.append(.init("WORKER"))
        if showNames { cols.append(.init("NAME")) }
        cols += [.init("UTILIZATION"), .init("WORKING", .right), .init("IDLE", .right), .init("ABSENT", .right),
                 .init("UNITS", .right), .init("UNITS/H", .right), .init("LAST SEEN")]
        var t = Table(cols)
        for (i, m) in rows.enumerated() {
            var r: [Cell] = [Cell("\(i + 1)")]
            if sites { r.append(Cell(m.siteID)) }
            r.append(Cell(m.workerID, styled: s.bold(m.workerID)))
            if showNames { r.append(Cell(names.worker(m.siteID, m.workerID) ?? "")) }
            r += [Format.utilization(m.utilizationPct, width: 12, style: s), Cell(Durations.format(m.workingMs)),
                  Cell(Durations.format(m.idleMs)), Cell(Durations.format(m.absentMs)), Cell(Format.count(m.units)),
                  Cell(Format.fixed(m.unitsPerHour, 1)), Cell(m.lastSeenMs.map { TimeText.local($0) } ?? "-")]
            t.add(r)
        }
        return t.render(s)
    }

    static func workstations(_ rows: [WorkstationMetrics], names: Names, _ s: Style) -> [String] {
        let sites = Set(rows.map(\.siteID)).count > 1
        let showNames = rows.contains { names.station($0.siteID, $0.workstationID) != nil }
        var cols: [Table.Column] = [.init("#", .right)]
        if sites { cols.append(.init("SITE")) }
        cols.append(.init("STATION"))
        if showNames { cols.append(.init("NAME")) }
        cols += [.init("OCCUPANCY"), .init("OCCUPIED", .right), .init("WORKING", .right), .init("UNITS", .right),
                 .init("UNITS/H", .right), .init("LAST ACTIVITY")]
        var t = Table(cols)
        for (i, m) in rows.enumerated() {
            var r: [Cell] = [Cell("\(i + 1)")]
            if sites { r.append(Cell(m.siteID)) }
            r.append(Cell(m.workstationID, styled: s.bold(m.workstationID)))
            if showNames { r.append(Cell(names.station(m.siteID, m.workstationID) ?? "")) }
            r += [Format.utilization(m.utilizationPct, width: 12, style: s), Cell(Durations.format(m.occupancyMs)),
                  Cell(Durations.format(m.workingMs)), Cell(Format.count(m.units)),
                  Cell(Format.fixed(m.throughputPerHour, 1)), Cell(m.lastActivityMs.map { TimeText.local($0) } ?? "-")]
            t.add(r)
        }
        return t.render(s)
    }
}

enum WorkerSort: String, ExpressibleByArgument, CaseIterable {
    case utilization, units, unitsPerHour = "units-per-hour", working, idle, absent, lastSeen = "last-seen", id

    func sorted(_ rows: [WorkerMetrics], reverse: Bool) -> [WorkerMetrics] {
        // Descending by the metric (ascending by id), ties by site and id so output is stable.
        let key: (WorkerMetrics) -> Double
        switch self {
        case .utilization: key = { $0.utilizationPct }
        case .units: key = { Double($0.units) }
        case .unitsPerHour: key = { $0.unitsPerHour }
        case .working: key = { Double($0.workingMs) }
        case .idle: key = { Double($0.idleMs) }
        case .absent: key = { Double($0.absentMs) }
        case .lastSeen: key = { Double($0.lastSeenMs ?? 0) }
        case .id: key = { _ in 0 }
        }
        let out = rows.sorted { a, b in
            let ka = key(a), kb = key(b)
            if ka != kb { return ka > kb }
            return (a.siteID, a.workerID) < (b.siteID, b.workerID)
        }
        return reverse ? out.reversed() : out
    }
}

enum StationSort: String, ExpressibleByArgument, CaseIterable {
    case utilization, units, throughput, occupancy, working, lastActivity = "last-activity", id

    func sorted(_ rows: [WorkstationMetrics], reverse: Bool) -> [WorkstationMetrics] {
        let key: (WorkstationMetrics) -> Double
        switch self {
        case .utilization: key = { $0.utilizationPct }
        case .units: key = { Double($0.units) }
        case .throughput: key = { $0.throughputPerHour }
        case .occupancy: key = { Double($0.occupancyMs) }
        case .working: key = { Double($0.workingMs) }
        case .lastActivity: key = { Double($0.lastActivityMs ?? 0) }
        case .id: key = { _ in 0 }
        }
        let out = rows.sorted { a, b in
            let ka = key(a), kb = key(b)
            if ka != kb { return ka > kb }
            return (a.siteID, a.workstationID) < (b.siteID, b.workstationID)
        }
        return reverse ? out.reversed() : out
    }
}

struct MetricsAll: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "all", abstract: "Factory KPIs, worker leaderboard and workstations of one window (the default).")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var window: WindowOptions
    @OptionGroup var filter: EntityFilterOptions

    @Flag(help: "Also list workers and workstations without activity in the window (tables; JSON lists all).")
    var all = false

    func run() async throws {
        let (r, names) = try await MetricsFetch(global: global, window: window, filter: filter).run(.all, names: !global.json)
        let workers = WorkerSort.utilization.sorted(r.workers, reverse: false)
        let stations = StationSort.utilization.sorted(r.workstations, reverse: false)
        if global.json {
            JSON.object([
                ("window", .window(r.window)), ("factory", r.factory.map { .factory($0) } ?? .null),
                ("workers", .array(workers.map { .worker($0) })),
                ("workstations", .array(stations.map { .workstation($0) })),
            ]).print()
            return
        }
        let s = global.style
        print(MetricsView.windowLine(r.window, s))
        if let f = r.factory { MetricsView.factory(f, s).forEach { print($0) } }
        MetricsView.activeRows(workers, all: all, isActive: \.isActive, noun: "worker", s) {
            [""] + MetricsView.workers($0, names: names, s)
        }.forEach { print($0) }
        MetricsView.activeRows(stations, all: all, isActive: \.isActive, noun: "workstation", s) {
            [""] + MetricsView.workstations($0, names: names, s)
        }.forEach { print($0) }
    }
}

struct MetricsFactory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "factory", abstract: "Factory KPIs: active workers and stations, working time, units, averages.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var window: WindowOptions

    func run() async throws {
        let (r, _) = try await MetricsFetch(global: global, window: window).run(.factory, names: false)
        let f = r.factory ?? FactoryMetrics()
        if global.json {
            JSON.object([("window", .window(r.window)), ("factory", .factory(f))]).print()
            return
        }
        print(MetricsView.windowLine(r.window, global.style))
        MetricsView.factory(f, global.style).forEach { print($0) }
    }
}

/// Order, length and completeness of a leaderboard (`metrics workers|workstations`).
struct ListingOptions: ParsableArguments {
    @Flag(help: "Reverse the order.")
    var reverse = false
    @Option(help: "Show only the first N rows.")
    var limit: Int?
    @Flag(help: "Also list rows without activity in the window (tables; JSON lists all).")
    var all = false

    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit must be >= 0, got \(limit)") }
    }

    func limited<Row>(_ rows: [Row]) -> [Row] { limit.map { Array(rows.prefix($0)) } ?? rows }
}

struct MetricsWorkers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workers", abstract: "Worker leaderboard: utilization, working/idle/absent time, units, units/hour.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var window: WindowOptions
    @OptionGroup var filter: EntityFilterOptions

    @Option(help: "Order (descending): utilization, units, units-per-hour, working, idle, absent, last-seen, id.")
    var sort: WorkerSort = .utilization
    @OptionGroup var listing: ListingOptions

    func run() async throws {
        let (r, names) = try await MetricsFetch(global: global, window: window, filter: filter).run(.workers, names: true)
        let rows = listing.limited(sort.sorted(r.workers, reverse: listing.reverse))
        if global.json {
            JSON.object([
                ("window", .window(r.window)),
                ("workers", .array(rows.map { .worker($0, name: names.worker($0.siteID, $0.workerID)) })),
            ]).print()
            return
        }
        print(MetricsView.windowLine(r.window, global.style))
        if rows.isEmpty { print("no workers in this window") }
        MetricsView.activeRows(rows, all: listing.all, isActive: \.isActive, noun: "worker", global.style) {
            MetricsView.workers($0, names: names, global.style)
        }.forEach { print($0) }
    }
}

struct MetricsWorkstations: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workstations", abstract: "Workstations: occupancy, working time, units, throughput/hour.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var window: WindowOptions
    @OptionGroup var filter: EntityFilterOptions

    @Option(help: "Order (descending): utilization, units, throughput, occupancy, working, last-activity, id.")
    var sort: StationSort = .utilization
    @OptionGroup var listing: ListingOptions

    func run() async throws {
        let (r, names) = try await MetricsFetch(global: global, window: window, filter: filter).run(.workstations, names: true)
        let rows = listing.limited(sort.sorted(r.workstations, reverse: listing.reverse))
        if global.json {
            JSON.object([
                ("window", .window(r.window)),
                ("workstations", .array(rows.map { .workstation($0, name: names.station($0.siteID, $0.workstationID)) })),
            ]).print()
            return
        }
        print(MetricsView.windowLine(r.window, global.style))
        if rows.isEmpty { print("no workstations in this window") }
        MetricsView.activeRows(rows, all: listing.all, isActive: \.isActive, noun: "workstation", global.style) {
            MetricsView.workstations($0, names: names, global.style)
        }.forEach { print($0) }
    }
}
