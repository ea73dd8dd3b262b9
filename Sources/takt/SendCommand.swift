// `takt send`: one event from flags, answered with its result code.
import ArgumentParser
import TaktDomain
import TaktPosix

struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send one event and print its result code (exit 8 when it is rejected; DUPLICATE is not an error).",
        discussion: "Example: takt send --worker W1 --station S1 --kind working --confidence 0.93")

    @OptionGroup var global: GlobalOptions

    @Option(help: "Worker id.")
    var worker: String
    @Option(help: "Workstation id.")
    var station: String
    @Option(help: "working, idle, absent or product_count.")
    var kind: String
    @Option(help: "Detection confidence in [0, 1].")
    var confidence: Double
    @Option(parsing: .unconditional, help: ArgumentHelp("Event time: RFC 3339, ms since the epoch, or relative (-5m). Default: now.", valueName: "time"))
    var time: String?
    @Option(help: "Units, for product_count (1-10000; default 1).")
    var count: UInt32 = 0
    @Option(help: "Site id (default \"default\").")
    var site: String = Event.defaultSite
    @Option(help: "Model version of the camera's detector.")
    var model: String = ""

    func validate() throws {
        guard EventKind(name: kind) != nil else {
            throw ValidationError("--kind \(kind): expected working, idle, absent or product_count")
        }
        if let time { _ = try TimeText.parseForValidation(time, flag: "--time") }
    }

    func run() async throws {
        let t = try time.map { try TimeText.parse($0, flag: "--time") } ?? System.nowMs()
        let event = Event(eventTimeMs: t, workerID: worker, workstationID: station, kind: EventKind(name: kind)!,
                          confidence: confidence, count: count, siteID: site, modelVersion: model)
        let client = try await global.connect()
        defer { client.close() }
        let result = try await client.submit(event)
        if global.json {
            var f: [(String, JSON)] = [("code", .string(result.code.name))]
            if !result.message.isEmpty { f.append(("message", .string(result.message))) }
            f.append(("event_time_ms", .int(t)))
            JSON.object(f).print()
        } else {
            let s = global.style
            let code = result.code == .accepted ? s.green(result.code.name)
                : result.code == .duplicate ? s.yellow(result.code.name) : s.red(result.code.name)
            print(code + (result.message.isEmpty ? "" : ": " + result.message))
        }
        switch result.code {
        case .accepted, .duplicate: return
        default:
            throw CLIFailure(.eventsRejected, "the event was rejected: \(result.code.name)\(result.message.isEmpty ? "" : ": " + result.message). Fix the field it names and send it again.")
        }
    }
}
