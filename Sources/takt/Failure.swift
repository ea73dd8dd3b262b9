// Exit statuses and the one-line error messages of `takt --help` ("Exit codes").
import ArgumentParser
import Foundation
import TaktDomain

enum ExitStatus: Int32 {
    case ok = 0
    case failure = 1
    case usage = 2
    case cannotConnect = 3
    case timeout = 4
    case rejected = 5
    case serverError = 6
    case badInput = 7
    case eventsRejected = 8
}

/// A failure the CLI reports as one line on stderr and an exit status.
struct CLIFailure: Error {
    var status: ExitStatus
    var message: String
    /// Help or version text: printed to stdout, exit 0.
    var stdoutText: String?

    init(_ status: ExitStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    /// An RPC failure: what happened and what to do, by status code.
    init(rpc e: RPCError) {
        let what = Self.oneLine(e.message)
        switch e.code {
        case .unavailable where what.hasPrefix("cannot connect") || what.hasPrefix("connection to"):
            self.init(.cannotConnect, "\(what). Start taktd, or point --server (TAKT_SERVER) at a running one.")
        case .deadlineExceeded:
            self.init(.timeout, "timed out: \(what). The server may be overloaded: retry, or raise --timeout.")
        case .invalidArgument, .notFound, .alreadyExists, .permissionDenied, .failedPrecondition, .outOfRange,
             .unimplemented, .unauthenticated:
            self.init(.rejected, "the server rejected the request: \(e.code.name): \(what). Fix the value it names and retry.")
        case .cancelled:
            self.init(.serverError, "the call was cancelled: \(what). Retry.")
        default:
            self.init(.serverError, "server error: \(e.code.name): \(what). Check taktd's log, then retry.")
        }
    }

    static func from(_ error: any Error) -> CLIFailure {
        if let f = error as? CLIFailure { return f }
        if let e = error as? RPCError { return CLIFailure(rpc: e) }
        if let e = error as? ExitCode {
            return CLIFailure(ExitStatus(rawValue: e.rawValue) ?? .failure, "exit \(e.rawValue)")
        }
        let code = Takt.exitCode(for: error)
        if code == .success {
            var f = CLIFailure(.ok, "")
            f.stdoutText = Takt.fullMessage(for: error)
            return f
        }
        let text = oneLine(Takt.message(for: error))
        if code == .validationFailure {
            return CLIFailure(.usage, "\(text). See '\(helpHint())'.")
        }
        return CLIFailure(.failure, text.isEmpty ? "failed: \(error)" : text)
    }

    /// `takt <subcommand> --help` for the subcommand named on the command line, if any.
    static func helpHint() -> String {
        let names = Takt.configuration.subcommands.map { $0._commandName }
        let args = CommandLine.arguments.dropFirst()
        if let sub = args.first(where: { names.contains($0) }) { return "takt \(sub) --help" }
        return "takt --help"
    }

    static func oneLine(_ s: String) -> String {
        var t = s.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: "; ")
        if t.hasPrefix("Error: ") { t.removeFirst(7) }
        while t.hasSuffix(".") { t.removeLast() }
        return t
    }
}

/// A usage error found after parsing (bad time, bad duration): exit 2.
func usageError(_ message: String) -> CLIFailure {
    CLIFailure(.usage, "\(message). See '\(CLIFailure.helpHint())'.")
}
