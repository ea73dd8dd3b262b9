// A local Unix socket producers write events to, one per line (JSON Lines, or CSV with a header
// per connection). Each non-blank line gets one reply line, in order, after the events read with it
// are committed to the spool: "ok <sequence>", "error spool full", or "error line N: <reason>"
// (docs/GATEWAY.md, "Inputs"). Blocking sockets, one thread per connection (few local producers).
import Foundation
import Glibc
import Logging
import Synchronization
import TaktDomain

final class SocketIntake: Sendable {
    let context: IntakeContext
    let path: String
    static let maxConnections = 64
    private let listener = Atomic<Int32>(-1)
    private let nextConnection = Atomic<Int>(0)

    init(context: IntakeContext, path: String) {
        self.context = context
        self.path = path
    }

    /// Creates the listening socket, replacing a stale socket file (one nobody listens on).
    func listen() throws(SpoolError) {
        guard path.utf8.count < 108 else { throw SpoolError(message: "socket path \(path) is longer than 107 bytes") }
        var st = stat()
        if lstat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFSOCK else {
                throw SpoolError(message: "\(path) exists and is not a socket: remove it or choose another path")
            }
            if Self.someoneListens(path) {
                throw SpoolError(message: "\(path): another process already listens on this socket")
            }
            unlink(path)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SpoolError(message: "socket: \(String(cString: strerror(errno)))") }
        let r = Self.withAddress(path) { bind(fd, $0, $1) }
        guard r == 0, Glibc.listen(fd, 128) == 0 else {
            let err = errno
            Glibc.close(fd)
            throw SpoolError(message: "cannot listen on \(path): \(String(cString: strerror(err)))")
        }
        listener.store(fd, ordering: .relaxed)
        context.state.withLock { $0.description = "unix:\(path)" }
    }

    static func withAddress<T>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { dst in
            for (i, b) in path.utf8.prefix(dst.count - 1).enumerated() { dst[i] = b }
        }
        return withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    private static func someoneListens(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        return withAddress(path) { connect(fd, $0, $1) } == 0
    }

    /// Accepts connections until `stop()`. Blocks the calling thread.
    func run() -> IntakeEnd {
        let fd = listener.load(ordering: .relaxed)
        context.logger.info("listening for events", metadata: ["socket": "\(path)"])
        while !context.isStopping {
            let c = accept(fd, nil, nil)
            if c < 0 {
                let err = errno
                if err == EINTR || err == ECONNABORTED { continue }
                if context.isStopping { break }
                if err == EMFILE || err == ENFILE {
                    context.logger.error("cannot accept a producer: out of descriptors", metadata: ["socket": "\(path)"])
                    usleep(100_000)
                    continue
                }
                return .failed("accept on \(path): \(String(cString: strerror(err)))")
            }
            _ = fcntl(c, F_SETFD, FD_CLOEXEC)
            let open = context.state.withLock { s -> Bool in
                guard s.connections < Self.maxConnections else { return false }
                s.connections += 1
                return true
            }
            guard open else {
                Self.write(c, "error too many connections (\(Self.maxConnections))\n")
                Glibc.close(c)
                continue
            }
            let id = nextConnection.wrappingAdd(1, ordering: .relaxed).newValue
            let thread = Thread { [self] in
                serve(c, id: id)
                Glibc.close(c)
                context.state.withLock { $0.connections -= 1 }
            }
            thread.start()
        }
        return .stopped
    }

    /// Stops accepting (wakes the accept) and removes the socket file.
    func stop() {
        let fd = listener.exchange(-1, ordering: .relaxed)
        guard fd >= 0 else { return }
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
        unlink(path)
    }

    private func serve(_ fd: Int32, id: Int) {
        var decoder = LineDecoder(format: context.format)
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        let origin = "socket#\(id)"
        context.logger.debug("producer connected", metadata: ["connection": "\(origin)"])
        while !context.isStopping {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                _ = answer(decoder.finish(), fd: fd, origin: origin)
                break
            }
            var outputs: [LineDecoder.Output] = []
            var start = 0
            for i in 0..<n where buffer[i] == 10 {
                outputs += decoder.feed(buffer[start...i], endsLine: true)
                start = i + 1
            }
            if start < n { _ = decoder.feed(buffer[start..<n], endsLine: false) }
            if !answer(outputs, fd: fd, origin: origin) { break }
        }
        context.logger.debug("producer disconnected", metadata: ["connection": "\(origin)"])
    }

    /// Spools the events of `outputs` in one transaction and writes one reply per record, in order.
    /// False when the connection should close.
    private func answer(_ outputs: [LineDecoder.Output], fd: Int32, origin: String) -> Bool {
        guard !outputs.isEmpty else { return true }
        var replies: [String] = []
        var items: [IntakeItem] = []
        var slots: [Int] = []
        var keepOpen = true
        for o in outputs {
            switch o {
            case .event(let e, let raw, let line):
                slots.append(replies.count)
                replies.append("")
                items.append(IntakeItem(content: .event(e), raw: raw, origin: "\(origin):\(line)", position: nil))
            case .unparseable(let m, _, let line):
                replies.append("error line \(line): \(Self.oneLine(m))")
            case .badHeader(let m, let line):
                replies.append("error line \(line): CSV header: \(Self.oneLine(m))")
                keepOpen = false
            }
        }
        if !items.isEmpty {
            var outcomes: [AppendOutcome] = []
            var failure: String?
            do {
                outcomes = try context.spool.append(items[...])
            } catch {
                failure = "error spool unavailable: \(Self.oneLine("\(error)"))"
                context.logger.error("cannot write the spool; socket lines answered with an error", metadata: ["error": "\(error)"])
            }
            for (k, slot) in slots.enumerated() {
                if k < outcomes.count, case .spooled(let seq) = outcomes[k] {
                    replies[slot] = "ok \(seq)"
                } else {
                    replies[slot] = failure ?? "error spool full"
                }
            }
            if !outcomes.isEmpty { context.spooled() }
            if failure == nil { context.spool.countRefused(items.count - outcomes.count) }
        }
        return Self.write(fd, replies.joined(separator: "\n") + "\n") && keepOpen
    }

    static func oneLine(_ s: String) -> String {
        s.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    @discardableResult
    static func write(_ fd: Int32, _ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            sent += n
        }
        return true
    }
}
