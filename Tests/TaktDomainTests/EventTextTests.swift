import Testing
@testable import TaktDomain

private let t0: Int64 = 1_764_151_200_000 // 2025-11-26T10:00:00Z

private let sampleEvents: [Event] = [
    Event(eventTimeMs: t0, workerID: "W1", workstationID: "S1", kind: .working, confidence: 0.93,
          modelVersion: "v2.3"),
    Event(eventTimeMs: t0 + 1, workerID: "W2", workstationID: "S10", kind: .productCount, confidence: 1.0, count: 5,
          siteID: "plant-2", modelVersion: "v2.4", idempotencyKey: IdempotencyKey(gatewayID: "gw-1", sequence: 42)),
    Event(eventTimeMs: 1, workerID: "a.b:c-d_e", workstationID: "S", kind: .idle, confidence: 0),
    Event(eventTimeMs: t0, workerID: "W3", workstationID: "S2", kind: .absent, confidence: 0.7, count: 3, siteID: ""),
    Event(eventTimeMs: -5, workerID: "", workstationID: "Ü \"q\", x", kind: .productCount, confidence: 1e-05,
          count: UInt32.max, modelVersion: "model \"α\",\nline\\two\t\u{1}",
          idempotencyKey: IdempotencyKey(gatewayID: "", sequence: UInt64.max)),
    Event(eventTimeMs: Int64.max, workerID: " W4 ", workstationID: "S3", kind: .working, confidence: 0.123456789),
]

private func onlyEvents(_ records: [EventText.Record]) -> [Event] {
    records.map { r in
        if case .failure(let e) = r.result { Issue.record("unexpected error \(e)") }
        return r.event
    }.compactMap { $0 }
}

private func messages(_ records: [EventText.Record]) -> [String] {
    records.compactMap { $0.error?.description }
}

private let validJSON = #"{"event_time_ms":1764151200000,"worker_id":"W1","workstation_id":"S1","kind":"working","confidence":0.9"#

@Suite struct EventTextTests {
    @Test func jsonLinesRoundTrip() {
        let text = sampleEvents.map(EventText.jsonLine).joined(separator: "\n") + "\n"
        let records = EventText.parseAll(text)
        #expect(onlyEvents(records) == sampleEvents)
        #expect(records.map(\.line) == Array(1...sampleEvents.count))
    }

    @Test func csvRoundTrip() {
        let text = ([EventText.csvHeader] + sampleEvents.map(EventText.csvRow)).joined(separator: "\r\n")
        let records = EventText.parseAll(text)
        #expect(onlyEvents(records) == sampleEvents)
        // The row with a newline inside a quoted cell spans lines 6–7; the next row starts on line 8.
        #expect(records.map(\.line) == [2, 3, 4, 5, 6, 8])
    }

    @Test func jsonLineShape() {
        #expect(EventText.jsonLine(sampleEvents[0]) ==
            #"{"event_time_ms":1764151200000,"worker_id":"W1","workstation_id":"S1","kind":"working","confidence":0.93,"site_id":"default","model_version":"v2.3"}"#)
        #expect(EventText.jsonLine(sampleEvents[1]) ==
            #"{"event_time_ms":1764151200001,"worker_id":"W2","workstation_id":"S10","kind":"product_count","confidence":1.0,"count":5,"site_id":"plant-2","model_version":"v2.4","gateway_id":"gw-1","sequence":42}"#)
        #expect(EventText.csvRow(sampleEvents[1]) == "1764151200001,W2,S10,product_count,1.0,5,plant-2,v2.4,gw-1,42")
        var nan = sampleEvents[0]
        nan.confidence = .nan
        #expect(EventText.jsonLine(nan).contains(#""confidence":null"#))
    }

    @Test func defaultsAndOptionalFields() {
        let records = EventText.parseAll(validJSON + "}")
        let e = records.first?.event
        #expect(e == Event(eventTimeMs: t0, workerID: "W1", workstationID: "S1", kind: .working, confidence: 0.9))
        #expect(e?.siteID == "default")
        #expect(e?.count == 0)
        let nulls = EventText.parseAll(validJSON + #","count":null,"site_id":null,"model_version":null,"extra":{"a":[1,{"b":"}"}]},"x":true}"#)
        #expect(nulls.first?.event == e)
    }

    @Test func timestampField() {
        let line = #"{"timestamp":"2025-11-26T10:00:00.250+01:00","worker_id":"W1","workstation_id":"S1","kind":"idle","confidence":0.8}"#
        #expect(EventText.parseAll(line).first?.event?.eventTimeMs == 1_764_147_600_250)
        let both = #"{"timestamp":"2025-11-26T10:00:00Z","event_time_ms":1764151200000,"worker_id":"W1","workstation_id":"S1","kind":"idle","confidence":0.8}"#
        #expect(EventText.parseAll(both).first?.event?.eventTimeMs == t0)
        let csv = "kind,timestamp,confidence,workstation_id,worker_id,ignored\nworking,2025-11-26T10:00:00Z,0.85,S2,W9,whatever\n"
        #expect(EventText.parseAll(csv).first?.event ==
            Event(eventTimeMs: t0, workerID: "W9", workstationID: "S2", kind: .working, confidence: 0.85))
    }

    static let jsonErrors: [(String, String)] = [
        (validJSON + #","confidence":"abc"}"#, #"line 1: confidence: given twice"#),
        (#"{"event_time_ms":1,"worker_id":"W1","workstation_id":"S1","kind":"working","confidence":"abc"}"#,
         #"line 1: confidence: expected a number, got "abc""#),
        (#"{"event_time_ms":1,"worker_id":"W1","workstation_id":"S1","kind":"working","confidence":1e999}"#,
         "line 1: confidence: out of range, got 1e999"),
        (#"{"event_time_ms":1,"worker_id":"W1","workstation_id":"S1","kind":"working"}"#, "line 1: confidence: missing"),
        (#"{"event_time_ms":1,"worker_id":"W1","workstation_id":"S1","kind":"walking","confidence":1}"#,
         #"line 1: kind: expected working, idle, absent or product_count, got "walking""#),
        (#"{"event_time_ms":1,"worker_id":"W1","workstation_id":"S1","kind":3,"confidence":1}"#,
         "line 1: kind: expected a string, got 3"),
        (#"{"event_time_ms":1.5,"worker_id":"W1","workstation_id":"S1","kind":"idle","confidence":1}"#,
         "line 1: event_time_ms: expected an integer, got 1.5"),
        (#"{"event_time_ms":"17","worker_id":"W1","workstation_id":"S1","kind":"idle","confidence":1}"#,
         #"line 1: event_time_ms: expected an integer, got "17""#),
        (#"{"event_time_ms":99999999999999999999,"worker_id":"W1","workstation_id":"S1","kind":"idle","confidence":1}"#,
         "line 1: event_time_ms: out of range, got 99999999999999999999"),
        (#"{"worker_id":"W1","workstation_id":"S1","kind":"idle","confidence":1}"#,
         "line 1: event_time_ms: missing (or give timestamp)"),
        (#"{"event_time_ms":1,"workstation_id":"S1","kind":"idle","confidence":1}"#, "line 1: worker_id: missing"),
        (#"{"event_time_ms":1,"worker_id":7,"workstation_id":"S1","kind":"idle","confidence":1}"#,
         "line 1: worker_id: expected a string, got 7"),
        (#"{"event_time_ms":1,"worker_id":"W1","kind":"idle","confidence":1}"#, "line 1: workstation_id: missing"),
        (#"{"event_time_ms":1,"worker_id":"W1","workstation_id":"S1","confidence":1}"#, "line 1: kind: missing"),
        (validJSON + #","count":-1}"#, "line 1: count: must be between 0 and 4294967295, got -1"),
        (validJSON + #","count":4294967296}"#, "line 1: count: must be between 0 and 4294967295, got 4294967296"),
        (validJSON + #","count":2.0}"#, "line 1: count: expected an integer, got 2.0"),
        (validJSON + #","site_id":false}"#, "line 1: site_id: expected a string, got false"),
        (validJSON + #","model_version":[1]}"#, "line 1: model_version: expected a string, got an object or array"),
        (validJSON + #","gateway_id":"g"}"#, "line 1: sequence: required with gateway_id"),
        (validJSON + #","sequence":1}"#, "line 1: gateway_id: required with sequence"),
        (validJSON + #","gateway_id":"g","sequence":-1}"#, "line 1: sequence: must be between 0 and 18446744073709551615, got -1"),
        (validJSON + #","gateway_id":"g","sequence":18446744073709551616}"#,
         "line 1: sequence: must be between 0 and 18446744073709551615, got 18446744073709551616"),
        (#"{"timestamp":"2025-13-01T00:00:00Z","worker_id":"W1","workstation_id":"S1","kind":"idle","confidence":1}"#,
         #"line 1: timestamp: month out of range, got "2025-13-01T00:00:00Z""#),
        (#"{"timestamp":"yesterday","worker_id":"W1","workstation_id":"S1","kind":"idle","confidence":1}"#,
         #"line 1: timestamp: expected an RFC 3339 time like 2025-11-26T10:00:00Z, got "yesterday""#),
        (#"{"timestamp":1,"worker_id":"W1","workstation_id":"S1","kind":"idle","confidence":1}"#,
         "line 1: timestamp: expected a string, got 1"),
        (#"{"timestamp":"2025-11-26T10:00:00Z","event_time_ms":5,"worker_id":"W1","workstation_id":"S1","kind":"idle","confidence":1}"#,
         "line 1: timestamp: 2025-11-26T10:00:00Z is 1764151200000 ms, but event_time_ms is 5"),
        ("[1,2]", "line 1: invalid JSON: expected an object '{' at column 1"),
        ("{\"a\" 1}", "line 1: invalid JSON: expected ':' at column 6"),
        ("{\"a\":1 \"b\":2}", "line 1: invalid JSON: expected ',' or '}' at column 8"),
        ("{\"a\":1,}", "line 1: invalid JSON: expected a field name at column 8"),
        ("{\"a\":1} x", "line 1: invalid JSON: unexpected text after the object at column 9"),
        ("{\"a\":tru}", "line 1: invalid JSON: expected a value at column 9"),
        ("{\"a\":-}", "line 1: invalid JSON: expected a value at column 6"),
        ("{\"a\":", "line 1: invalid JSON: expected a value at the end of the line"),
        ("{\"a", "line 1: invalid JSON: unterminated string at the end of the line"),
        ("{\"a\\x\":1}", "line 1: invalid JSON: invalid escape '\\x' at column 4"),
        ("{\"a\\u12G4\":1}", "line 1: invalid JSON: invalid \\u escape at column 8"),
        ("{\"a\\ud800x\":1}", "line 1: invalid JSON: unpaired surrogate in \\u escape at column 10"),
        ("{\"a\\udc00\":1}", "line 1: invalid JSON: unpaired surrogate in \\u escape at column 10"),
        ("{\"a\tb\":1}", "line 1: invalid JSON: control character in string at column 4"),
        ("{\"a\":[1,2}", "line 1: invalid JSON: mismatched '}' at column 10"),
        ("{\"a\":[1,2", "line 1: invalid JSON: unterminated object or array at the end of the line"),
        ("{\"a\":" + String(repeating: "[", count: 40), "line 1: invalid JSON: nested deeper than 32 levels"),
    ]

    @Test(arguments: jsonErrors)
    func jsonErrorMessages(_ input: String, _ expected: String) {
        #expect(messages(EventText.parseAll(input, format: .jsonLines)) == [expected])
    }

    @Test func invalidUTF8() {
        let bytes = Array(#"{"worker_id":""#.utf8) + [0xC3, 0x28] + Array("\"}".utf8)
        #expect(messages(EventText.parseAll(bytes)) == ["line 1: invalid UTF-8 in a string"])
        let csv = Array("worker_id,workstation_id,kind,confidence,event_time_ms\nW".utf8) + [0xFF] + Array(",S1,idle,1,5".utf8)
        #expect(messages(EventText.parseAll(csv)) == ["line 2: field 1: invalid UTF-8"])
    }

    @Test func escapesDecode() {
        let line = #"{"event_time_ms":1,"worker_id":"W\u0031","workstation_id":"S\/1","kind":"idle","confidence":1,"model_version":"\ud83d\ude00\"\\\b\f\n\r\t"}"#
        let e = EventText.parseAll(line).first?.event
        #expect(e?.workerID == "W1")
        #expect(e?.workstationID == "S/1")
        #expect(e?.modelVersion == "😀\"\\\u{8}\u{c}\n\r\t")
    }

    static let csvHeaderLine = "event_time_ms,worker_id,workstation_id,kind,confidence,count"

    static let csvErrors: [(String, [String])] = [
        ("worker_id,workstation_id,kind,event_time_ms\nW1,S1,idle,5", ["line 1: header: missing column confidence"]),
        ("worker_id,workstation_id,kind,confidence\nW1,S1,idle,5", ["line 1: header: missing column event_time_ms (or timestamp)"]),
        ("worker_id,worker_id", ["line 1: header: column worker_id given twice"]),
        ("\"worker_id", ["line 1: header: unterminated quoted field 1"]),
        (csvHeaderLine + "\n1,W1,S1,idle,0.9", ["line 2: expected 6 fields as in the header, got 5"]),
        (csvHeaderLine + "\n1,W1,S1,idle,abc,", [#"line 2: confidence: expected a number, got "abc""#]),
        (csvHeaderLine + "\n1,W1,S1,idle,nan,", [#"line 2: confidence: expected a number, got "nan""#]),
        (csvHeaderLine + "\n1.0,W1,S1,idle,1,", [#"line 2: event_time_ms: expected an integer, got "1.0""#]),
        (csvHeaderLine + "\n1,W1,S1,idle,1,-3", [#"line 2: count: must be between 0 and 4294967295, got "-3""#]),
        (csvHeaderLine + "\n1,W1,S1,sleeping,1,", [#"line 2: kind: expected working, idle, absent or product_count, got "sleeping""#]),
        (csvHeaderLine + "\n1,,S1,idle,1,", ["line 2: worker_id: missing"]),
        (csvHeaderLine + "\n1,\"W1\"x,S1,idle,1,", ["line 2: field 2: text after the closing quote"]),
        (csvHeaderLine + "\n1,W\"1,S1,idle,1,\n2,W1,S1,idle,1,\"", ["line 2: field 2: quote inside an unquoted field"]),
        (csvHeaderLine + "\n1,\"W1,S1,idle,1,", ["line 2: unterminated quoted field 2"]),
    ]

    @Test(arguments: csvErrors)
    func csvErrorMessages(_ input: String, _ expected: [String]) {
        #expect(messages(EventText.parseAll(input)) == expected)
    }

    @Test func csvHeaderErrorSkipsRows() {
        let records = EventText.parseAll("worker_id,kind\nW1,idle\nW2,idle\n")
        #expect(records.count == 1)
    }

    @Test func csvQuoting() {
        let text = """
            "worker_id" , workstation_id,"kind","confidence",event_time_ms,model_version,site_id
            "W,1",  S1 ,"idle", 0.75 ,5,"say ""hi""
            twice",""
            W2,S2,working,1,6,,

            """
        let records = EventText.parseAll(text)
        #expect(records.map(\.line) == [2, 4])
        let events = onlyEvents(records)
        #expect(events.first == Event(eventTimeMs: 5, workerID: "W,1", workstationID: "S1", kind: .idle,
                                      confidence: 0.75, siteID: "", modelVersion: "say \"hi\"\ntwice"))
        #expect(events.last == Event(eventTimeMs: 6, workerID: "W2", workstationID: "S2", kind: .working, confidence: 1))
    }

    @Test func lineEndingsBOMAndBlankLines() {
        let lines = sampleEvents.prefix(3).map(EventText.jsonLine)
        let text = "\u{FEFF}\r\n" + lines[0] + "\r\n   \n\n" + lines[1] + "\r\n" + lines[2]
        let records = EventText.parseAll(text)
        #expect(onlyEvents(records) == Array(sampleEvents.prefix(3)))
        #expect(records.map(\.line) == [2, 5, 6])
        let csv = "\u{FEFF}" + EventText.csvHeader + "\r\n" + EventText.csvRow(sampleEvents[0]) + "\r\n"
        #expect(onlyEvents(EventText.parseAll(csv)) == [sampleEvents[0]])
        let single = EventText.parseJSONLine(lines[0] + "\r", lineNumber: 9)
        #expect(single?.line == 9 && single?.event == sampleEvents[0])
        #expect(EventText.parseJSONLine("  ") == nil)
    }

    @Test func errorsDoNotStopParsing() {
        let text = [EventText.jsonLine(sampleEvents[0]), "nonsense", "{", EventText.jsonLine(sampleEvents[1])]
            .joined(separator: "\n")
        let records = EventText.parseAll(text)
        #expect(records.map(\.line) == [1, 2, 3, 4])
        #expect(records.map { $0.event != nil } == [true, false, false, true])
        // "nonsense" does not start with '{', but the format was fixed by line 1.
        #expect(records[1].error?.message.hasPrefix("invalid JSON") == true)
    }

    @Test func overlongLineIsSkipped() {
        let long = "{\"x\":\"" + String(repeating: "a", count: EventText.maxRecordBytes) + "\"}"
        let text = EventText.jsonLine(sampleEvents[0]) + "\n" + long + "\n" + EventText.jsonLine(sampleEvents[1])
        let records = EventText.parseAll(text)
        #expect(records.map(\.line) == [1, 2, 3])
        #expect(records[1].error?.description == "line 2: longer than \(EventText.maxRecordBytes) bytes")
        #expect(records[2].event == sampleEvents[1])
    }

    @Test func streamingInAnyChunksMatchesWhole() {
        let text = ([EventText.csvHeader] + sampleEvents.map(EventText.csvRow) + ["bad"]).joined(separator: "\r\n")
        let bytes = Array(text.utf8)
        let whole = EventText.parseAll(bytes)
        for chunk in [1, 2, 7, 64] {
            var parser = EventTextParser()
            var out: [EventText.Record] = []
            var i = 0
            while i < bytes.count {
                out += parser.feed(bytes[i..<min(i + chunk, bytes.count)])
                i += chunk
            }
            out += parser.finish()
            #expect(out == whole)
            #expect(parser.format == .csv)
        }
    }

    @Test func tenThousandLines() {
        var text = ""
        var expected: [Event] = []
        for i in 0..<10_000 {
            let e = Event(eventTimeMs: t0 + Int64(i) * 1_000, workerID: "W\(i % 50)", workstationID: "S\(i % 7)",
                          kind: EventKind.allCases[i % 4], confidence: Double(i % 100) / 100, count: UInt32(i % 6),
                          modelVersion: i % 3 == 0 ? "" : "v2.\(i % 5)")
            expected.append(e)
            text += EventText.jsonLine(e)
            text += "\n"
        }
        #expect(onlyEvents(EventText.parseAll(text)) == expected)
        let csv = EventText.csvHeader + "\n" + expected.map(EventText.csvRow).joined(separator: "\n")
        #expect(onlyEvents(EventText.parseAll(csv)) == expected)
    }

    /// Random and mutated inputs: the parser must return, never trap (libFuzzer does this at scale).
    @Test func randomBytesNeverCrash() {
        var rng = TestRandom(seed: 0x7A47)
        let seeds = [Array((EventText.jsonLine(sampleEvents[1]) + "\n").utf8),
                     Array((EventText.csvHeader + "\n" + EventText.csvRow(sampleEvents[4]) + "\n").utf8)]
        let alphabet = Array("{}[]\",:\\u0123456789.eE-+ \n\r\tabcdfnrtuxyzTZ\u{FEFF}".utf8)
        var records = 0
        for i in 0..<50_000 {
            var bytes: [UInt8]
            switch i % 3 {
            case 0:
                bytes = (0..<Int(rng.next() % 96)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            case 1:
                bytes = (0..<Int(rng.next() % 96)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            default:
                bytes = seeds[i % 2]
                for _ in 0..<(1 + rng.next() % 4) where !bytes.isEmpty {
                    let at = Int(rng.next() % UInt64(bytes.count))
                    switch rng.next() % 3 {
                    case 0: bytes[at] = UInt8(truncatingIfNeeded: rng.next())
                    case 1: bytes.remove(at: at)
                    default: bytes.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: at)
                    }
                }
            }
            records += EventText.parseAll(bytes).count
        }
        #expect(records > 0)
    }
}

@Suite struct RFC3339Tests {
    static let parsed: [(String, Int64)] = [
        ("2025-11-26T10:00:00Z", 1_764_151_200_000),
        ("2025-11-26T10:00:00.250+01:00", 1_764_147_600_250),
        ("2025-11-26t10:00:00.25z", 1_764_151_200_250),
        ("2025-11-26 10:00:00.2Z", 1_764_151_200_200),
        ("2025-11-26T10:00:00.123999999Z", 1_764_151_200_123),
        ("2024-02-29T23:59:59.999-05:30", 1_709_270_999_999),
        ("1970-01-01T00:00:00Z", 0),
        ("0001-01-01T00:00:00Z", -62_135_596_800_000),
        ("9999-12-31T23:59:59.999Z", 253_402_300_799_999),
    ]

    @Test(arguments: parsed)
    func parses(_ text: String, _ ms: Int64) throws {
        #expect(try RFC3339.parse(text) == ms)
    }

    static let rejected: [(String, String)] = [
        ("2025-11-26T10:00:00", "missing time zone (Z or ±HH:MM)"),
        ("2025-11-26T10:00:00.Z", "expected an RFC 3339 time like 2025-11-26T10:00:00Z"),
        ("2025-11-26T10:00Z", "expected an RFC 3339 time like 2025-11-26T10:00:00Z"),
        ("2025-11-26T10:00:00Zx", "expected an RFC 3339 time like 2025-11-26T10:00:00Z"),
        ("2025-11-26T10:00:00+1:00", "expected an RFC 3339 time like 2025-11-26T10:00:00Z"),
        ("2025-02-29T10:00:00Z", "day out of range"),
        ("2025-04-31T10:00:00Z", "day out of range"),
        ("2025-00-10T10:00:00Z", "month out of range"),
        ("0000-01-01T00:00:00Z", "year out of range"),
        ("2025-11-26T24:00:00Z", "hour out of range"),
        ("2025-11-26T10:60:00Z", "minute out of range"),
        ("2025-11-26T23:59:60Z", "second out of range (leap seconds are not supported)"),
        ("2025-11-26T10:00:00+24:00", "time zone offset out of range"),
        ("", "expected an RFC 3339 time like 2025-11-26T10:00:00Z"),
    ]

    @Test(arguments: rejected)
    func rejects(_ text: String, _ reason: String) {
        #expect(throws: RFC3339.ParseError(reason)) { try RFC3339.parse(text) }
    }

    @Test func formats() {
        #expect(RFC3339.format(1_764_151_200_000) == "2025-11-26T10:00:00Z")
        #expect(RFC3339.format(1_764_147_600_250, offsetMinutes: 60) == "2025-11-26T10:00:00.250+01:00")
        #expect(RFC3339.format(1_709_270_999_999, offsetMinutes: -330) == "2024-02-29T23:59:59.999-05:30")
        #expect(RFC3339.format(-1) == "1969-12-31T23:59:59.999Z")
        _ = RFC3339.format(Int64.min)
        _ = RFC3339.format(Int64.max, offsetMinutes: 1_000_000)
    }

    @Test func roundTrips() throws {
        var rng = TestRandom(seed: 3339)
        for _ in 0..<5_000 {
            let ms = Int64(rng.next() % 253_402_300_800_000)
            let offset = Int(rng.next() % 1_439) - 719
            #expect(try RFC3339.parse(RFC3339.format(ms, offsetMinutes: offset)) == ms)
        }
    }
}

/// SplitMix64, so the tests need nothing beyond TaktDomain.
struct TestRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
