// TCP sockets: address parsing, listening, accepting, connecting. A `Socket` owns its
// descriptor and gives it up exactly once (`takeDescriptor`) or closes it in deinit.
import Glibc

/// "HOST:PORT", "[v6]:PORT" or ":PORT" (all interfaces is *not* implied: empty host means 127.0.0.1).
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    public init(parsing text: String) throws(SystemError) {
        var host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw SystemError("parse address \"\(text)\" (expected [IPv6]:PORT)", errno: EINVAL)
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw SystemError("parse address \"\(text)\" (expected HOST:PORT)", errno: EINVAL)
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        if host.isEmpty { host = "127.0.0.1" }
        if host == "localhost" { host = "127.0.0.1" }
        guard let port = UInt16(portText) else {
            throw SystemError("parse address \"\(text)\" (port must be 0-65535)", errno: EINVAL)
        }
        self.host = String(host)
        self.port = port
    }

    public var isIPv6: Bool { host.contains(":") }
    public var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Whether the address is on the loopback interface (127.0.0.0/8 or ::1).
    public var isLoopback: Bool { host.hasPrefix("127.") || host == "::1" }

    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws(SystemError) -> R) throws(SystemError) -> R {
        if isIPv6 {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, host, &a.sin6_addr) == 1 else {
                throw SystemError("parse IPv6 address \"\(host)\"", errno: EINVAL)
            }
            return try withUnsafePointer(to: &a) { (p) throws(SystemError) -> R in
                try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { (sp) throws(SystemError) -> R in
                    try body(sp, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            guard inet_pton(AF_INET, host, &a.sin_addr) == 1 else {
                throw SystemError("parse IPv4 address \"\(host)\" (use a numeric address)", errno: EINVAL)
            }
            return try withUnsafePointer(to: &a) { (p) throws(SystemError) -> R in
                try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { (sp) throws(SystemError) -> R in
                    try body(sp, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
    }

    static func from(_ storage: sockaddr_storage) -> SocketAddress {
        var s = storage
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        if Int32(s.ss_family) == AF_INET6 {
            return withUnsafePointer(to: &s) { p in
                p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { a in
                    var addr = a.pointee.sin6_addr
                    inet_ntop(AF_INET6, &addr, &buf, socklen_t(buf.count))
                    return SocketAddress(host: cString(buf), port: UInt16(bigEndian: a.pointee.sin6_port))
                }
            }
        }
        return withUnsafePointer(to: &s) { p in
            p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { a in
                var addr = a.pointee.sin_addr
                inet_ntop(AF_INET, &addr, &buf, socklen_t(buf.count))
                return SocketAddress(host: cString(buf), port: UInt16(bigEndian: a.pointee.sin_port))
            }
        }
    }
}

/// Owns one descriptor.
public final class Socket {
    private var fd: Int32

    public init(descriptor: Int32) { fd = descriptor }

    deinit {
        if fd >= 0 { System.close(fd) }
    }

    public var descriptor: Int32 { fd }

    /// Hands the descriptor to a new owner (e.g. a channel that closes it in a cancel handler).
    public func takeDescriptor() -> Int32 {
        precondition(fd >= 0, "socket descriptor taken twice")
        let d = fd
        fd = -1
        return d
    }

    /// A non-blocking listening socket bound to `address` (port 0 picks a free port).
    public static func listen(on address: SocketAddress, backlog: Int32 = 4096) throws(SystemError) -> Socket {
        let family = address.isIPv6 ? AF_INET6 : AF_INET
        let fd = try System.call("socket") { Glibc.socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        let s = Socket(descriptor: fd)
        try System.setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
        if address.isIPv6 { try System.setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
        _ = try address.withSockAddr { (sa, len) throws(SystemError) in
            try System.call("bind \(address)") { Glibc.bind(fd, sa, len) }
        }
        try System.call("listen") { Glibc.listen(fd, backlog) }
        try System.setNonBlocking(fd)
        return s
    }

    /// The local address (tells which port `listen(port 0)` picked).
    public func localAddress() throws(SystemError) -> SocketAddress {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try withUnsafeMutablePointer(to: &storage) { (p) throws(SystemError) in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { (sp) throws(SystemError) in
                try System.call("getsockname") { getsockname(fd, sp, &len) }
            }
        }
        return SocketAddress.from(storage)
    }

    /// Accepts one pending connection (non-blocking, TCP_NODELAY), or nil when none is pending.
    public func accept() throws(SystemError) -> (Socket, SocketAddress)? {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        while true {
            let r = withUnsafeMutablePointer(to: &storage) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sp in
                    Glibc.accept(fd, sp, &len)
                }
            }
            if r >= 0 {
                let s = Socket(descriptor: r)
                _ = fcntl(r, F_SETFD, FD_CLOEXEC)
                try System.setNonBlocking(r)
                try? System.setOption(r, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
                return (s, SocketAddress.from(storage))
            }
            let e = Glibc.errno
            if e == EINTR || e == ECONNABORTED { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return nil }
            throw SystemError("accept", errno: e)
        }
    }

    /// Connects with a timeout; the returned socket is non-blocking with TCP_NODELAY.
    public static func connect(to address: SocketAddress, timeoutMs: Int) throws(SystemError) -> Socket {
        let family = address.isIPv6 ? AF_INET6 : AF_INET
        let fd = try System.call("socket") { Glibc.socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        let s = Socket(descriptor: fd)
        try System.setNonBlocking(fd)
        try? System.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        let r = try address.withSockAddr { (sa, len) -> Int32 in Glibc.connect(fd, sa, len) }
        if r != 0 {
            let e = Glibc.errno
            guard e == EINPROGRESS || e == EINTR else { throw SystemError("connect to \(address)", errno: e) }
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let deadline = System.monotonicNs() + UInt64(max(timeoutMs, 0)) * 1_000_000
            while true {
                let now = System.monotonicNs()
                if now >= deadline { throw SystemError("connect to \(address) (timed out after \(timeoutMs) ms)", errno: ETIMEDOUT) }
                let n = poll(&pfd, 1, Int32((deadline - now) / 1_000_000) + 1)
                if n > 0 { break }
                if n < 0 && Glibc.errno != EINTR { throw SystemError("poll", errno: Glibc.errno) }
            }
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            try System.call("getsockopt") { getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) }
            if err != 0 { throw SystemError("connect to \(address)", errno: err) }
        }
        return s
    }
}

private func cString(_ buf: [CChar]) -> String {
    String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
