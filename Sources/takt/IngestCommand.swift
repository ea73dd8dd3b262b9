// `takt ingest FILE|-`: JSON Lines or CSV events, sent in pipelined batches, with a per-line summary.
import ArgumentParser
import Foundation
import TaktClient
import TaktDomain
import TaktPosix

struct IngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Send events from a JSON Lines or CSV file (or - for stdin) in pipelined batches.",
        discussion: """
        Fields are those of spec/metrics.md: event_time_ms (or timestamp as RFC 3339), worker_id, \
        workstation_id, kind, confidence, count, site_id, model_version, gateway_id + sequence. The \
        format is detected from the first line ({ means JSON Lines, anything else is a CSV header). \
        A line that does not parse is reported with its number and skipped. The summary counts every \
        result code and lists the line number and reason of each rejected event. Exit 8 when any event \
        was rejected or any line skipped; exit 7 when the file cannot be read or nothing in it parses.
        """)

    enum FormatChoice: String, ExpressibleByArgument, CaseIterable {
        case auto, jsonl, csv
    }

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The events file; - reads standard input.")
    var file: String

    @Option(help: "auto, jsonl or csv.")
    var format: FormatChoice = .auto

    @Option(help: "Events per SubmitBatch call (capped by the server's max_batch_events).")
    var batchSize: Int = 1_000

    @Option(help: "SubmitBatch calls in flight at once on the connection.")
    var inFlight: Int = 4

    @Option(help: "Rejected and unparsable lines listed in the summary, per kind (JSON lists all).")
    var maxErrors: Int = 20

    @Flag(help: "No progress output on stderr.")
    var quiet = false

    func validate() throws {
        guard (1...10_000).contains(batchSize) else { throw ValidationError("--batch-size must be 1-10000, got \(batchSize)") }
        guard (1...64).contains(inFlight) else { throw ValidationError("--in-flight must be 1-64, got \(inFlight)") }
        guard maxErrors >= 0 else { throw ValidationError("--max-errors must be >= 0") }
    }

    func run() async throws {
        let name = file == "-" ? "stdin" : file
        let reader = try EventFileReader(path: file, format: format == .auto ? nil : format == .csv ? .csv : .jsonLines)
        defer { reader.close() }
        let client = try await global.connect(retry: GlobalOptions.uploadRetry)
        defer { client.close() }
        let serverMax = Int((try? await client.connection().serverHello.maxBatchEvents) ?? 10_000)
        let size = max(1, min(batchSize, serverMax > 0 ? serverMax : batchSize))
        let progress = UploadProgress(label: "ingest \(name)", quiet: quiet, style: global.errorStyle)
        let upload = EventUpload(client: client, inFlight: inFlight, timeoutMs: global.timeoutMs)
        let tally: UploadTally
        do {
            tally = try await upload.run(next: { try reader.nextBatch(size: size) },
                                         progress: { progress.update($0, fraction: reader.fraction) })
        } catch {
            progress.finish()
            throw error
        }
        progress.finish()
        let elapsed = progress.elapsedSeconds
        let errors = reader.errors
        let rejected = tally.rejections.filter { $0.result.code != .duplicate }.sorted { $0.line < $1.line }
        let duplicates = tally.rejections.filter { $0.result.code == .duplicate }.map(\.line).sorted()

        if global.json {
            JSON.object([
                ("input", .string(name)), ("records", .integer(reader.records)), ("events_sent", .integer(tally.sent)),
                ("batches", .integer(tally.batches)), ("elapsed_ms", .integer(Int64(elapsed * 1000))),
                ("results", .object(ResultCode.allCases.map { ($0.name, .integer(tally.counts[$0] ?? 0)) })),
                ("unparsable", .integer(errors.count)),
                ("rejected", .array(rejected.map { r in
                    .object([("line", .integer(r.line)), ("code", .string(r.result.code.name)), ("message", .string(r.result.message))])
                })),
                ("duplicate_lines", .array(duplicates.map { .integer($0) })),
                ("unparsable_lines", .array(errors.map { e in .object([("line", .integer(e.line)), ("message", .string(e.message))]) })),
            ]).print()
        } else {
            printSummary(name: name, reader: reader, tally: tally, elapsed: elapsed, rejected: rejected,
                         duplicates: duplicates, errors: errors)
        }

        if reader.parsed == 0 && !errors.isEmpty {
            throw CLIFailure(.badInput, "no event in \(name) could be parsed (\(errors[0])). Check the format: JSON Lines or CSV with a header row, field names as in spec/metrics.md.")
        }
        if tally.failed > 0 || !errors.isEmpty {
            var what: [String] = []
            if tally.failed > 0 { what.append("\(Format.count(tally.failed)) event\(tally.failed == 1 ? " was" : "s were") rejected") }
            if !errors.isEmpty { what.append("\(Format.count(errors.count)) line\(errors.count == 1 ? " was" : "s were") unparsable and skipped") }
            throw CLIFailure(.eventsRejected, "\(what.joined(separator: " and ")) (see the summary). Fix those lines and ingest again; events already accepted come back DUPLICATE.")
        }
    }

    private func printSummary(name: String, reader: EventFileReader, tally: UploadTally, elapsed: Double,
                              rejected: [(line: Int, result: EventResult)], duplicates: [Int], errors: [EventText.ParseError]) {
        let s = global.style
        let rate = elapsed > 0 ? Double(tally.acknowledged) / elapsed : 0
        print(s.bold(name) + ": \(Format.count(reader.records)) records, \(Format.count(tally.sent)) events sent in \(tally.batches) batch\(tally.batches == 1 ? "" : "es"), \(Format.fixed(elapsed, 2)) s (\(Format.count(Int(rate))) events/s)")
        var t = Table([.init("RESULT"), .init("EVENTS", .right)])
        for code in ResultCode.allCases {
            let n = tally.counts[code] ?? 0
            guard n > 0 || code == .accepted else { continue }
            let styled: String
            switch code {
            case .accepted: styled = s.green(code.name)
            case .duplicate: styled = s.yellow(code.name)
            default: styled = s.red(code.name)
            }
            t.add([Cell(code.name, styled: styled), Cell(Format.count(n))])
        }
        if !errors.isEmpty { t.add([Cell("unparsable", styled: s.red("unparsable")), Cell(Format.count(errors.count))]) }
        for l in t.render(s) { print("  " + l) }

        if !rejected.isEmpty {
            print(s.bold("Rejected:"))
            for r in rejected.prefix(maxErrors) {
                print("  line \(r.line): \(s.red(r.result.code.name)): \(r.result.message)")
            }
            if rejected.count > maxErrors { print("  … and \(rejected.count - maxErrors) more (--max-errors, or --json for all)") }
        }
        if !duplicates.isEmpty {
            let shown = duplicates.prefix(maxErrors).map(String.init).joined(separator: ", ")
            print(s.bold("Duplicates") + " (already stored, nothing changed): line\(duplicates.count == 1 ? "" : "s") \(shown)\(duplicates.count > maxErrors ? ", …" : "")")
        }
        if !errors.isEmpty {
            print(s.bold("Unparsable (skipped):"))
            for e in errors.prefix(maxErrors) { print("  line \(e.line): \(e.message)") }
            if errors.count > maxErrors { print("  … and \(errors.count - maxErrors) more (--max-errors, or --json for all)") }
        }
    }
}

/// Reads an events file (or stdin) in chunks and hands out batches of parsed events with their lines.
final class EventFileReader {
    private let fd: Int32
    private let name: String
    private let totalBytes: Int64?
    private var bytesRead: Int64 = 0
    private var parser: EventTextParser
    private var pending: [EventText.Record] = []
    private var pendingStart = 0
    private var eof = false
    private(set) var records = 0
    private(set) var parsed = 0
    private(set) var errors: [EventText.ParseError] = []

    init(path: String, format: EventText.Format?) throws {
        parser = EventTextParser(format: format)
        if path == "-" {
            fd = 0
            name = "standard input"
            totalBytes = nil
            return
        }
        name = path
        let f = open(path, O_RDONLY | O_CLOEXEC)
        guard f >= 0 else {
            let reason = String(cString: strerror(errno))
            throw CLIFailure(.badInput, "cannot read \(path): \(reason). Check the path (use - for standard input).")
        }
        var st = stat()
        if fstat(f, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
            Glibc.close(f)
            throw CLIFailure(.badInput, "cannot read \(path): it is a directory. Give an events file (JSON Lines or CSV).")
        }
        fd = f
        totalBytes = (st.st_mode & S_IFMT) == S_IFREG ? Int64(st.st_size) : nil
    }

    func close() {
        if fd > 0 { Glibc.close(fd) }
    }

    /// Share of the input read so far, when its size is known.
    var fraction: Double? {
        guard let t = totalBytes, t > 0 else { return nil }
        return Double(bytesRead) / Double(t)
    }

    func nextBatch(size: Int) throws -> UploadBatch? {
        var batch = UploadBatch()
        while batch.events.count < size {
            if pendingStart == pending.count {
                if eof { break }
                try fill()
                continue
            }
            let r = pending[pendingStart]
            pendingStart += 1
            records += 1
            switch r.result {
            case .success(let e):
                parsed += 1
                batch.events.append(e)
                batch.lines.append(r.line)
            case .failure(let e):
                errors.append(e)
            }
        }
        return batch.events.isEmpty && eof && pendingStart == pending.count ? nil : batch
    }

    private func fill() throws {
        pending.removeAll(keepingCapacity: true)
        pendingStart = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { return }
            throw CLIFailure(.badInput, "cannot read \(name): \(String(cString: strerror(errno))). Check the file and try again.")
        }
        if n == 0 {
            eof = true
            pending = parser.finish()
            return
        }
        bytesRead += Int64(n)
        pending = parser.feed(buffer[0..<n])
    }
}
