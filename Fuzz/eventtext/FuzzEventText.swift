// libFuzzer target `eventtext`: JSON Lines / CSV event files (`EventText.parseAll`, what `takt ingest`
// and `takt-load` read), in every format mode.
//
// Besides "never crashes", it checks:
// - the streaming parser gives the same records whatever pieces the bytes arrive in;
// - record line numbers increase, and each error names a line;
// - every parsed event the server would accept (`AcceptancePolicy.precheck`) is written back by
//   `EventText.jsonLine` / `csvRow` to text that parses to the same event.
// Built by scripts/fuzz.sh with -sanitize=fuzzer,address.
import TaktDomain

let nowMs: Int64 = 1_767_225_600_000  // fixed clock: a run is deterministic
/// Every event the server could store (any time up to the end of Int64, low confidence too).
let policy = AcceptancePolicy(minConfidence: 0, maxFutureSkewMs: Int64.max - nowMs)

func parseInPieces(_ input: [UInt8], format: EventText.Format?) -> [EventText.Record] {
    var parser = EventTextParser(format: format)
    var out: [EventText.Record] = []
    var state = UInt64(truncatingIfNeeded: input.count) &* 0x9E37_79B9_7F4A_7C15 | 1
    var i = 0
    while i < input.count {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let n = min(1 + Int(truncatingIfNeeded: state >> 59), input.count - i)  // 1...32 bytes
        out += parser.feed(input[i..<i + n])
        i += n
    }
    out += parser.finish()
    return out
}

/// Two events are the same when their writer output is: compares NaN-free, field by field.
func same(_ a: Event, _ b: Event) -> Bool {
    a == b && EventText.jsonLine(a) == EventText.jsonLine(b)
}

func checkWriters(_ records: [EventText.Record]) {
    var lastLine = 0
    for r in records {
        precondition(r.line >= 1 && r.line >= lastLine, "record line numbers go backwards: \(r.line) after \(lastLine)")
        lastLine = r.line
        if let error = r.error { precondition(error.line == r.line, "an error on line \(error.line) in a record of line \(r.line)") }
        guard let e = r.event, policy.precheck(e, nowMs: nowMs) == nil else { continue }
        let line = EventText.jsonLine(e)
        guard let back = EventText.parseJSONLine(line), let parsed = back.event else {
            preconditionFailure("jsonLine output does not parse: \(line)")
        }
        precondition(same(parsed, e), "jsonLine round trip changed the event:\n\(line)\n\(e)\n\(parsed)")
        let csv = EventText.csvHeader + "\n" + EventText.csvRow(e) + "\n"
        let rows = EventText.parseAll(csv, format: .csv)
        guard rows.count == 1, let row = rows[0].event else { preconditionFailure("csvRow output does not parse: \(csv)") }
        precondition(same(row, e), "csvRow round trip changed the event:\n\(csv)\n\(e)\n\(row)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEventText(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    for format in [nil, EventText.Format.jsonLines, .csv] {
        let whole = EventText.parseAll(input, format: format)
        // Feeding from outside the module runs the unspecialized generic `feed`: ~20x slower per byte,
        // so only for inputs of ordinary size (the record limit is reached with the whole input).
        if input.count <= 8192 {
            let pieces = parseInPieces(input, format: format)
            precondition(whole == pieces, "records depend on how the input was split (format \(String(describing: format)))")
        }
        checkWriters(whole)
    }
    return 0
}
