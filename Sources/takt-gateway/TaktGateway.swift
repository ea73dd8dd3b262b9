// takt-gateway: store-and-forward between camera producers and taktd (docs/GATEWAY.md).
// `run` spools and forwards; `status` and `dead-letters` read a spool, also while a gateway runs.
import ArgumentParser
import Foundation

/// Exit statuses (docs/GATEWAY.md, "Exit codes"); `takt-gateway --help` lists them too.
enum ExitStatus: Int32 {
    case ok = 0
    case failure = 1
    case usage = 2
    case spoolUnusable = 3
    case inputUnusable = 4
    case drainTimeout = 5
    case deadLettered = 6
}

/// Ends the process with a status and one line on stderr.
struct GatewayExit: Error {
    var status: ExitStatus
    var message: String
    init(_ status: ExitStatus, _ message: String) {
        self.status = status
        self.message = message
    }
}

@main
struct TaktGateway: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "takt-gateway",
        abstract: "Store-and-forward for camera gateways: spool events locally, deliver each to taktd exactly once.",
        discussion: """
        Events (JSON Lines or CSV) from stdin, a file (--follow: as it grows) or a Unix socket are \
        committed to a local SQLite spool before they are acknowledged, then sent to taktd in \
        pipelined batches and deleted only when taktd answered for them. See docs/GATEWAY.md.

        Exit codes:
          0  input ended and the spool drained; or stopped by SIGTERM/SIGINT (what is unsent stays spooled)
          1  unexpected failure
          2  usage: unknown flag, bad value, a --gateway-id that is not the spool's
          3  the spool cannot be used: directory not writable, locked by another gateway, damaged, newer schema
          4  the input cannot be used: cannot open or read it, bad CSV header, socket path in use
          5  input ended but --drain-timeout passed with events still spooled (they are sent on the next run)
          6  input ended and the spool drained, but events of this run went to dead letters
        """,
        version: "0.1.0",
        subcommands: [RunCommand.self, StatusCommand.self, DeadLettersCommand.self],
        defaultSubcommand: RunCommand.self)

    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
            Foundation.exit(0)
        } catch let e as GatewayExit {
            if !e.message.isEmpty { FileHandle.standardError.write(Data("takt-gateway: \(e.message)\n".utf8)) }
            Foundation.exit(e.status.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let text = message(for: error)
            FileHandle.standardError.write(Data("takt-gateway: \(text)\n".utf8))
            if code == .validationFailure {
                FileHandle.standardError.write(Data("See 'takt-gateway --help'.\n".utf8))
                Foundation.exit(ExitStatus.usage.rawValue)
            }
            Foundation.exit(ExitStatus.failure.rawValue)
        }
    }
}
