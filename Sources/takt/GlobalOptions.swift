// Options every command takes (--server, --timeout, --json, --no-color) and the connection they describe.
import ArgumentParser
import Foundation
import TaktClient
import TaktDomain
import TaktPosix

struct GlobalOptions: ParsableArguments {
    static let defaultServer = "127.0.0.1:7411"

    @Option(name: .long, help: ArgumentHelp("taktd address, HOST:PORT (IP address or localhost). Default: $TAKT_SERVER, else 127.0.0.1:7411.",
                                            valueName: "host:port"))
    var server: String?

    @Option(name: .long, help: ArgumentHelp("How long to wait for each answer: seconds (10, 2.5) or with a unit (500ms, 2s, 1m).",
                                            valueName: "duration"))
    var timeout: String = "10"

    @Flag(name: .long, help: "Print JSON (field names of spec/metrics.md) instead of tables.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Access token for a taktd running with --auth-file. Default: $TAKT_TOKEN.",
                                            valueName: "token"))
    var token: String?

    @Flag(name: .long, help: "Never use colour (also when NO_COLOR is set; colour is only ever used on a terminal).")
    var noColor = false

    var tokenText: String {
        if let token { return token }
        return ProcessInfo.processInfo.environment["TAKT_TOKEN"] ?? ""
    }

    var serverText: String {
        if let server { return server }
        if let env = ProcessInfo.processInfo.environment["TAKT_SERVER"], !env.isEmpty { return env }
        return Self.defaultServer
    }

    func validate() throws {
        do {
            _ = try SocketAddress(parsing: serverText)
        } catch {
            throw ValidationError("--server \(serverText): expected HOST:PORT, like 127.0.0.1:7411")
        }
        guard let ms = try? Durations.parse(timeout, bareUnitMs: 1_000), ms > 0 else {
            throw ValidationError("--timeout \(timeout): expected seconds (10, 2.5) or a duration with a unit (500ms, 2s, 1m)")
        }
        _ = ms
    }

    var timeoutMs: Int { Int((try? Durations.parse(timeout, bareUnitMs: 1_000)) ?? 10_000) }

    /// Styles for stdout: colour only on a terminal, and never with --no-color or NO_COLOR.
    var style: Style { Style(enabled: !noColor && !Terminal.noColorEnv && Terminal.isTTY(1)) }
    /// Styles for stderr (progress bars).
    var errorStyle: Style { Style(enabled: !noColor && !Terminal.noColorEnv && Terminal.isTTY(2)) }

    /// A connected client. Connecting first (once, without retries) tells "nothing there" (exit 3)
    /// apart from failures of the calls themselves.
    /// For uploads (`ingest`, `seed`): a batch that failed because the server restarted or the
    /// connection dropped is sent again, with backoff, until its --timeout runs out. Safe: a repeat of
    /// a stored event is DUPLICATE, never counted twice.
    static let uploadRetry: RetryPolicy = {
        var p = RetryPolicy()
        p.maxAttempts = 1_000
        p.initialBackoffMs = 100
        p.maxBackoffMs = 2_000
        return p
    }()

    func connect(retry: RetryPolicy? = nil) async throws -> TaktClient {
        let address: SocketAddress
        do {
            address = try SocketAddress(parsing: serverText)
        } catch {
            throw usageError("--server \(serverText): expected HOST:PORT, like 127.0.0.1:7411")
        }
        var configuration = ClientConfiguration(address: address)
        configuration.defaultTimeoutMs = timeoutMs
        configuration.connection.connectTimeoutMs = timeoutMs
        configuration.connection.clientName = "takt/\(Takt.configuration.version)"
        configuration.connection.authToken = tokenText
        if let retry { configuration.retry = retry }
        let client = TaktClient(configuration)
        do {
            _ = try await client.connection()
        } catch {
            let m = CLIFailure.oneLine(error.message)
            if m.contains("timed out") || m.contains("no HELLO_ACK") {
                throw CLIFailure(.timeout, "\(m). Is \(address) a taktd? Check the address, or raise --timeout.")
            }
            if m.contains("UNAUTHENTICATED") {
                throw CLIFailure(.rejected, "\(m). Give a valid token with --token or TAKT_TOKEN.")
            }
            if m.hasPrefix("server refused the connection") {
                throw CLIFailure(.serverError, "\(m). Check taktd's log, then retry.")
            }
            throw CLIFailure(.cannotConnect, "\(m). Start taktd, or point --server (TAKT_SERVER) at a running one.")
        }
        return client
    }
}

/// The window options of metric queries: --from, --to, --site.
struct WindowOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Window start: RFC 3339, ms since the epoch, or relative (-8h, -30m). Default: --to minus 24h.",
                               valueName: "time"))
    var from: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Window end (exclusive), same formats. Default: now.", valueName: "time"))
    var to: String?

    @Option(help: "Only this site (default: every site).")
    var site: String?

    func validate() throws {
        if let from { _ = try TimeText.parseForValidation(from, flag: "--from") }
        if let to { _ = try TimeText.parseForValidation(to, flag: "--to") }
    }

    /// (from, to) in ms; nil means the server's default.
    func resolve(nowMs: Int64 = System.nowMs()) throws -> (from: Int64?, to: Int64?) {
        let f = try from.map { try TimeText.parse($0, flag: "--from", nowMs: nowMs) }
        let t = try to.map { try TimeText.parse($0, flag: "--to", nowMs: nowMs) }
        if let f, let t, f >= t {
            throw usageError("--from \(from!) is not before --to \(to!)")
        }
        return (f, t)
    }
}
