// `takt-gateway status` and `takt-gateway dead-letters`: read a spool without locking it, so they
// work while the gateway runs (and after it stopped).
import ArgumentParser
import Foundation

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Spool depth, oldest unsent event, send rate, counters and last error of a gateway's spool.")

    @Option(help: ArgumentHelp("Spool directory.", valueName: "dir"))
    var spool: String

    @Flag(help: "Print JSON (the fields of <spool>/status.json).")
    var json = false

    func run() throws {
        let snapshot: SpoolSnapshot
        do {
            snapshot = try Spool.inspect(directory: spool)
        } catch {
            throw GatewayExit(.spoolUnusable, error.message)
        }
        let pid = Spool.runningPID(spool)
        var status = GatewayStatus(snapshot: snapshot, running: pid != nil, pid: pid)
        // A running gateway's live fields (connection, rate, last error, input) come from its status file.
        if pid != nil, let data = FileManager.default.contents(atPath: "\(spool)/\(GatewayStatus.fileName)"),
           let live = try? GatewayStatus.decoder.decode(GatewayStatus.self, from: data) {
            let fresh = status
            status = live
            status.spoolEvents = fresh.spoolEvents
            status.spoolBytes = fresh.spoolBytes
            status.oldestUnsentAgeMs = fresh.oldestUnsentAgeMs
            status.counters = fresh.counters
            status.deadLetters = fresh.deadLetters
            status.sequencesAssigned = fresh.sequencesAssigned
            status.running = true
            status.pid = pid
        }
        if json {
            let data = try GatewayStatus.encoder.encode(status)
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(status.text)
        }
    }
}

struct DeadLettersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "Events taktd rejected for good (INVALID, UNKNOWN_ENTITY, LOW_CONFIDENCE) and unparseable input lines, oldest first.")

    @Option(help: ArgumentHelp("Spool directory.", valueName: "dir"))
    var spool: String

    @Option(help: "Show only the newest N.")
    var limit: Int?

    @Flag(help: "Print JSON Lines: one object per dead letter (id, sequence, code, reason, event, origin, spooled_ms, dead_ms).")
    var json = false

    func run() throws {
        let letters: [DeadLetter]
        do {
            letters = try Spool.deadLetters(directory: spool, limit: limit)
        } catch {
            throw GatewayExit(.spoolUnusable, error.message)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            for l in letters { print(String(decoding: try encoder.encode(l), as: UTF8.self)) }
            return
        }
        if letters.isEmpty {
            print("no dead letters in \(spool)")
            return
        }
        for l in letters {
            let when = Date(timeIntervalSince1970: Double(l.deadMs) / 1000)
            let seq = l.sequence.map { "sequence \($0)" } ?? "not spooled"
            print("#\(l.id)  \(l.code)  \(l.origin)  \(seq)  \(ISO8601DateFormatter().string(from: when))")
            print("    reason: \(l.reason)")
            print("    event:  \(l.event)")
        }
        print("\(letters.count) dead letters")
    }
}
