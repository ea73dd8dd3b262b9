// `takt top`: a live full-screen view. Redraws on new events from the subscription and at least every
// --interval; quits on q (or Ctrl-C), restoring the terminal on every way out.
import ArgumentParser
@preconcurrency import Dispatch
import Foundation
import TaktClient
import TaktDomain
import TaktPosix

struct TopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "Live full-screen view: factory KPIs, worker leaderboard, station occupancy, last events (q quits).",
        discussion: "Keys: q quit, r refresh now, s next leaderboard order. Needs a terminal; scripts use takt metrics --json.")

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("Metrics over this much time up to now (8h, 24h, 30m).", valueName: "duration"))
    var window: String = "8h"
    @Option(help: ArgumentHelp("Redraw at least this often (2s, 500ms).", valueName: "duration"))
    var interval: String = "2s"
    @Option(help: "Only this site.")
    var site: String?
    @Option(help: "Leaderboard order: utilization, units, units-per-hour, working, idle, absent, last-seen, id.")
    var sort: WorkerSort = .utilization

    func validate() throws {
        guard let w = try? Durations.parse(window, bareUnitMs: nil), w >= 60_000 else {
            throw ValidationError("--window \(window): expected a duration of at least 1m, like 8h or 30m")
        }
        guard let i = try? Durations.parse(interval, bareUnitMs: 1_000), i >= 100 else {
            throw ValidationError("--interval \(interval): expected a duration of at least 100ms, like 2s")
        }
        if global.json { throw ValidationError("--json: top is interactive; use takt metrics --json in scripts") }
    }

    func run() async throws {
        guard Terminal.isTTY(0), Terminal.isTTY(1) else {
            throw CLIFailure(.usage, "takt top needs a terminal on stdin and stdout. In scripts use 'takt metrics --json' or 'takt events --follow --json'.")
        }
        let windowMs = try Durations.parse(window, bareUnitMs: nil)
        let intervalMs = try Durations.parse(interval, bareUnitMs: 1_000)
        let client = try await global.connect()
        guard let raw = RawTerminal(fd: 0) else {
            throw CLIFailure(.failure, "cannot put the terminal in raw mode (tcsetattr failed). Run takt top in an interactive terminal.")
        }
        let screen = TopScreen(server: global.serverText, windowMs: windowMs, site: site, sort: sort,
                               style: Style(enabled: !global.noColor && !Terminal.noColorEnv), raw: raw)
        screen.start()
        let signals = TopSignals(screen: screen)
        TopKeyboard.start(screen: screen)

        // History for the "last events" panel, then live updates.
        let filter = EventFilter(siteID: site)
        let feed = TopFeed(client: client, filter: filter, screen: screen)
        async let live: Void = feed.follow()
        async let refresh: Void = TopRefresher(client: client, screen: screen, windowMs: windowMs, site: site,
                                               intervalMs: intervalMs).run()
        _ = await (live, refresh)
        withExtendedLifetime(signals) {}
    }
}

/// Keeps the metrics fresh: at the interval, and soon after new events arrive (at most once a second).
struct TopRefresher {
    let client: TaktClient
    let screen: TopScreen
    let windowMs: Int64
    let site: String?
    let intervalMs: Int64

    func run() async {
        let names = await Names.load(client, site: site)
        screen.setNames(names)
        var lastFetchNs: UInt64 = 0
        while true {
            let now = System.monotonicNs()
            let since = (now - lastFetchNs) / 1_000_000
            if lastFetchNs == 0 || since >= UInt64(intervalMs) || (screen.takeDirty() && since >= 1_000) || screen.takeRefreshRequest() {
                lastFetchNs = now
                do {
                    let r = try await client.metrics(MetricsQuery(scope: .all, fromMs: System.nowMs() - windowMs, siteID: site))
                    screen.setMetrics(r)
                } catch {
                    screen.setError(CLIFailure.from(error).message)
                }
            }
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
    }
}

/// The last events: a page of history, then the live subscription (resubscribing if it ends).
struct TopFeed {
    let client: TaktClient
    let filter: EventFilter
    let screen: TopScreen

    func follow() async {
        while true {
            do {
                let stream = try await client.subscribe(filter)
                let page = try await client.listEvents(ListEventsRequest(filter: filter, pageSize: 50))
                screen.addEvents(page.events.reversed(), live: false)
                screen.setLive(true)
                for try await update in stream {
                    screen.addEvents(update.events, live: true)
                }
                screen.setLive(false)
            } catch {
                screen.setLive(false)
                screen.setError(CLIFailure.from(error).message)
            }
            try? await Task.sleep(nanoseconds: 2_000_000_000)
        }
    }
}

/// Reads keys from the terminal on its own thread (a blocking read(2) of one byte at a time).
enum TopKeyboard {
    static func start(screen: TopScreen) {
        let t = Thread {
            var byte: UInt8 = 0
            while true {
                let n = read(0, &byte, 1)
                if n == 0 { screen.quit(status: 0) }
                if n < 0 {
                    if errno == EINTR || errno == EAGAIN { continue }
                    screen.quit(status: 0)
                }
                switch byte {
                case UInt8(ascii: "q"), UInt8(ascii: "Q"), 3: screen.quit(status: 0)
                case UInt8(ascii: "r"), UInt8(ascii: "R"): screen.requestRefresh()
                case UInt8(ascii: "s"), UInt8(ascii: "S"): screen.nextSort()
                default: break
                }
            }
        }
        t.start()
    }
}

/// SIGINT/SIGTERM/SIGHUP restore the terminal and exit; SIGWINCH redraws at the new size.
final class TopSignals: Sendable {
    private let sources: [any DispatchSourceSignal]

    init(screen: TopScreen) {
        let queue = DispatchQueue(label: "takt.top.signals")
        var sources: [any DispatchSourceSignal] = []
        for (sig, status) in [(SIGINT, Int32(130)), (SIGTERM, 143), (SIGHUP, 129)] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            s.setEventHandler { screen.quit(status: status) }
            s.resume()
            sources.append(s)
        }
        signal(SIGWINCH, SIG_IGN)
        let winch = DispatchSource.makeSignalSource(signal: SIGWINCH, queue: queue)
        winch.setEventHandler { screen.redraw() }
        winch.resume()
        sources.append(winch)
        self.sources = sources
    }
}
