// `takt health`: is the server there and able to store events.
import ArgumentParser
import TaktDomain
import TaktPosix

struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Check that taktd answers and can store events (exit 0 when SERVING, 6 when not).")

    @OptionGroup var global: GlobalOptions

    @Option(help: "Ask about one service (takt.v1.Ingest, takt.v1.Query, ...); default: the whole server.")
    var service: String = ""

    func run() async throws {
        let client = try await global.connect()
        defer { client.close() }
        let start = System.monotonicNs()
        let status = try await client.health(service: service)
        let latencyMs = Double(System.monotonicNs() - start) / 1e6
        let serverName = (try? await client.connection().serverHello.serverName) ?? ""
        if global.json {
            JSON.object([
                ("status", .string(status.name)), ("server", .string(global.serverText)),
                ("server_name", .string(serverName)), ("latency_ms", .double((latencyMs * 1000).rounded() / 1000)),
            ]).print()
        } else {
            let s = global.style
            let shown = status == .serving ? s.green(status.name) : s.red(status.name)
            print("\(shown)  \(global.serverText)  \(s.dim("\(serverName), \(Format.fixed(latencyMs, 1)) ms"))")
        }
        switch status {
        case .serving:
            return
        case .notServing:
            throw CLIFailure(.serverError, "\(global.serverText) answers NOT_SERVING: its store cannot write (disk full or I/O error?). Check taktd's log.")
        case .serviceUnknown:
            throw CLIFailure(.rejected, "\(global.serverText) does not know the service \"\(service)\". Leave out --service, or use takt.v1.Ingest, takt.v1.Query, takt.v1.Registry.")
        case .unknown:
            throw CLIFailure(.serverError, "\(global.serverText) reports an UNKNOWN status. Check taktd's log.")
        }
    }
}
