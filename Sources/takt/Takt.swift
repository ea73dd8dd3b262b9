// takt: the command-line client of taktd. One file per subcommand; shared options in GlobalOptions.
import ArgumentParser
import Foundation

@main
struct Takt: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "takt",
        abstract: "Query and feed a taktd server from the terminal: metrics, live events, ingest, demo data.",
        discussion: """
        Every command takes --server HOST:PORT (or TAKT_SERVER; default 127.0.0.1:7411), --timeout \
        (seconds, or with a unit: 500ms, 2s, 1m; default 10s), --json (machine-readable output with \
        the field names of spec/metrics.md) and --no-color (colour is used only on a terminal, never \
        when NO_COLOR is set). Times (--from, --to, --time) are RFC 3339 (2025-11-26T10:00:00Z), \
        milliseconds since the epoch, "now", or relative to now like -8h, -30m, -1h30m, -2d.

        Exit codes:
          0  success
          1  unexpected failure (a bug, or output could not be written)
          2  usage: unknown flag, bad value, bad time or duration format
          3  cannot connect to --server (refused, unreachable, connection lost)
          4  timeout: no answer within --timeout
          5  the server rejected the request (INVALID_ARGUMENT, ...): fix it
          6  server trouble: UNAVAILABLE (disk full, shutting down), INTERNAL
          7  bad input file: unreadable, or not one line of it parses
          8  events not accepted: rejected (INVALID, LOW_CONFIDENCE,
             UNKNOWN_ENTITY) or unparsable lines skipped; DUPLICATE is fine
        Every error is one line on stderr saying what happened and what to do.
        """,
        version: "0.1.0",
        subcommands: [
            HealthCommand.self, StatsCommand.self, SendCommand.self, IngestCommand.self, MetricsCommand.self,
            TimelineCommand.self, ModelHealthCommand.self, EventsCommand.self, TopCommand.self,
            WorkersCommand.self, WorkstationsCommand.self, SeedCommand.self,
        ])

    /// Replaces ArgumentParser's entry point so every failure is one line with a documented exit code.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            Output.flush()
            Foundation.exit(0)
        } catch {
            Output.flush()
            let failure = CLIFailure.from(error)
            if let text = failure.stdoutText {
                print(text)
                Foundation.exit(0)
            }
            Output.error(failure.message)
            Foundation.exit(failure.status.rawValue)
        }
    }
}
