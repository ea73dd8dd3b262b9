// `takt stats`: the server's counters (uptime, connections, stored events, results, calls per method).
import ArgumentParser
import TaktDomain

struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show the server's state: uptime, connections, store size, ingest results, calls per method.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let client = try await global.connect()
        defer { client.close() }
        let st = try await client.stats()
        let results = ResultCode.allCases.map { ($0, st.results[$0] ?? 0) }
        let methods = st.methods.filter { $0.calls > 0 }.sorted { $0.method.rawValue < $1.method.rawValue }
        if global.json {
            JSON.object([
                ("version", .string(st.version)), ("uptime_ms", .integer(st.uptimeMs)),
                ("durability", .string(st.durability)), ("strict", .bool(st.strict)),
                ("connections_open", .integer(st.connectionsOpen)), ("connections_total", .integer(st.connectionsTotal)),
                ("events_stored", .integer(st.eventsStored)), ("store_bytes", .integer(st.storeBytes)),
                ("wal_bytes", .integer(st.walBytes)), ("commits", .integer(st.commits)), ("subscribers", .integer(st.subscribers)),
                ("results", .object(results.map { ($0.0.name, .integer($0.1)) })),
                ("methods", .array(methods.map { m in
                    .object([
                        ("method", .string(m.method.name)), ("calls", .integer(m.calls)),
                        ("statuses", .object(m.statuses.sorted { $0.key.rawValue < $1.key.rawValue }
                            .map { ($0.key.name, .integer($0.value)) })),
                    ])
                })),
            ]).print()
            return
        }
        let s = global.style
        let rows: [(String, String)] = [
            ("server", "\(global.serverText)  taktd \(st.version)"),
            ("uptime", Durations.format(st.uptimeMs)),
            ("durability", st.durability + (st.strict ? ", strict registry" : ", auto-register")),
            ("connections", "\(st.connectionsOpen) open, \(Format.count(st.connectionsTotal)) total"),
            ("subscribers", "\(st.subscribers)"),
            ("events stored", Format.count(st.eventsStored)),
            ("store", "\(Format.bytes(st.storeBytes)) + WAL \(Format.bytes(st.walBytes)), \(Format.count(st.commits)) commits"),
            ("results", results.map { "\($0.0.name) \(Format.count($0.1))" }.joined(separator: "  ")),
        ]
        let w = rows.map(\.0.count).max() ?? 0
        for (k, v) in rows { print(s.bold(k + String(repeating: " ", count: w - k.count)) + "  " + v) }
        guard !methods.isEmpty else { return }
        print("")
        var t = Table([.init("METHOD"), .init("CALLS", .right), .init("STATUSES")])
        for m in methods {
            let statuses = m.statuses.sorted { $0.key.rawValue < $1.key.rawValue }
                .map { "\($0.key.name) \(Format.count($0.value))" }.joined(separator: "  ")
            t.add([Cell(m.method.name), Cell(Format.count(m.calls)), Cell(statuses)])
        }
        t.print(s)
    }
}
