// Sends events in batches with several SubmitBatch calls in flight on one connection (used by
// `takt ingest` and `takt seed`), and shows progress on stderr.
import Foundation
import TaktClient
import TaktDomain
import TaktPosix

/// Events of one SubmitBatch and where each came from (input line, or position in a stream).
struct UploadBatch: Sendable {
    var events: [Event] = []
    var lines: [Int] = []
}

/// What the server answered so far.
struct UploadTally {
    var sent = 0
    var acknowledged = 0
    var batches = 0
    var counts: [ResultCode: Int] = [:]
    /// Every event that was not accepted, with its line.
    var rejections: [(line: Int, result: EventResult)] = []

    mutating func add(_ batch: UploadBatch, _ ack: BatchAck) {
        acknowledged += batch.events.count
        batches += 1
        for c in ack.codes { counts[c, default: 0] += 1 }
        for r in ack.rejections where r.index < batch.lines.count {
            rejections.append((batch.lines[r.index], r.result))
        }
    }

    /// Rejected for a reason a sender must fix (duplicates are an expected part of re-sending).
    var failed: Int { acknowledged - (counts[.accepted] ?? 0) - (counts[.duplicate] ?? 0) }
}

struct EventUpload {
    let client: TaktClient
    let inFlight: Int
    let timeoutMs: Int

    /// Pulls batches from `next` until it returns nil, keeping up to `inFlight` calls outstanding.
    /// On a failed call, throws it with how far the upload got.
    func run(next: () throws -> UploadBatch?, progress: (UploadTally) -> Void) async throws -> UploadTally {
        var tally = UploadTally()
        let client = self.client
        let timeoutMs = self.timeoutMs
        do {
            try await withThrowingTaskGroup(of: (UploadBatch, BatchAck).self) { group in
                var running = 0
                while let batch = try next() {
                    if batch.events.isEmpty { continue }
                    while running >= inFlight, let (b, ack) = try await group.next() {
                        running -= 1
                        tally.add(b, ack)
                        progress(tally)
                    }
                    group.addTask {
                        (batch, try await client.submit(EventBatch(events: batch.events), timeoutMs: timeoutMs))
                    }
                    running += 1
                    tally.sent += batch.events.count
                }
                while let (b, ack) = try await group.next() {
                    tally.add(b, ack)
                    progress(tally)
                }
            }
        } catch let e as RPCError {
            var f = CLIFailure(rpc: e)
            f.message += " \(Format.count(tally.acknowledged)) of \(Format.count(tally.sent)) events sent were acknowledged before it; sending again is safe (repeats are DUPLICATE)."
            throw f
        }
        return tally
    }
}

/// Progress on stderr: a bar redrawn in place on a terminal, a plain line every second otherwise.
final class UploadProgress {
    let isTTY: Bool
    let quiet: Bool
    let style: Style
    let label: String
    private let startNs = System.monotonicNs()
    private var lastNs: UInt64 = 0
    private var drawn = false

    init(label: String, quiet: Bool, style: Style) {
        self.label = label
        self.quiet = quiet
        self.style = style
        isTTY = Terminal.isTTY(2)
    }

    var elapsedSeconds: Double { Double(System.monotonicNs() - startNs) / 1e9 }

    /// `fraction`: share of the input consumed, when the total is known (for the ETA).
    func update(_ tally: UploadTally, fraction: Double?) {
        guard !quiet else { return }
        let now = System.monotonicNs()
        let interval: UInt64 = isTTY ? 100_000_000 : 1_000_000_000
        guard now - lastNs >= interval else { return }
        if lastNs == 0 && !isTTY {
            // No line for runs shorter than a second.
            lastNs = now
            return
        }
        lastNs = now
        let secs = max(elapsedSeconds, 0.001)
        let rate = Double(tally.acknowledged) / secs
        if isTTY {
            var line = "\(label) "
            if let f = fraction {
                let pct = max(0, min(1, f)) * 100
                line += style.cyan(Format.bar(pct, width: 24)) + " " + Format.fixed(pct, 0) + "%  "
            }
            line += "\(Format.count(tally.acknowledged)) events  \(Format.count(Int(rate))) events/s"
            if let f = fraction, f > 0.01, f < 1 {
                line += "  ETA \(Durations.format(Int64(secs * (1 - f) / f * 1000)))"
            }
            Output.stderr("\r" + line + "\u{1B}[K")
            drawn = true
        } else {
            var line = "\(label): \(Format.count(tally.acknowledged)) events acknowledged, \(Format.count(tally.sent)) sent, \(Format.count(Int(rate))) events/s"
            if let f = fraction { line += ", \(Format.fixed(f * 100, 0))% of the input read" }
            Output.stderr(line + "\n")
        }
    }

    /// Clears the bar before the summary is printed.
    func finish() {
        if drawn { Output.stderr("\r\u{1B}[K") }
        drawn = false
    }
}
