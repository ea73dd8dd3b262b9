// Aligned text tables, utilization bars and number formats for terminal output.

/// One cell: the text that is measured, and the styled text that is printed.
struct Cell {
    var text: String
    var styled: String
    init(_ text: String, styled: String? = nil) {
        self.text = text
        self.styled = styled ?? text
    }
}

extension Cell: ExpressibleByStringLiteral, ExpressibleByStringInterpolation {
    init(stringLiteral value: String) { self.init(value) }
}

struct Table {
    enum Alignment { case left, right }
    struct Column {
        var title: String
        var alignment: Alignment
        init(_ title: String, _ alignment: Alignment = .left) {
            self.title = title
            self.alignment = alignment
        }
    }

    var columns: [Column]
    var rows: [[Cell]] = []

    init(_ columns: [Column]) { self.columns = columns }

    mutating func add(_ row: [Cell]) { rows.append(row) }

    /// The table as lines; the header dimmed/bold when `style` is on. Two spaces between columns.
    func render(_ style: Style) -> [String] {
        var widths = columns.map { $0.title.count }
        for row in rows {
            for (i, c) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], c.text.count) }
        }
        func line(_ cells: [Cell], header: Bool) -> String {
            var parts: [String] = []
            for (i, col) in columns.enumerated() {
                let c = i < cells.count ? cells[i] : Cell("")
                let pad = String(repeating: " ", count: max(0, widths[i] - c.text.count))
                let last = i == columns.count - 1
                switch col.alignment {
                case .left: parts.append(last ? c.styled : c.styled + pad)
                case .right: parts.append(pad + c.styled)
                }
            }
            let s = parts.joined(separator: "  ").trimmingTrailingSpaces
            return header ? style.bold(s) : s
        }
        var out = [line(columns.map { Cell($0.title) }, header: true)]
        out += rows.map { line($0, header: false) }
        return out
    }

    func print(_ style: Style) {
        for l in render(style) { Swift.print(l) }
    }
}

enum Format {
    /// "71.2%"
    static func pct(_ v: Double) -> String { fixed(v, 1) + "%" }

    static func fixed(_ v: Double, _ digits: Int) -> String {
        guard v.isFinite else { return "-" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let r = (v * scale).rounded() / scale
        var s = String(Int64(r.rounded(.towardZero)))
        if r < 0 && s.first != "-" { s = "-" + s }
        if digits > 0 {
            var frac = String(Int64((abs(r) * scale).rounded()) % Int64(scale))
            while frac.count < digits { frac = "0" + frac }
            s += "." + frac
        }
        return s
    }

    /// 12345 → "12,345".
    static func count<T: BinaryInteger>(_ v: T) -> String {
        let s = String(v.magnitude)
        var out = ""
        for (i, ch) in s.enumerated() {
            if i > 0 && (s.count - i) % 3 == 0 { out.append(",") }
            out.append(ch)
        }
        return v < 0 ? "-" + out : out
    }

    static func bytes(_ v: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var x = Double(v)
        var u = 0
        while x >= 1024 && u < units.count - 1 {
            x /= 1024
            u += 1
        }
        return u == 0 ? "\(v) B" : fixed(x, 1) + " " + units[u]
    }

    /// A bar of `width` cells filled to `pct` percent, in eighths of a cell.
    static func bar(_ pct: Double, width: Int) -> String {
        let eighths = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"]
        let clamped = max(0, min(100, pct.isFinite ? pct : 0))
        let total = Int((clamped / 100 * Double(width * 8)).rounded())
        let full = total / 8
        var s = String(repeating: "█", count: full)
        if full < width {
            s += eighths[total % 8]
            s += String(repeating: "·", count: width - full - (total % 8 == 0 ? 0 : 1))
        }
        return s
    }

    /// A utilization bar and its percentage, coloured by level.
    static func utilization(_ value: Double, width: Int, style: Style) -> Cell {
        let b = bar(value, width: width)
        let p = pct(value)
        let padded = String(repeating: " ", count: max(0, 6 - p.count)) + p
        return Cell(b + " " + padded, styled: style.level(value, b) + " " + padded)
    }
}
