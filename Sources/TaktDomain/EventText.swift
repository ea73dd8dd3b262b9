// Event files: JSON Lines and CSV (RFC 4180) readers and writers, used by `takt seed`, `takt-load`
// and imports. Field names and meanings are those of spec/metrics.md section 1. Pure Swift, no
// Foundation, and no input can crash it (it is a fuzz target: `EventText.parseAll`).
//
// Parsing only builds events; the acceptance rules (`AcceptancePolicy.precheck`) are the server's.
// What cannot be represented in an `Event` at all (unknown kind, a non-integer time, a count outside
// UInt32, a missing required field, broken syntax) is a parse error naming the line and the field.

public enum EventText {
    public enum Format: Sendable, Hashable {
        /// One flat JSON object per line.
        case jsonLines
        /// A header row naming the columns (any order), then one event per row; RFC 4180 quoting.
        case csv
    }

    /// A problem with one line (for CSV, the line a record starts on), 1-based.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public var line: Int
        /// Names the field first where there is one: `confidence: expected a number, got "abc"`.
        public var message: String
        public init(line: Int, message: String) {
            self.line = line
            self.message = message
        }
        public var description: String { "line \(line): \(message)" }
    }

    /// What one non-blank line (CSV: record) of input gave.
    public struct Record: Sendable, Hashable {
        public var line: Int
        public var result: Result<Event, ParseError>
        public init(line: Int, result: Result<Event, ParseError>) {
            self.line = line
            self.result = result
        }
        public var event: Event? {
            if case .success(let e) = result { return e }
            return nil
        }
        public var error: ParseError? {
            if case .failure(let e) = result { return e }
            return nil
        }
    }

    /// A longer line (CSV: record) is reported as an error and skipped without being buffered.
    public static let maxRecordBytes = 65_536
    /// Unknown JSON fields may hold nested values; deeper nesting than this is an error.
    public static let maxNesting = 32

    /// Parses a whole input. The format is detected from the first non-blank line when `format` is nil:
    /// a line starting with `{` means JSON Lines, anything else is a CSV header.
    public static func parseAll(_ bytes: [UInt8], format: Format? = nil) -> [Record] {
        var parser = EventTextParser(format: format)
        var out = parser.feed(bytes)
        out += parser.finish()
        return out
    }

    public static func parseAll(_ text: String, format: Format? = nil) -> [Record] {
        parseAll(Array(text.utf8), format: format)
    }

    /// Parses one JSON Lines line on its own; nil for a blank line.
    public static func parseJSONLine(_ line: String, lineNumber: Int = 1) -> Record? {
        var bytes = Array(line.utf8)
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        if isBlank(bytes[...]) { return nil }
        return Record(line: lineNumber, result: JSONObjectParser.event(bytes[...], line: lineNumber))
    }

    // MARK: Writers

    /// CSV columns in the order the writer emits them.
    public static let csvColumns = ["event_time_ms", "worker_id", "workstation_id", "kind", "confidence", "count",
                                    "site_id", "model_version", "gateway_id", "sequence"]

    /// The CSV header row, without a line ending.
    public static var csvHeader: String { csvColumns.joined(separator: ",") }

    /// One CSV row in `csvColumns` order, without a line ending. Empty strings are written as `""`
    /// (present but empty): an unquoted empty cell reads back as an absent field.
    public static func csvRow(_ e: Event) -> String {
        var cells: [String] = []
        cells.reserveCapacity(csvColumns.count)
        cells.append(String(e.eventTimeMs))
        cells.append(csvCell(e.workerID))
        cells.append(csvCell(e.workstationID))
        cells.append(e.kind.name)
        cells.append(e.confidence.isFinite ? e.confidence.description : "")
        cells.append(String(e.count))
        cells.append(csvCell(e.siteID))
        cells.append(csvCell(e.modelVersion))
        if let key = e.idempotencyKey {
            cells.append(csvCell(key.gatewayID))
            cells.append(String(key.sequence))
        } else {
            cells.append("")
            cells.append("")
        }
        return cells.joined(separator: ",")
    }

    /// One JSON Lines line, without the line ending. `count` is written for `product_count` or when
    /// non-zero, `model_version` when non-empty; a non-finite confidence (never valid) is written as null.
    public static func jsonLine(_ e: Event) -> String {
        var s = "{\"event_time_ms\":"
        s += String(e.eventTimeMs)
        s += ",\"worker_id\":"
        appendJSONString(e.workerID, to: &s)
        s += ",\"workstation_id\":"
        appendJSONString(e.workstationID, to: &s)
        s += ",\"kind\":\""
        s += e.kind.name
        s += "\",\"confidence\":"
        s += e.confidence.isFinite ? e.confidence.description : "null"
        if e.kind == .productCount || e.count != 0 {
            s += ",\"count\":"
            s += String(e.count)
        }
        s += ",\"site_id\":"
        appendJSONString(e.siteID, to: &s)
        if !e.modelVersion.isEmpty {
            s += ",\"model_version\":"
            appendJSONString(e.modelVersion, to: &s)
        }
        if let key = e.idempotencyKey {
            s += ",\"gateway_id\":"
            appendJSONString(key.gatewayID, to: &s)
            s += ",\"sequence\":"
            s += String(key.sequence)
        }
        s += "}"
        return s
    }

    static func csvCell(_ v: String) -> String {
        var needsQuotes = v.isEmpty
        for b in v.utf8 where b == UInt8(ascii: ",") || b == UInt8(ascii: "\"") || b == 10 || b == 13 {
            needsQuotes = true
            break
        }
        if let f = v.utf8.first, isSpace(f) { needsQuotes = true }
        if let l = v.utf8.last, isSpace(l) { needsQuotes = true }
        guard needsQuotes else { return v }
        var out = "\""
        for ch in v.unicodeScalars {
            if ch == "\"" { out += "\"\"" } else { out.unicodeScalars.append(ch) }
        }
        out += "\""
        return out
    }

    static func appendJSONString(_ v: String, to s: inout String) {
        let hex = Array("0123456789abcdef".unicodeScalars)
        s += "\""
        for ch in v.unicodeScalars {
            switch ch {
            case "\"": s += "\\\""
            case "\\": s += "\\\\"
            case "\n": s += "\\n"
            case "\r": s += "\\r"
            case "\t": s += "\\t"
            default:
                if ch.value < 0x20 {
                    s += "\\u00"
                    s.unicodeScalars.append(hex[Int(ch.value >> 4)])
                    s.unicodeScalars.append(hex[Int(ch.value & 0xF)])
                } else {
                    s.unicodeScalars.append(ch)
                }
            }
        }
        s += "\""
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 32 || b == 9 }

    static func isBlank(_ bytes: ArraySlice<UInt8>) -> Bool {
        bytes.allSatisfy { $0 == 32 || $0 == 9 || $0 == 13 || $0 == 10 }
    }
}

// MARK: - Streaming parser

/// Incremental reader: feed bytes in chunks of any size, get a `Record` for every complete non-blank
/// line (CSV: record). A UTF-8 byte order mark at the start is skipped; lines may end in LF or CRLF.
/// For CSV, a header error is reported once (on the header's line) and the rows after it are skipped.
public struct EventTextParser: Sendable {
    /// Detected from the first non-blank line when not given.
    public private(set) var format: EventText.Format?

    private var buffer: [UInt8] = []
    private var physicalLine = 1
    private var recordLine = 1
    private var inQuotes = false
    private var discarding = false
    private var sawFirstRecord = false
    private var header: CSVHeader?
    private var headerFailed = false

    public init(format: EventText.Format? = nil) {
        self.format = format
    }

    /// Consumes `bytes`; returns the records completed by them.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [EventText.Record] {
        var out: [EventText.Record] = []
        for b in bytes {
            if b == 10 {
                physicalLine += 1
                if discarding {
                    discarding = false
                    inQuotes = false
                    recordLine = physicalLine
                    continue
                }
                if inQuotes && format == .csv {
                    append(b, into: &out)
                    continue
                }
                complete(into: &out)
                recordLine = physicalLine
                continue
            }
            if discarding { continue }
            if b == UInt8(ascii: "\"") && format == .csv { inQuotes.toggle() }
            append(b, into: &out)
        }
        return out
    }

    /// Ends the input: returns the record of a last line without a line ending, if any.
    public mutating func finish() -> [EventText.Record] {
        var out: [EventText.Record] = []
        if !discarding && !buffer.isEmpty { complete(into: &out) }
        buffer = []
        discarding = false
        inQuotes = false
        return out
    }

    private mutating func append(_ b: UInt8, into out: inout [EventText.Record]) {
        buffer.append(b)
        if buffer.count > EventText.maxRecordBytes {
            out.append(EventText.Record(line: recordLine, result: .failure(EventText.ParseError(
                line: recordLine, message: "longer than \(EventText.maxRecordBytes) bytes"))))
            buffer.removeAll(keepingCapacity: true)
            discarding = true
            sawFirstRecord = true
        }
    }

    private mutating func complete(into out: inout [EventText.Record]) {
        defer { buffer.removeAll(keepingCapacity: true) }
        var start = 0
        var end = buffer.count
        if !sawFirstRecord {
            sawFirstRecord = true
            if end >= 3 && buffer[0] == 0xEF && buffer[1] == 0xBB && buffer[2] == 0xBF { start = 3 }
        }
        if end > start && buffer[end - 1] == 13 { end -= 1 }
        let bytes = buffer[start..<end]
        if EventText.isBlank(bytes) { return }
        let line = recordLine
        if format == nil {
            let first = bytes.first { !EventText.isSpace($0) }
            format = first == UInt8(ascii: "{") ? .jsonLines : .csv
        }
        switch format {
        case .jsonLines?:
            out.append(EventText.Record(line: line, result: JSONObjectParser.event(bytes, line: line)))
        case .csv?, nil:
            if headerFailed { return }
            if let header {
                out.append(EventText.Record(line: line, result: header.event(bytes, line: line)))
            } else {
                switch CSVHeader.parse(bytes) {
                case .success(let h):
                    header = h
                case .failure(let message):
                    headerFailed = true
                    out.append(EventText.Record(line: line, result: .failure(EventText.ParseError(
                        line: line, message: message.text))))
                }
            }
        }
    }
}

// MARK: - Field values shared by both formats

struct FieldMessage: Error {
    var text: String
    init(_ text: String) { self.text = text }
}

/// A field's value as found in the input, before conversion.
enum RawValue {
    /// A JSON string, or a CSV cell (`csv`: all CSV cells are text).
    case string(String, csv: Bool)
    /// A JSON number's text; `integral` when it has no fraction and no exponent.
    case number(String, integral: Bool)
    case bool(Bool)
    case null
    case composite

    /// How the value is shown after "got".
    var shown: String {
        switch self {
        case .string(let s, _):
            var t = ""
            for (i, ch) in s.unicodeScalars.enumerated() {
                if i == 40 { t += "…"; break }
                if ch.value < 0x20 || ch == "\"" || ch == "\\" {
                    EventText.appendJSONString(String(ch), to: &t)
                    t.removeFirst()
                    t.removeLast()
                } else {
                    t.unicodeScalars.append(ch)
                }
            }
            return "\"" + t + "\""
        case .number(let n, _): return n.count > 40 ? String(n.prefix(40)) + "…" : n
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .composite: return "an object or array"
        }
    }
}

/// The spec's fields of one line, each nil when absent (JSON null and an unquoted empty CSV cell are absent).
struct EventFields {
    static let names = ["event_time_ms", "timestamp", "worker_id", "workstation_id", "kind", "confidence", "count",
                        "site_id", "model_version", "gateway_id", "sequence"]
    var values = [RawValue?](repeating: nil, count: EventFields.names.count)

    static func index(of name: String) -> Int? { names.firstIndex(of: name) }

    subscript(_ name: String) -> RawValue? {
        guard let i = Self.index(of: name), let v = values[i] else { return nil }
        if case .null = v { return nil }
        return v
    }

    func event() throws(FieldMessage) -> Event {
        var time: Int64?
        if let v = self["event_time_ms"] { time = try Self.integer(v, "event_time_ms") }
        if let v = self["timestamp"] {
            let text = try Self.string(v, "timestamp")
            let ms: Int64
            do throws(RFC3339.ParseError) {
                ms = try RFC3339.parse(text)
            } catch {
                throw FieldMessage("timestamp: \(error.reason), got \(v.shown)")
            }
            if let t = time, t != ms {
                throw FieldMessage("timestamp: \(text) is \(ms) ms, but event_time_ms is \(t)")
            }
            time = ms
        }
        guard let eventTime = time else { throw FieldMessage("event_time_ms: missing (or give timestamp)") }
        let worker = try Self.string(try required("worker_id"), "worker_id")
        let station = try Self.string(try required("workstation_id"), "workstation_id")
        let kindValue = try required("kind")
        let kindName = try Self.string(kindValue, "kind")
        guard let kind = EventKind(name: kindName) else {
            throw FieldMessage("kind: expected working, idle, absent or product_count, got \(kindValue.shown)")
        }
        let confidence = try Self.number(try required("confidence"), "confidence")
        var count: UInt32 = 0
        if let v = self["count"] {
            let c = try Self.integer(v, "count")
            guard c >= 0 && c <= Int64(UInt32.max) else {
                throw FieldMessage("count: must be between 0 and \(UInt32.max), got \(v.shown)")
            }
            count = UInt32(c)
        }
        let site = try self["site_id"].map { v throws(FieldMessage) in try Self.string(v, "site_id") } ?? Event.defaultSite
        let model = try self["model_version"].map { v throws(FieldMessage) in try Self.string(v, "model_version") } ?? ""
        var key: IdempotencyKey?
        switch (self["gateway_id"], self["sequence"]) {
        case (nil, nil):
            break
        case (let g?, let s?):
            key = IdempotencyKey(gatewayID: try Self.string(g, "gateway_id"), sequence: try Self.unsigned(s, "sequence"))
        case (_?, nil):
            throw FieldMessage("sequence: required with gateway_id")
        case (nil, _?):
            throw FieldMessage("gateway_id: required with sequence")
        }
        return Event(eventTimeMs: eventTime, workerID: worker, workstationID: station, kind: kind,
                     confidence: confidence, count: count, siteID: site, modelVersion: model, idempotencyKey: key)
    }

    private func required(_ name: String) throws(FieldMessage) -> RawValue {
        guard let v = self[name] else { throw FieldMessage("\(name): missing") }
        return v
    }

    static func string(_ v: RawValue, _ name: String) throws(FieldMessage) -> String {
        if case .string(let s, _) = v { return s }
        throw FieldMessage("\(name): expected a string, got \(v.shown)")
    }

    /// Optional sign and digits only: "1.0" and "1e3" are not integers here.
    static func integer(_ v: RawValue, _ name: String) throws(FieldMessage) -> Int64 {
        let text: String
        switch v {
        case .number(let n, integral: true): text = n
        case .string(let s, csv: true) where isIntegerText(s): text = s
        default: throw FieldMessage("\(name): expected an integer, got \(v.shown)")
        }
        guard let n = Int64(text) else { throw FieldMessage("\(name): out of range, got \(v.shown)") }
        return n
    }

    static func unsigned(_ v: RawValue, _ name: String) throws(FieldMessage) -> UInt64 {
        let text: String
        switch v {
        case .number(let n, integral: true): text = n
        case .string(let s, csv: true) where isIntegerText(s): text = s
        default: throw FieldMessage("\(name): expected an integer, got \(v.shown)")
        }
        guard let n = UInt64(text) else {
            throw FieldMessage("\(name): must be between 0 and \(UInt64.max), got \(v.shown)")
        }
        return n
    }

    /// JSON number syntax in both formats (so no "nan", "inf" or hex floats); must be finite as a Double.
    static func number(_ v: RawValue, _ name: String) throws(FieldMessage) -> Double {
        let text: String
        switch v {
        case .number(let n, _): text = n
        case .string(let s, csv: true) where JSONNumber.isValid(Array(s.utf8)[...]): text = s
        default: throw FieldMessage("\(name): expected a number, got \(v.shown)")
        }
        guard let d = Double(text), d.isFinite else { throw FieldMessage("\(name): out of range, got \(v.shown)") }
        return d
    }

    static func isIntegerText(_ s: String) -> Bool {
        var u = s.utf8[...]
        if u.first == UInt8(ascii: "-") || u.first == UInt8(ascii: "+") { u = u.dropFirst() }
        return !u.isEmpty && u.allSatisfy { $0 >= 48 && $0 <= 57 }
    }
}

enum JSONNumber {
    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`; returns the end index and whether it is
    /// integral, or nil when `bytes[start...]` does not begin with a number.
    static func scan(_ b: ArraySlice<UInt8>, from start: Int) -> (end: Int, integral: Bool)? {
        var i = start
        func digit(_ i: Int) -> Bool { i < b.endIndex && b[i] >= 48 && b[i] <= 57 }
        if i < b.endIndex && b[i] == UInt8(ascii: "-") { i += 1 }
        guard digit(i) else { return nil }
        if b[i] == 48 { i += 1 } else { while digit(i) { i += 1 } }
        var integral = true
        if i < b.endIndex && b[i] == UInt8(ascii: ".") {
            i += 1
            guard digit(i) else { return nil }
            while digit(i) { i += 1 }
            integral = false
        }
        if i < b.endIndex && (b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E")) {
            i += 1
            if i < b.endIndex && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")) { i += 1 }
            guard digit(i) else { return nil }
            while digit(i) { i += 1 }
            integral = false
        }
        return (i, integral)
    }

    static func isValid(_ b: ArraySlice<UInt8>) -> Bool {
        guard let r = scan(b, from: b.startIndex) else { return false }
        return r.end == b.endIndex
    }
}

// MARK: - JSON Lines

/// A hand parser for one flat JSON object (RFC 8259 syntax); values of unknown fields may nest and are
/// skipped. Iterative, bounds-checked, no recursion.
struct JSONObjectParser {
    let b: ArraySlice<UInt8>
    var i: Int

    static func event(_ bytes: ArraySlice<UInt8>, line: Int) -> Result<Event, EventText.ParseError> {
        var p = JSONObjectParser(b: bytes, i: bytes.startIndex)
        do throws(FieldMessage) {
            let fields = try p.object()
            return .success(try fields.event())
        } catch {
            return .failure(EventText.ParseError(line: line, message: error.text))
        }
    }

    private var column: Int { i - b.startIndex + 1 }

    private func syntax(_ what: String) -> FieldMessage {
        if i >= b.endIndex { return FieldMessage("invalid JSON: \(what) at the end of the line") }
        return FieldMessage("invalid JSON: \(what) at column \(column)")
    }

    private mutating func skipSpace() {
        while i < b.endIndex, b[i] == 32 || b[i] == 9 || b[i] == 10 || b[i] == 13 { i += 1 }
    }

    private func peek() -> UInt8? { i < b.endIndex ? b[i] : nil }

    mutating func object() throws(FieldMessage) -> EventFields {
        var fields = EventFields()
        skipSpace()
        guard peek() == UInt8(ascii: "{") else { throw syntax("expected an object '{'") }
        i += 1
        skipSpace()
        if peek() == UInt8(ascii: "}") {
            i += 1
        } else {
            while true {
                skipSpace()
                guard peek() == UInt8(ascii: "\"") else { throw syntax("expected a field name") }
                let key = try string()
                skipSpace()
                guard peek() == UInt8(ascii: ":") else { throw syntax("expected ':'") }
                i += 1
                skipSpace()
                let value = try value()
                if let k = EventFields.index(of: key) {
                    if fields.values[k] != nil { throw FieldMessage("\(key): given twice") }
                    fields.values[k] = value
                }
                skipSpace()
                if peek() == UInt8(ascii: ",") { i += 1; continue }
                if peek() == UInt8(ascii: "}") { i += 1; break }
                throw syntax("expected ',' or '}'")
            }
        }
        skipSpace()
        if i < b.endIndex { throw syntax("unexpected text after the object") }
        return fields
    }

    private mutating func value() throws(FieldMessage) -> RawValue {
        guard let c = peek() else { throw syntax("expected a value") }
        switch c {
        case UInt8(ascii: "\""):
            return .string(try string(), csv: false)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            try skipComposite()
            return .composite
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        default:
            guard let r = JSONNumber.scan(b, from: i) else { throw syntax("expected a value") }
            let text = String(decoding: b[i..<r.end], as: UTF8.self)
            i = r.end
            return .number(text, integral: r.integral)
        }
    }

    private mutating func literal(_ word: StaticString) throws(FieldMessage) {
        let w = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        for ch in w {
            guard peek() == ch else { throw syntax("expected a value") }
            i += 1
        }
    }

    /// Skips a nested object or array, checking bracket pairing and string syntax but not the rest.
    private mutating func skipComposite() throws(FieldMessage) {
        var stack: [UInt8] = []
        while let c = peek() {
            switch c {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                stack.append(c == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]"))
                if stack.count > EventText.maxNesting {
                    throw FieldMessage("invalid JSON: nested deeper than \(EventText.maxNesting) levels")
                }
                i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                guard stack.last == c else { throw syntax("mismatched '\(Character(Unicode.Scalar(c)))'") }
                stack.removeLast()
                i += 1
                if stack.isEmpty { return }
            case UInt8(ascii: "\""):
                _ = try string()
            default:
                i += 1
            }
        }
        throw syntax("unterminated object or array")
    }

    /// A string starting at the opening quote: escapes decoded, UTF-8 validated.
    private mutating func string() throws(FieldMessage) -> String {
        i += 1
        let start = i
        // Fast path: no escapes.
        while i < b.endIndex, b[i] != UInt8(ascii: "\""), b[i] != UInt8(ascii: "\\"), b[i] >= 0x20 { i += 1 }
        var out: [UInt8] = Array(b[start..<i])
        while true {
            guard let c = peek() else { throw syntax("unterminated string") }
            if c == UInt8(ascii: "\"") { i += 1; break }
            if c < 0x20 { throw syntax("control character in string") }
            if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
            i += 1
            guard let e = peek() else { throw syntax("unterminated string") }
            i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(8)
            case UInt8(ascii: "f"): out.append(12)
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    guard peek() == UInt8(ascii: "\\") else { throw syntax("unpaired surrogate in \\u escape") }
                    i += 1
                    guard peek() == UInt8(ascii: "u") else { throw syntax("unpaired surrogate in \\u escape") }
                    i += 1
                    let low = try hex4()
                    guard low >= 0xDC00 && low < 0xE000 else { throw syntax("unpaired surrogate in \\u escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    throw syntax("unpaired surrogate in \\u escape")
                }
                guard let u = Unicode.Scalar(scalar) else { throw syntax("invalid \\u escape") }
                out.append(contentsOf: Character(u).utf8)
            default:
                i -= 2
                throw syntax("invalid escape '\\\(Character(Unicode.Scalar(e)))'")
            }
        }
        guard let s = String(validating: out, as: UTF8.self) else { throw FieldMessage("invalid UTF-8 in a string") }
        return s
    }

    private mutating func hex4() throws(FieldMessage) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let c = peek() else { throw syntax("invalid \\u escape") }
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 65...70: d = UInt32(c - 55)
            case 97...102: d = UInt32(c - 87)
            default: throw syntax("invalid \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }
}

// MARK: - CSV

/// The column layout read from a CSV header row.
struct CSVHeader: Sendable {
    /// For each column, the index into `EventFields.names`, or nil for a column that is ignored.
    var columns: [Int?]

    static func parse(_ bytes: ArraySlice<UInt8>) -> Result<CSVHeader, FieldMessage> {
        let cells: [CSVCell]
        do throws(FieldMessage) {
            cells = try CSVCell.split(bytes)
        } catch {
            return .failure(FieldMessage("header: \(error.text)"))
        }
        var columns: [Int?] = []
        var seen = Set<Int>()
        for cell in cells {
            let k = EventFields.index(of: cell.text)
            if let k {
                if !seen.insert(k).inserted { return .failure(FieldMessage("header: column \(cell.text) given twice")) }
            }
            columns.append(k)
        }
        for name in ["worker_id", "workstation_id", "kind", "confidence"] where !seen.contains(EventFields.index(of: name)!) {
            return .failure(FieldMessage("header: missing column \(name)"))
        }
        if !seen.contains(EventFields.index(of: "event_time_ms")!) && !seen.contains(EventFields.index(of: "timestamp")!) {
            return .failure(FieldMessage("header: missing column event_time_ms (or timestamp)"))
        }
        return .success(CSVHeader(columns: columns))
    }

    func event(_ bytes: ArraySlice<UInt8>, line: Int) -> Result<Event, EventText.ParseError> {
        do throws(FieldMessage) {
            let cells = try CSVCell.split(bytes)
            guard cells.count == columns.count else {
                throw FieldMessage("expected \(columns.count) fields as in the header, got \(cells.count)")
            }
            var fields = EventFields()
            for (cell, column) in zip(cells, columns) {
                guard let k = column else { continue }
                // An unquoted empty cell is an absent field; `""` is a present empty string.
                if cell.text.isEmpty && !cell.quoted { continue }
                fields.values[k] = .string(cell.text, csv: true)
            }
            return .success(try fields.event())
        } catch {
            return .failure(EventText.ParseError(line: line, message: error.text))
        }
    }
}

struct CSVCell {
    var text: String
    var quoted: Bool

    /// RFC 4180 fields of one record. Spaces and tabs around an unquoted cell or around the quotes are
    /// dropped; inside quotes everything is kept.
    static func split(_ b: ArraySlice<UInt8>) throws(FieldMessage) -> [CSVCell] {
        var cells: [CSVCell] = []
        var i = b.startIndex
        let comma = UInt8(ascii: ","), quote = UInt8(ascii: "\"")
        while true {
            while i < b.endIndex && EventText.isSpace(b[i]) { i += 1 }
            var bytes: [UInt8] = []
            var quoted = false
            if i < b.endIndex && b[i] == quote {
                quoted = true
                i += 1
                while true {
                    guard i < b.endIndex else { throw FieldMessage("unterminated quoted field \(cells.count + 1)") }
                    if b[i] == quote {
                        if i + 1 < b.endIndex && b[i + 1] == quote {
                            bytes.append(quote)
                            i += 2
                            continue
                        }
                        i += 1
                        break
                    }
                    bytes.append(b[i])
                    i += 1
                }
                while i < b.endIndex && EventText.isSpace(b[i]) { i += 1 }
                if i < b.endIndex && b[i] != comma {
                    throw FieldMessage("field \(cells.count + 1): text after the closing quote")
                }
            } else {
                let start = i
                while i < b.endIndex && b[i] != comma {
                    if b[i] == quote { throw FieldMessage("field \(cells.count + 1): quote inside an unquoted field") }
                    i += 1
                }
                var end = i
                while end > start && EventText.isSpace(b[end - 1]) { end -= 1 }
                bytes = Array(b[start..<end])
            }
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw FieldMessage("field \(cells.count + 1): invalid UTF-8")
            }
            cells.append(CSVCell(text: text, quoted: quoted))
            if i >= b.endIndex { return cells }
            i += 1 // the comma
        }
    }
}

// MARK: - RFC 3339

/// RFC 3339 times <-> ms since the epoch. Accepts `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (`t`, `z`
/// and a space for `T` too), years 0001–9999; fraction digits past milliseconds are truncated (toward
/// the earlier time); a leap second (`:60`) is rejected.
public enum RFC3339 {
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public var reason: String
        public init(_ reason: String) { self.reason = reason }
        public var description: String { reason }
    }

    public static func parse(_ text: some StringProtocol) throws(ParseError) -> Int64 {
        let b = Array(text.utf8)
        let bad = ParseError("expected an RFC 3339 time like 2025-11-26T10:00:00Z")
        func num(_ at: Int, _ n: Int) throws(ParseError) -> Int64 {
            guard at + n <= b.count else { throw bad }
            var v: Int64 = 0
            for k in at..<(at + n) {
                guard b[k] >= 48 && b[k] <= 57 else { throw bad }
                v = v * 10 + Int64(b[k] - 48)
            }
            return v
        }
        func expect(_ at: Int, _ chars: String) throws(ParseError) {
            guard at < b.count, chars.utf8.contains(b[at]) else { throw bad }
        }
        let year = try num(0, 4)
        try expect(4, "-")
        let month = try num(5, 2)
        try expect(7, "-")
        let day = try num(8, 2)
        try expect(10, "Tt ")
        let hour = try num(11, 2)
        try expect(13, ":")
        let minute = try num(14, 2)
        try expect(16, ":")
        let second = try num(17, 2)
        var i = 19
        var millis: Int64 = 0
        if i < b.count && b[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            while i < b.count && b[i] >= 48 && b[i] <= 57 {
                if i - start < 3 { millis = millis * 10 + Int64(b[i] - 48) }
                i += 1
            }
            guard i > start else { throw bad }
            for _ in min(i - start, 3)..<3 { millis *= 10 }
        }
        var offsetMinutes: Int64 = 0
        guard i < b.count else { throw ParseError("missing time zone (Z or ±HH:MM)") }
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            i += 1
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign: Int64 = b[i] == UInt8(ascii: "-") ? -1 : 1
            let oh = try num(i + 1, 2)
            try expect(i + 3, ":")
            let om = try num(i + 4, 2)
            guard oh <= 23 && om <= 59 else { throw ParseError("time zone offset out of range") }
            offsetMinutes = sign * (oh * 60 + om)
            i += 6
        } else {
            throw ParseError("missing time zone (Z or ±HH:MM)")
        }
        guard i == b.count else { throw bad }
        guard year >= 1 else { throw ParseError("year out of range") }
        guard month >= 1 && month <= 12 else { throw ParseError("month out of range") }
        guard day >= 1 && day <= daysInMonth(year, month) else { throw ParseError("day out of range") }
        guard hour <= 23 else { throw ParseError("hour out of range") }
        guard minute <= 59 else { throw ParseError("minute out of range") }
        guard second <= 59 else { throw ParseError("second out of range (leap seconds are not supported)") }
        let days = daysFromCivil(year, month, day)
        let local = ((days * 24 + hour) * 60 + minute) * 60 + second
        return (local - offsetMinutes * 60) * 1000 + millis
    }

    /// `2025-11-26T10:00:00Z`, with `.mmm` when the milliseconds are not zero, and `±HH:MM` instead of
    /// `Z` for a non-zero `offsetMinutes`. Defined for years 0001–9999.
    public static func format(_ ms: Int64, offsetMinutes: Int = 0) -> String {
        let offset = Int64(max(-1439, min(1439, offsetMinutes)))
        let local = ms.addingReportingOverflow(offset * 60_000)
        let t = local.overflow ? ms : local.partialValue
        let (days, msOfDay) = floorDivMod(t, 86_400_000)
        let (y, m, d) = civilFromDays(days)
        var s = pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2) + "T"
        s += pad(msOfDay / 3_600_000, 2) + ":" + pad(msOfDay / 60_000 % 60, 2) + ":" + pad(msOfDay / 1000 % 60, 2)
        if msOfDay % 1000 != 0 { s += "." + pad(msOfDay % 1000, 3) }
        if offset == 0 {
            s += "Z"
        } else {
            s += (offset < 0 ? "-" : "+") + pad(abs(offset) / 60, 2) + ":" + pad(abs(offset) % 60, 2)
        }
        return s
    }

    static func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    static func floorDivMod(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        var q = a / b
        var r = a % b
        if r < 0 { q -= 1; r += b }
        return (q, r)
    }

    static func isLeap(_ y: Int64) -> Bool { y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) }

    static func daysInMonth(_ y: Int64, _ m: Int64) -> Int64 {
        switch m {
        case 2: return isLeap(y) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    // Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian).
    static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
