// taktd: the Takt server. Flags override environment variables (TAKT_*), which override defaults.
import ArgumentParser
@preconcurrency import Dispatch
import Foundation
import Logging
import TaktDomain
import TaktPosix
import TaktServer
import TaktStore
import TaktSync

@main
struct Taktd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "taktd",
        abstract: "Takt server: stores camera activity events exactly once and answers productivity metrics.",
        discussion: """
        Listens on 127.0.0.1:7411 by default with its SQLite store in ~/.local/share/takt.
        Every flag has an environment variable: --listen is TAKT_LISTEN, --data-dir is TAKT_DATA_DIR,
        and so on (TAKT_ + the flag name in capitals with _ for -).
        """)

    @Option(help: "Address to listen on, HOST:PORT or [IPv6]:PORT; port 0 picks a free port. (TAKT_LISTEN)")
    var listen: String?
    @Option(help: "Directory of the SQLite store. (TAKT_DATA_DIR)")
    var dataDir: String?
    @Option(help: "full: an acknowledged event survives power loss; normal: survives a process crash only. (TAKT_DURABILITY)")
    var durability: String?
    @Flag(help: "Strict registry: events of unregistered workers or workstations are rejected UNKNOWN_ENTITY. (TAKT_STRICT=1)")
    var strict = false
    @Option(help: "Events below this confidence are rejected LOW_CONFIDENCE (default 0.70). (TAKT_MIN_CONFIDENCE)")
    var minConfidence: Double?
    @Option(help: "Events further ahead of the server clock are INVALID, in ms (default 300000). (TAKT_MAX_FUTURE_SKEW_MS)")
    var maxFutureSkewMs: Int64?
    @Option(help: "Events older than this time (ms since epoch) are INVALID; default: no lower bound. (TAKT_MIN_EVENT_TIME_MS)")
    var minEventTimeMs: Int64?
    @Option(help: "Longest an observation holds, in ms (spec CAP, default 600000). (TAKT_CAP_MS)")
    var capMs: Int64?
    @Option(help: "Most events per batch (default 10000). (TAKT_MAX_BATCH)")
    var maxBatch: Int?
    @Option(help: "Largest frame payload in bytes (default 4194304). (TAKT_MAX_FRAME_BYTES)")
    var maxFrameBytes: Int?
    @Option(help: "Calls in flight per connection (default 256). (TAKT_MAX_IN_FLIGHT)")
    var maxInFlight: Int?
    @Option(help: "Keepalive interval in ms; connections silent for two intervals are closed (default 30000). (TAKT_KEEPALIVE_MS)")
    var keepaliveMs: Int?
    @Option(help: "Close connections with no call and no frame for this many ms; 0 = never (default 0). (TAKT_IDLE_TIMEOUT_MS)")
    var idleTimeoutMs: Int?
    @Option(help: "Preface and HELLO must arrive within this many ms (default 10000). (TAKT_HELLO_TIMEOUT_MS)")
    var helloTimeoutMs: Int?
    @Option(help: "Close a peer that reads none of its replies for this many ms (default 30000). (TAKT_SLOW_READER_MS)")
    var slowReaderMs: Int?
    @Option(help: "Most connections open at once (default 20000). (TAKT_MAX_CONNECTIONS)")
    var maxConnections: Int?
    @Option(help: "On SIGTERM/SIGINT, let in-flight calls finish for this many ms (default 10000). (TAKT_SHUTDOWN_GRACE_MS)")
    var shutdownGraceMs: Int?
    @Option(help: "JSON file of client tokens (salted hashes, roles, sites, rate limits); see README. Reloaded on SIGHUP. (TAKT_AUTH_FILE)")
    var authFile: String?
    @Flag(help: "Without --auth-file, allow listening on a non-loopback address (anyone who can connect may do anything). (TAKT_INSECURE=1)")
    var insecure = false
    @Option(help: "Events per second per token (per connection without auth); default unlimited. (TAKT_RATE_LIMIT)")
    var rateLimit: Double?
    @Option(help: "Burst of the rate limit in events (default: one second's worth). (TAKT_RATE_BURST)")
    var rateBurst: Double?
    @Option(help: "Connections open at once from one address (default 1000). (TAKT_MAX_CONNECTIONS_PER_ADDRESS)")
    var maxConnectionsPerAddress: Int?
    @Option(help: "Request bytes held by calls in flight across all connections before reading pauses (default 268435456). (TAKT_MAX_INFLIGHT_BYTES)")
    var maxInflightBytes: Int?
    @Option(help: "Live subscriptions per connection (default 16). (TAKT_MAX_STREAMS_PER_CONNECTION)")
    var maxStreamsPerConnection: Int?
    @Flag(help: "Read a token on standard input, print its salted hash line for the auth file, and exit.")
    var hashToken = false
    @Option(help: "trace, debug, info, notice, warning, error, critical (default info). (TAKT_LOG_LEVEL)")
    var logLevel: String?
    @Flag(help: "Load deterministic demo data into an empty store on start. (TAKT_DEMO=1)")
    var demo = false
    @Option(help: "Seed of the demo data (default 1). (TAKT_DEMO_SEED)")
    var demoSeed: UInt64?

    static func env(_ name: String) -> String? {
        ProcessInfo.processInfo.environment["TAKT_" + name]
    }

    func value<T: LosslessStringConvertible>(_ flag: T?, _ envName: String, _ def: T) throws -> T {
        if let flag { return flag }
        if let raw = Self.env(envName) {
            guard let v = T(raw) else { throw ValidationError("TAKT_\(envName)=\(raw) is not a valid value") }
            return v
        }
        return def
    }

    func makeConfiguration() throws -> ServerConfiguration {
        var c = ServerConfiguration()
        let listenText = try value(listen, "LISTEN", "127.0.0.1:7411")
        do {
            c.rpc.listen = try SocketAddress(parsing: listenText)
        } catch {
            throw ValidationError("--listen \(listenText): \(error.function)")
        }
        let home = ProcessInfo.processInfo.environment["HOME"] ?? "."
        c.dataDirectory = try value(dataDir, "DATA_DIR", home + "/.local/share/takt")
        let d = try value(durability, "DURABILITY", "full")
        guard let dur = Durability(rawValue: d) else { throw ValidationError("--durability must be full or normal, got \(d)") }
        c.store.durability = dur
        c.store.acceptance = AcceptancePolicy(
            minConfidence: try value(minConfidence, "MIN_CONFIDENCE", 0.70),
            maxFutureSkewMs: try value(maxFutureSkewMs, "MAX_FUTURE_SKEW_MS", 300_000),
            minEventTimeMs: try minEventTimeMs ?? Self.env("MIN_EVENT_TIME_MS").map { raw in
                guard let v = Int64(raw) else { throw ValidationError("TAKT_MIN_EVENT_TIME_MS=\(raw) is not an integer") }
                return v
            },
            strict: strict || Self.env("STRICT") == "1")
        guard (0...1).contains(c.store.acceptance.minConfidence) else { throw ValidationError("--min-confidence must be in [0, 1]") }
        c.capMs = try value(capMs, "CAP_MS", 600_000)
        guard c.capMs > 0 else { throw ValidationError("--cap-ms must be > 0") }
        c.rpc.maxBatchEvents = try value(maxBatch, "MAX_BATCH", 10_000)
        c.rpc.maxFramePayload = try value(maxFrameBytes, "MAX_FRAME_BYTES", 4 << 20)
        c.rpc.maxInFlightCalls = try value(maxInFlight, "MAX_IN_FLIGHT", 256)
        c.rpc.keepaliveIntervalMs = try value(keepaliveMs, "KEEPALIVE_MS", 30_000)
        c.rpc.idleTimeoutMs = try value(idleTimeoutMs, "IDLE_TIMEOUT_MS", 0)
        c.rpc.helloTimeoutMs = try value(helloTimeoutMs, "HELLO_TIMEOUT_MS", 10_000)
        c.rpc.slowReaderTimeoutMs = try value(slowReaderMs, "SLOW_READER_MS", 30_000)
        c.rpc.maxConnections = try value(maxConnections, "MAX_CONNECTIONS", 20_000)
        c.shutdownGraceMs = try value(shutdownGraceMs, "SHUTDOWN_GRACE_MS", 10_000)
        guard c.rpc.maxBatchEvents > 0, c.rpc.maxFramePayload >= 1024, c.rpc.maxInFlightCalls > 0, c.rpc.maxConnections > 0 else {
            throw ValidationError("limits must be positive (--max-frame-bytes at least 1024)")
        }
        c.rpc.maxConnectionsPerAddress = try value(maxConnectionsPerAddress, "MAX_CONNECTIONS_PER_ADDRESS", 1_000)
        c.rpc.maxInFlightBytes = try value(maxInflightBytes, "MAX_INFLIGHT_BYTES", 256 << 20)
        c.rpc.maxStreamsPerConnection = try value(maxStreamsPerConnection, "MAX_STREAMS_PER_CONNECTION", 16)
        let rate = try rateLimit ?? Self.env("RATE_LIMIT").map { raw in
            guard let v = Double(raw) else { throw ValidationError("TAKT_RATE_LIMIT=\(raw) is not a number") }
            return v
        }
        let burst = try rateBurst ?? Self.env("RATE_BURST").map { raw in
            guard let v = Double(raw) else { throw ValidationError("TAKT_RATE_BURST=\(raw) is not a number") }
            return v
        }
        if let r = rate, r <= 0 { throw ValidationError("--rate-limit must be > 0") }
        c.rpc.rateLimit = rate
        c.rpc.rateBurst = burst
        guard c.rpc.maxConnectionsPerAddress > 0, c.rpc.maxInFlightBytes > 0, c.rpc.maxStreamsPerConnection > 0 else {
            throw ValidationError("limits must be positive")
        }
        if let path = authFile ?? Self.env("AUTH_FILE") {
            do {
                c.rpc.authenticator = try Authenticator(path: path, defaultRate: rate, defaultBurst: burst)
            } catch {
                throw ValidationError("\(error)")
            }
        } else if !c.rpc.listen.isLoopback && !(insecure || Self.env("INSECURE") == "1") {
            throw ValidationError("""
                refusing to listen on \(c.rpc.listen) without authentication: give --auth-file, \
                or --insecure to accept anyone who can reach that address
                """)
        }
        c.rpc.serverName = "taktd/\(TaktService.version)"
        return c
    }

    /// One descriptor per connection (default limit 20,000): lift the soft RLIMIT_NOFILE (often 1024) to the hard limit.
    static func raiseDescriptorLimit() {
        var rl = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl) == 0, rl.rlim_cur < rl.rlim_max else { return }
        rl.rlim_cur = rl.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl)
    }

    func run() throws {
        let levelText = try value(logLevel, "LOG_LEVEL", "info")
        guard let level = Logger.Level(rawValue: levelText) else { throw ValidationError("--log-level: unknown level \(levelText)") }
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "taktd")
        if hashToken {
            guard let token = readLine(strippingNewline: true), !token.isEmpty else {
                throw ValidationError("--hash-token: give the token on standard input")
            }
            print(Authenticator.hashLine(for: token))
            return
        }
        Self.raiseDescriptorLimit()
        let configuration = try makeConfiguration()
        // Signals are handled from before the first byte is listened on: a SIGTERM that arrives
        // while the store opens or demo data loads still stops the process (cleanly once running).
        let running = ServerSlot()
        let signalQueue = DispatchQueue(label: "taktd.signals")
        var sources: [any DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: signalQueue)
            s.setEventHandler {
                logger.info("signal received", metadata: ["signal": "\(sig == SIGTERM ? "SIGTERM" : "SIGINT")"])
                running.server?.shutdown()
                Foundation.exit(0)
            }
            s.resume()
            sources.append(s)
        }
        if let auth = configuration.rpc.authenticator {
            signal(SIGHUP, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: SIGHUP, queue: signalQueue)
            s.setEventHandler {
                do {
                    try auth.reload()
                    logger.info("auth file reloaded", metadata: ["tokens": "\(auth.tokenCount)"])
                } catch {
                    logger.error("auth file reload failed; previous tokens stay in force", metadata: ["error": "\(error)"])
                }
            }
            s.resume()
            sources.append(s)
        }
        let server: TaktServer
        do {
            server = try TaktServer.start(configuration, logger: logger)
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(2)
        }
        running.server = server
        logger.info("taktd ready", metadata: [
            "listen": "\(server.address)", "data_dir": "\(configuration.dataDirectory)",
            "mode": "\(configuration.store.strict ? "strict" : "auto-register")",
            "auth": "\(configuration.rpc.authenticator.map { "tokens from \($0.path) (\($0.tokenCount))" } ?? (configuration.rpc.listen.isLoopback ? "none (loopback only)" : "none, INSECURE"))",
        ])
        if demo || Self.env("DEMO") == "1" {
            let seed = try value(demoSeed, "DEMO_SEED", 1)
            DemoData.loadIfEmpty(into: server, seed: seed, logger: logger)
        }
        // Park the main thread (the signal handlers exit the process). dispatchMain() would end it
        // with pthread_exit, which AddressSanitizer reports and which makes taktd exit 1.
        withExtendedLifetime(sources) {
            let forever = DispatchSemaphore(value: 0)
            forever.wait()
        }
    }
}

/// The running server, for the signal handlers (nil while starting).
final class ServerSlot: Sendable {
    private let slot = LockedValue<TaktServer?>(nil)
    var server: TaktServer? {
        get { slot.withLock { $0 } }
        set { slot.withLock { $0 = newValue } }
    }
}
