// Terminal facts (is it a TTY, how wide), ANSI styles, and raw keyboard mode for `takt top`.
import Foundation

enum Output {
    /// Writes one line to stderr, prefixed `takt: `.
    static func error(_ message: String) {
        FileHandle.standardError.write(Data(("takt: " + message + "\n").utf8))
    }

    static func stderr(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    static func flush() { fflush(nil) }
}

enum Terminal {
    static func isTTY(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    /// Columns and rows of the terminal on `fd`; nil when it is not a terminal.
    static func size(_ fd: Int32 = 1) -> (columns: Int, rows: Int)? {
        var ws = winsize()
        guard ioctl(fd, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_col > 0, ws.ws_row > 0 else { return nil }
        return (Int(ws.ws_col), Int(ws.ws_row))
    }

    /// Width to lay tables out in: the terminal's, else $COLUMNS, else 100.
    static var columns: Int {
        if let s = size() { return s.columns }
        if let c = ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init), c > 20 { return c }
        return 100
    }

    /// https://no-color.org: any non-empty NO_COLOR disables colour.
    static var noColorEnv: Bool {
        if let v = ProcessInfo.processInfo.environment["NO_COLOR"], !v.isEmpty { return true }
        return ProcessInfo.processInfo.environment["TERM"] == "dumb"
    }
}

/// ANSI SGR styles; every function returns the text unchanged when colour is off.
struct Style: Sendable {
    var enabled: Bool

    static let plain = Style(enabled: false)

    func apply(_ code: String, _ text: String) -> String {
        enabled && !text.isEmpty ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }
    func bold(_ t: String) -> String { apply("1", t) }
    func dim(_ t: String) -> String { apply("2", t) }
    func red(_ t: String) -> String { apply("31", t) }
    func green(_ t: String) -> String { apply("32", t) }
    func yellow(_ t: String) -> String { apply("33", t) }
    func blue(_ t: String) -> String { apply("34", t) }
    func cyan(_ t: String) -> String { apply("36", t) }
    func gray(_ t: String) -> String { apply("90", t) }
    func inverse(_ t: String) -> String { apply("7", t) }

    /// Green for high utilization, yellow for middling, red for low.
    func level(_ pct: Double, _ t: String) -> String {
        pct >= 75 ? green(t) : pct >= 50 ? yellow(t) : pct > 0 ? red(t) : dim(t)
    }
}

/// The terminal in non-canonical, no-echo mode, restored exactly once (on quit, signal or exit).
final class RawTerminal: @unchecked Sendable {
    // @unchecked: `saved` is written once in init; `restored` is guarded by the lock.
    private let fd: Int32
    private var saved = termios()
    private let lock = NSLock()
    private var restored = false

    init?(fd: Int32 = 0) {
        self.fd = fd
        guard tcgetattr(fd, &saved) == 0 else { return nil }
        var raw = saved
        // Keys arrive one at a time and are not echoed; ISIG stays on so Ctrl-C still raises SIGINT.
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        guard tcsetattr(fd, TCSANOW, &raw) == 0 else { return nil }
    }

    func restore() {
        lock.lock()
        defer { lock.unlock() }
        guard !restored else { return }
        restored = true
        var s = saved
        _ = tcsetattr(fd, TCSANOW, &s)
    }
}
