// Turns input bytes into records with `EventTextParser`, keeping what the gateway needs around it:
// physical line numbers that survive a restart, the raw text of each record (for dead letters), and
// the CSV header (saved with the input position, so a resumed CSV file is read with its header).
import TaktDomain

struct LineDecoder {
    /// What one piece of input gave.
    enum Output {
        case event(Event, raw: String, line: Int)
        case unparseable(String, raw: String, line: Int)
        /// A CSV header the parser refused: nothing after it can be read.
        case badHeader(String, line: Int)
    }

    static let maxRawBytes = 8_192

    private var parser: EventTextParser
    /// Lines consumed so far (the number of the last complete line).
    private(set) var line: Int
    private(set) var csvHeader: String?
    private var raw: [UInt8] = []
    private var rawOverflow = false
    private var recordStart = 0
    private var lineHasText = false

    /// `csvHeader`: the header of a CSV input resumed in the middle; `line`: lines before the resume point.
    init(format: EventText.Format?, csvHeader: String? = nil, line: Int = 0) {
        parser = EventTextParser(format: csvHeader != nil ? .csv : format)
        self.line = line
        if let h = csvHeader {
            _ = parser.feed(Array(h.utf8) + [10])
            self.csvHeader = h
        }
    }

    var format: EventText.Format? { parser.format }

    var formatName: String {
        switch parser.format {
        case .csv?: return "csv"
        case .jsonLines?: return "jsonl"
        case nil: return ""
        }
    }

    /// Feeds a piece of one line: `endsLine` when it ends with the line's "\n".
    mutating func feed(_ piece: ArraySlice<UInt8>, endsLine: Bool) -> [Output] {
        if raw.isEmpty && !rawOverflow { recordStart = line + 1 }
        if raw.count + piece.count <= Self.maxRawBytes {
            raw.append(contentsOf: piece)
        } else {
            rawOverflow = true
        }
        if !lineHasText { lineHasText = piece.contains { $0 != 32 && $0 != 9 && $0 != 13 && $0 != 10 } }
        let headerPending = csvHeader == nil && parser.format != .jsonLines
        let records = parser.feed(piece)
        guard endsLine else { return convert(records) }
        line += 1
        defer { lineHasText = false }
        if headerPending && parser.format == .csv && lineHasText {
            // The first non-blank line of a CSV input is its header.
            let text = rawText()
            reset()
            if let e = records.first?.error { return [.badHeader(e.message, line: line)] }
            csvHeader = text
            return []
        }
        // A blank line outside a record (CSV: outside quotes) starts the next record afresh.
        if records.isEmpty && !lineHasText && !(parser.format == .csv && insideQuotes) {
            reset()
        }
        return convert(records)
    }

    /// Ends the input: the record of a last line without "\n", if any.
    mutating func finish() -> [Output] {
        let hadText = lineHasText
        let records = parser.finish()
        if hadText { line += 1 }
        lineHasText = false
        return convert(records)
    }

    private mutating func convert(_ records: [EventText.Record]) -> [Output] {
        guard !records.isEmpty else { return [] }
        let text = rawText()
        let start = recordStart
        reset()
        return records.map { r in
            switch r.result {
            case .success(let e): return .event(e, raw: text, line: start)
            case .failure(let e): return .unparseable(e.message, raw: text, line: start)
            }
        }
    }

    /// An odd number of quote characters so far: a CSV record continues on the next line.
    private var insideQuotes: Bool {
        raw.reduce(0) { $0 + ($1 == UInt8(ascii: "\"") ? 1 : 0) } % 2 == 1
    }

    private func rawText() -> String {
        var bytes = raw[...]
        while let last = bytes.last, last == 10 || last == 13 { bytes = bytes.dropLast() }
        return String(decoding: bytes, as: UTF8.self) + (rawOverflow ? "…" : "")
    }

    private mutating func reset() {
        raw.removeAll(keepingCapacity: true)
        rawOverflow = false
    }
}
