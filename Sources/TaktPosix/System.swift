// Every system call goes through here: EINTR retried, EAGAIN a value, errno read at once.
import Glibc

public struct SystemError: Error, Sendable, Hashable, CustomStringConvertible {
    public let function: String
    public let errno: Int32
    public init(_ function: String, errno: Int32) {
        self.function = function
        self.errno = errno
    }
    public var description: String { "\(function): \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// Result of a non-blocking read or write.
public enum IOResult: Sendable, Hashable {
    case processed(Int)
    case wouldBlock
    case endOfFile
}

public enum System {
    /// Makes SIGPIPE harmless for the whole process (writes also use MSG_NOSIGNAL).
    public static func ignoreSIGPIPE() {
        signal(SIGPIPE, SIG_IGN)
    }

    @discardableResult
    static func call(_ function: String, _ body: () -> Int32) throws(SystemError) -> Int32 {
        while true {
            let r = body()
            if r >= 0 { return r }
            let e = Glibc.errno
            if e == EINTR { continue }
            throw SystemError(function, errno: e)
        }
    }

    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n > 0 { return .processed(n) }
            if n == 0 { return .endOfFile }
            let e = Glibc.errno
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return .wouldBlock }
            throw SystemError("read", errno: e)
        }
    }

    public static func send(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws(SystemError) -> IOResult {
        while true {
            let n = Glibc.send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL))
            if n >= 0 { return .processed(n) }
            let e = Glibc.errno
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return .wouldBlock }
            throw SystemError("send", errno: e)
        }
    }

    /// `close` is never retried: on Linux the descriptor is gone even when it reports EINTR.
    public static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    public static func setNonBlocking(_ fd: Int32) throws(SystemError) {
        let flags = try call("fcntl") { fcntl(fd, F_GETFL) }
        try call("fcntl") { fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
    }

    public static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) throws(SystemError) {
        var v = value
        try call("setsockopt") { setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) }
    }

    /// Wall clock, ms since the epoch.
    public static func nowMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// Monotonic clock, ns (for deadlines and latency).
    public static func monotonicNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
