// `takt-gateway run`: the long-running process. Wires the input, the spool, the forwarder and the
// status reporter together, and turns how it ends into an exit status an operator can act on.
@preconcurrency import Dispatch
import ArgumentParser
import Foundation
import Glibc
import Logging
import Synchronization
import TaktClient
import TaktDomain
import TaktPosix
import TaktSync

extension FullPolicy: ExpressibleByArgument {}

enum InputFormat: String, ExpressibleByArgument, CaseIterable {
    case jsonl, csv
    var format: EventText.Format { self == .csv ? .csv : .jsonLines }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Spool events from the input and forward them to taktd (the default command).")

    @Option(help: ArgumentHelp("taktd address. Default: $TAKT_SERVER, else 127.0.0.1:7411.", valueName: "host:port"))
    var server: String?

    @Option(help: ArgumentHelp("Spool directory (created if missing; one gateway process per spool).", valueName: "dir"))
    var spool: String

    @Option(help: ArgumentHelp("Gateway id in every idempotency key. Fixed when the spool is created (default: the host name); a different one for an existing spool is refused.",
                               valueName: "id"))
    var gatewayId: String?

    @Option(help: ArgumentHelp("Where events come from: - (stdin), a file, or unix:/path.sock.", valueName: "-|file|unix:path"))
    var input = "-"

    @Flag(help: "Keep reading the file as it grows (like tail -F: also after rotation or truncation); never ends by itself.")
    var follow = false

    @Option(help: "Input format; by default detected from the first line ({ means JSON Lines, else a CSV header).")
    var format: InputFormat?

    @Option(help: "Events per SubmitBatch (capped by the server's limit).")
    var batchSize = 500

    @Option(help: "Longest an event waits for its batch to fill before it is sent (ms).")
    var maxDelayMs = 200

    @Option(help: "SubmitBatch calls in flight at once.")
    var maxInFlight = 4

    @Option(help: "Most events the spool holds.")
    var maxSpoolEvents = 1_000_000

    @Option(help: ArgumentHelp("Most bytes of event text the spool holds (suffixes K, M, G: 1024-based).", valueName: "bytes"))
    var maxSpoolBytes = "1G"

    @Option(help: "When the spool is full: refuse (stop reading input; socket lines get \"error spool full\") or drop-oldest (delete the oldest unsent events, counted).")
    var whenFull = FullPolicy.refuse

    @Option(help: "Most dead letters kept (the oldest beyond it are deleted, counted).")
    var maxDeadLetters = 100_000

    @Option(help: "Seconds between status lines on stderr (0: none; SIGUSR1 prints one at any time).")
    var statusInterval = 60

    @Option(help: "When the input ends (no --follow): most seconds to wait for the spool to drain before exiting 5.")
    var drainTimeout = 300

    @Option(help: "Deadline of each SubmitBatch call (ms); a call past it is retried on a new connection.")
    var callTimeoutMs = 30_000

    @Option(help: "Longest wait between reconnect attempts (ms); waits grow exponentially with full jitter up to this.")
    var maxBackoffMs = 30_000

    @Option(help: ArgumentHelp("File holding the auth token for taktd (first line). Default: $TAKT_TOKEN, else none.", valueName: "file"))
    var tokenFile: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    var serverText: String {
        if let server { return server }
        if let env = ProcessInfo.processInfo.environment["TAKT_SERVER"], !env.isEmpty { return env }
        return "127.0.0.1:7411"
    }

    func validate() throws {
        guard (try? SocketAddress(parsing: serverText)) != nil else {
            throw ValidationError("--server \(serverText): expected HOST:PORT, like 127.0.0.1:7411")
        }
        guard batchSize >= 1 && batchSize <= 10_000 else { throw ValidationError("--batch-size: 1…10000, got \(batchSize)") }
        guard maxDelayMs >= 0 else { throw ValidationError("--max-delay-ms: must be ≥ 0") }
        guard maxInFlight >= 1 && maxInFlight <= 256 else { throw ValidationError("--max-in-flight: 1…256, got \(maxInFlight)") }
        guard maxSpoolEvents >= 1 else { throw ValidationError("--max-spool-events: must be ≥ 1") }
        guard let bytes = Self.parseBytes(maxSpoolBytes) else {
            throw ValidationError("--max-spool-bytes \(maxSpoolBytes): expected a byte count like 1073741824, 512M or 1G")
        }
        guard bytes >= 1 << 20 else { throw ValidationError("--max-spool-bytes: at least 1M (an event line may be 64 KiB)") }
        guard maxDeadLetters >= 1 else { throw ValidationError("--max-dead-letters: must be ≥ 1") }
        guard statusInterval >= 0, drainTimeout >= 0 else { throw ValidationError("--status-interval and --drain-timeout: must be ≥ 0") }
        guard callTimeoutMs >= 100, maxBackoffMs >= 100 else { throw ValidationError("--call-timeout-ms and --max-backoff-ms: at least 100") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level: unknown level \(logLevel)") }
        if follow, case .file = InputSpec(parsing: input) {} else if follow {
            throw ValidationError("--follow needs --input FILE (a file that is appended to)")
        }
        if let id = gatewayId, id.isEmpty || id.utf8.count > 128 {
            throw ValidationError("--gateway-id: 1…128 bytes")
        }
    }

    static func parseBytes(_ text: String) -> Int64? {
        var t = text.trimmingCharacters(in: .whitespaces).uppercased()
        if t.hasSuffix("IB") { t.removeLast(2) } else if t.hasSuffix("B") { t.removeLast() }
        var shift: Int64 = 0
        switch t.last {
        case "K": shift = 10
        case "M": shift = 20
        case "G": shift = 30
        case "T": shift = 40
        default: break
        }
        if shift > 0 { t.removeLast() }
        guard let n = Int64(t), n >= 0, n < Int64.max >> shift else { return nil }
        return n << shift
    }

    func authToken() throws -> String {
        if let tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                throw GatewayExit(.usage, "--token-file \(tokenFile): cannot read it")
            }
            return String(text.split(whereSeparator: \.isNewline).first ?? "").trimmingCharacters(in: .whitespaces)
        }
        return ProcessInfo.processInfo.environment["TAKT_TOKEN"] ?? ""
    }

    func run() throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "takt-gateway")
        System.ignoreSIGPIPE()
        let limits = SpoolLimits(maxEvents: maxSpoolEvents, maxBytes: Self.parseBytes(maxSpoolBytes) ?? 1 << 30,
                                 whenFull: whenFull, maxDeadLetters: maxDeadLetters)
        let spool: Spool
        do {
            spool = try Spool.open(directory: self.spool, gatewayID: gatewayId, limits: limits)
        } catch {
            throw GatewayExit(error.isUsage ? .usage : .spoolUnusable, error.message)
        }
        let start = try spool.snapshot()
        logger.info("takt-gateway starting", metadata: [
            "gateway_id": "\(spool.gatewayID)", "spool": "\(self.spool)", "server": "\(serverText)", "input": "\(input)",
            "spooled": "\(start.depth)", "dead_letters": "\(start.deadLetters)", "when_full": "\(whenFull.rawValue)",
        ])

        var options = ForwarderOptions(address: try SocketAddress(parsing: serverText))
        options.connection.clientName = "takt-gateway/\(spool.gatewayID)"
        options.connection.authToken = try authToken()
        options.batchSize = batchSize
        options.maxDelayMs = maxDelayMs
        options.maxInFlight = maxInFlight
        options.callTimeoutMs = callTimeoutMs
        options.backoff.maxBackoffMs = maxBackoffMs
        let forwarder = Forwarder(spool: spool, options: options, logger: logger)
        let context = IntakeContext(spool: spool, logger: logger, format: format?.format) { forwarder.kick() }
        let reporter = StatusReporter(spool: spool, forwarder: forwarder, intake: context, server: serverText,
                                      intervalS: statusInterval, logger: logger)
        forwarder.start()
        reporter.start()

        let outcome = LockedValue<(ExitStatus, String)?>(nil)
        let finished = DispatchSemaphore(value: 0)
        let finish: @Sendable (ExitStatus, String) -> Void = { status, message in
            let first = outcome.withLock { o -> Bool in
                guard o == nil else { return false }
                o = (status, message)
                return true
            }
            if first { finished.signal() }
        }

        let spec = InputSpec(parsing: input)
        var socketIntake: SocketIntake?
        if case .socket(let path) = spec {
            let s = SocketIntake(context: context, path: path)
            do {
                try s.listen()
            } catch {
                throw GatewayExit(.inputUnusable, error.message)
            }
            socketIntake = s
        }

        // SIGTERM / SIGINT: stop reading, let calls in flight answer, exit 0; a second signal exits at once.
        let signals = DispatchQueue(label: "takt.gateway.signals")
        var sources: [any DispatchSourceSignal] = []
        let signalled = Atomic<Int>(0)
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: signals)
            src.setEventHandler {
                let n = signalled.wrappingAdd(1, ordering: .relaxed).newValue
                if n > 1 {
                    logger.warning("second signal: exiting now (everything unsent stays spooled)")
                    Foundation.exit(0)
                }
                logger.notice("stopping: no more input; waiting for calls in flight",
                              metadata: ["signal": "\(sig == SIGTERM ? "SIGTERM" : "SIGINT")", "spooled": "\(spool.depthNow)"])
                context.stopping.store(true, ordering: .relaxed)
                socketIntake?.stop()
                forwarder.stop(graceMs: 5_000) { finish(.ok, "") }
            }
            src.resume()
            sources.append(src)
        }

        let drainTimeoutS = drainTimeout
        let inputThread = Thread { [socketIntake] in
            let end: IntakeEnd
            if let s = socketIntake {
                end = s.run()
            } else {
                end = FileIntake(context: context, spec: spec, follow: follow).run()
            }
            switch end {
            case .stopped:
                break
            case .failed(let message):
                logger.critical("input failed; events already spooled stay spooled", metadata: ["error": "\(message)"])
                finish(.inputUnusable, message)
            case .endOfInput:
                forwarder.drain()
                let deadline = System.monotonicNs() + UInt64(drainTimeoutS) * 1_000_000_000
                while !context.isStopping {
                    if spool.depthNow == 0 && forwarder.state.inFlightBatches == 0 {
                        finish(.ok, "")
                        return
                    }
                    if System.monotonicNs() >= deadline {
                        let left = spool.depthNow
                        finish(.drainTimeout, "input ended but \(left) events are still spooled after --drain-timeout \(drainTimeoutS) s (taktd unreachable? see the last error in the log); they are sent on the next run")
                        return
                    }
                    usleep(50_000)
                }
            }
        }
        inputThread.start()
        finished.wait()

        var (status, message) = outcome.withLock { $0 } ?? (.failure, "")
        forwarder.stop(graceMs: 2_000) {}
        reporter.flush()
        reporter.stop()
        let end = (try? spool.snapshot()) ?? start
        let dead = (end.counters.rejected - start.counters.rejected) + (end.counters.unparseable - start.counters.unparseable)
        if status == .ok && dead > 0 && !context.isStopping {
            status = .deadLettered
            message = "input delivered, but \(dead) records of this run (rejected events, unparseable lines) went to dead letters: takt-gateway dead-letters --spool \(self.spool)"
        }
        logger.info("takt-gateway exiting", metadata: [
            "exit": "\(status.rawValue)", "spooled": "\(end.depth)", "accepted": "\(end.counters.accepted)",
            "duplicate": "\(end.counters.duplicate)", "dead_letters": "\(end.deadLetters)",
        ])
        spool.close()
        _ = sources
        if status != .ok { throw GatewayExit(status, message) }
    }
}
