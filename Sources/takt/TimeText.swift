// Times and durations as users type them: RFC 3339, epoch ms, "now", relative (-8h, -1h30m), 500ms.
import ArgumentParser
import Foundation
import TaktDomain
import TaktPosix

enum Durations {
    struct Bad: Error {}

    /// "1h30m", "90s", "500ms", "2d", "1.5h"; a bare number is in `bareUnitMs` units (nil: a unit is required).
    static func parse(_ text: String, bareUnitMs: Int64?) throws -> Int64 {
        let s = text.trimmingSpaces
        guard !s.isEmpty else { throw Bad() }
        if let bare = bareUnitMs, let v = Double(s), v.isFinite, v >= 0 {
            return Int64((v * Double(bare)).rounded())
        }
        var total = 0.0
        var i = s.startIndex
        while i < s.endIndex {
            let numStart = i
            while i < s.endIndex, s[i].isNumber || s[i] == "." { i = s.index(after: i) }
            guard let v = Double(s[numStart..<i]) else { throw Bad() }
            let unitStart = i
            while i < s.endIndex, s[i].isLetter { i = s.index(after: i) }
            let unit: Double
            switch s[unitStart..<i] {
            case "ms": unit = 1
            case "s": unit = 1_000
            case "m", "min": unit = 60_000
            case "h": unit = 3_600_000
            case "d": unit = 86_400_000
            case "w": unit = 7 * 86_400_000
            default: throw Bad()
            }
            total += v * unit
        }
        guard total.isFinite, total < 1e15 else { throw Bad() }
        return Int64(total.rounded())
    }

    /// "2h 05m", "12m 30s", "45s", "850ms", "8h", "1d 6h": two units at most, a zero second one left out.
    static func format(_ ms: Int64) -> String {
        if ms < 1_000 { return ms <= 0 ? "0s" : "\(ms)ms" }
        let s = ms / 1_000
        let d = s / 86_400, h = s / 3_600 % 24, m = s / 60 % 60, sec = s % 60
        if d > 0 { return h == 0 ? "\(d)d" : "\(d)d \(h)h" }
        if h > 0 { return m == 0 ? "\(h)h" : "\(h)h \(pad(m))m" }
        if m > 0 { return sec == 0 ? "\(m)m" : "\(m)m \(pad(sec))s" }
        return "\(sec)s"
    }

    private static func pad(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
}

enum TimeText {
    static let formats = "RFC 3339 (2025-11-26T10:00:00Z), ms since the epoch, now, or relative like -8h, -30m, -1h30m"

    /// ms since the epoch; a usage error (exit 2) naming the flag when the text is none of the formats.
    static func parse(_ text: String, flag: String, nowMs: Int64 = System.nowMs()) throws -> Int64 {
        let s = text.trimmingSpaces
        if s == "now" { return nowMs }
        if !s.isEmpty, s.allSatisfy(\.isNumber), let ms = Int64(s) { return ms }
        if let sign = s.first, sign == "-" || sign == "+" {
            if let d = try? Durations.parse(String(s.dropFirst()), bareUnitMs: nil) {
                return sign == "-" ? nowMs - d : nowMs + d
            }
            throw usageError("\(flag) \(text): a relative time needs a unit, like -8h, -30m or -2d")
        }
        do {
            return try RFC3339.parse(s)
        } catch {
            let why = error.reason.hasPrefix("expected") ? "" : " (\(error.reason))"
            throw usageError("\(flag) \(text): expected \(formats)\(why)")
        }
    }

    /// For `validate()`: the same check, thrown as a ValidationError.
    static func parseForValidation(_ text: String, flag: String) throws -> Int64 {
        do {
            return try parse(text, flag: flag)
        } catch let f as CLIFailure {
            throw ValidationError(CLIFailure.oneLine(f.message.components(separatedBy: ". See '").first ?? f.message))
        }
    }

    /// "2025-11-26 10:04:05" in the local time zone (or the given offset), for tables.
    static func local(_ ms: Int64, offsetMinutes: Int? = nil) -> String {
        let offset = offsetMinutes ?? localOffsetMinutes(at: ms)
        var s = RFC3339.format(ms - ms % 1_000, offsetMinutes: offset)
        if let z = s.lastIndex(where: { $0 == "Z" || $0 == "+" || $0 == "-" }), z > s.index(s.startIndex, offsetBy: 10) {
            s = String(s[..<z])
        }
        return s.replacingOccurrences(of: "T", with: " ")
    }

    /// A time as a shell argument: RFC 3339 UTC.
    static func isoArgument(_ ms: Int64) -> String { RFC3339.format(ms) }

    /// "10:04:05" local.
    static func clock(_ ms: Int64) -> String {
        String(local(ms).suffix(8))
    }

    static func localOffsetMinutes(at ms: Int64) -> Int {
        var t = time_t(ms / 1_000)
        var tmv = tm()
        guard localtime_r(&t, &tmv) != nil else { return 0 }
        return Int(tmv.tm_gmtoff) / 60
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }

    var trimmingTrailingSpaces: String {
        var s = Substring(self)
        while let l = s.last, l == " " { s.removeLast() }
        return String(s)
    }
}
