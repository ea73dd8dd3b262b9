// `takt events`: recent stored events, newest last, paged through ListEvents; --follow streams live ones.
import ArgumentParser
import Foundation
import TaktClient
import TaktDomain

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "List recent events (filters by worker, station, kind, site, time); --follow streams new ones live.",
        discussion: """
        --json prints JSON Lines (one event per line, spec field names plus received_at_ms), which \
        `takt ingest -` reads back. Examples:
          takt events --worker W1 --kind product_count --limit 50
          takt events --follow --station S3
        """)

    @OptionGroup var global: GlobalOptions

    @Option(name: .customLong("worker"), help: "Only this worker (repeat for more).")
    var workers: [String] = []
    @Option(name: .customLong("station"), help: "Only this workstation (repeat for more).")
    var stations: [String] = []
    @Option(name: .customLong("kind"), help: "Only this kind: working, idle, absent, product_count (repeat for more).")
    var kinds: [String] = []
    @Option(help: "Only this site.")
    var site: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Only events at or after this time (RFC 3339, ms, or relative like -1h).", valueName: "time"))
    var from: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Only events before this time.", valueName: "time"))
    var to: String?
    @Option(help: "How many recent events to show (0: none, only follow).")
    var limit: Int = 20
    @Flag(name: .shortAndLong, help: "Keep running and print new events as they are stored (Ctrl-C stops).")
    var follow = false
    @Option(help: "With --follow: exit after this many live events.")
    var exitAfter: Int?

    func validate() throws {
        for k in kinds where EventKind(name: k) == nil {
            throw ValidationError("--kind \(k): expected working, idle, absent or product_count")
        }
        if let from { _ = try TimeText.parseForValidation(from, flag: "--from") }
        if let to { _ = try TimeText.parseForValidation(to, flag: "--to") }
        guard limit >= 0 else { throw ValidationError("--limit must be >= 0") }
        if exitAfter != nil && !follow { throw ValidationError("--exit-after needs --follow") }
    }

    func run() async throws {
        let filter = EventFilter(siteID: site, workerIDs: workers, workstationIDs: stations,
                                 kinds: kinds.compactMap { EventKind(name: $0) },
                                 fromMs: try from.map { try TimeText.parse($0, flag: "--from") },
                                 toMs: try to.map { try TimeText.parse($0, flag: "--to") })
        let client = try await global.connect()
        defer { client.close() }
        let printer = EventPrinter(json: global.json, style: global.style)
        // Subscribe before listing so nothing committed in between is missed; the listing's events are
        // then skipped in the stream by their store sequence.
        let live = follow ? try await client.subscribe(filter) : nil
        var recent: [StoredEvent] = []
        var token = ""
        while recent.count < limit {
            let page = try await client.listEvents(ListEventsRequest(filter: filter, pageSize: min(limit - recent.count, 1_000),
                                                                     pageToken: token))
            recent += page.events
            token = page.nextPageToken
            if token.isEmpty { break }
        }
        printer.header()
        for e in recent.reversed() { printer.print(e) }
        Output.flush()
        guard let live else {
            if recent.isEmpty && !global.json { Output.stderr("no events match\n") }
            return
        }
        let seen = Set(recent.map(\.sequence))
        if !global.json { Output.stderr("following live events (Ctrl-C to stop)…\n") }
        var printed = 0
        var stream = live
        // Like `tail -F`: a lost stream (server restart, network) is resubscribed with backoff; only a
        // refusal (permission, bad filter) ends the command.
        while true {
            do {
                for try await update in stream {
                    if update.dropped > 0 {
                        Output.stderr("takt: \(update.dropped) live events were dropped because this terminal fell behind\n")
                    }
                    for e in update.events where !seen.contains(e.sequence) {
                        printer.print(e)
                        printed += 1
                        if let n = exitAfter, printed >= n {
                            Output.flush()
                            return
                        }
                    }
                    Output.flush()
                }
                Output.stderr("takt: the server ended the live stream (shutting down?); resubscribing…\n")
            } catch let e as RPCError where !e.code.isRetryable {
                throw CLIFailure(rpc: e)
            } catch {
                Output.stderr("takt: lost the live stream (\(CLIFailure.from(error).message)); resubscribing…\n")
            }
            stream = try await resubscribe(client, filter)
            Output.stderr("takt: following again; events committed while the stream was down are not replayed "
                          + "(list them with takt events --from)\n")
        }
    }

    /// Subscribes again, waiting 0.5 s, 1 s, 2 s … (at most 10 s) between attempts while the server is
    /// unreachable or unavailable; a non-retryable refusal is thrown.
    private func resubscribe(_ client: TaktClient, _ filter: EventFilter) async throws
        -> AsyncThrowingStream<SubscriptionUpdate, any Error> {
        var delayMs: UInt64 = 500
        while true {
            try await Task.sleep(nanoseconds: delayMs * 1_000_000)
            do {
                return try await client.subscribe(filter)
            } catch where error.code.isRetryable {
                delayMs = min(delayMs * 2, 10_000)
            } catch {
                throw CLIFailure(rpc: error)
            }
        }
    }
}

/// One event per line: a table-like line on a terminal, JSON Lines with --json.
struct EventPrinter {
    let json: Bool
    let style: Style

    func header() {
        guard !json else { return }
        Swift.print(style.bold(line(time: "TIME", site: "SITE", worker: "WORKER", station: "STATION", kind: "KIND",
                                    confidence: "CONF", units: "UNITS", model: "MODEL")))
    }

    func line(time: String, site: String, worker: String, station: String, kind: String, confidence: String,
              units: String, model: String) -> String {
        func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
        func rpad(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
        return pad(time, 19) + "  " + pad(site, 8) + "  " + pad(worker, 8) + "  " + pad(station, 8) + "  "
            + (pad(kind, 13) + "  " + rpad(confidence, 4) + "  " + rpad(units, 5) + "  " + model).trimmingTrailingSpaces
    }

    func print(_ s: StoredEvent) {
        if json {
            JSON.event(s).print(pretty: false)
            return
        }
        let e = s.event
        var text = line(time: TimeText.local(e.eventTimeMs), site: e.effectiveSiteID, worker: e.workerID,
                        station: e.workstationID, kind: e.kind.name, confidence: Format.fixed(e.confidence, 2),
                        units: e.kind == .productCount ? "\(e.units)" : "", model: e.modelVersion)
        if style.enabled {
            let k = e.kind.name
            let colored: String
            switch e.kind {
            case .working: colored = style.green(k)
            case .idle: colored = style.yellow(k)
            case .absent: colored = style.dim(k)
            case .productCount: colored = style.cyan(k)
            }
            if let r = text.range(of: " " + k + " ") { text.replaceSubrange(r, with: " " + colored + " ") }
        }
        Swift.print(text)
    }
}
