// The few system calls the store needs: the data directory, its lock file, file sizes, the clock.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum System {
    static func errorText(_ err: Int32) -> String { String(cString: strerror(err)) }

    /// Wall clock, ms since the Unix epoch.
    static func nowMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// Monotonic seconds, for measuring.
    static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// `mkdir -p`.
    static func makeDirectories(_ path: String) throws(StoreError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part
            if mkdir(prefix, 0o755) != 0 {
                let err = errno
                if err != EEXIST {
                    throw StoreError(kind: .system, message: "\(prefix): \(errorText(err))",
                                     operation: "creating data directory \(path)")
                }
            }
            prefix += "/"
        }
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw StoreError(kind: .system, message: "\(path) is not a directory",
                             operation: "creating data directory \(path)")
        }
    }

    /// Size of a file in bytes; 0 when it does not exist.
    static func fileSize(_ path: String) -> UInt64 {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_size) : 0
    }

    static func removeFile(_ path: String) {
        _ = unlink(path)
    }

    static func fileExists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }
}

/// An exclusive `flock` on `<dir>/takt.lock`, held while the store is open, so two taktd processes
/// (or two stores in one process: flock is per open file description) never share a data directory.
final class DirectoryLock {
    private var fd: Int32

    init(directory: String) throws(StoreError) {
        let path = directory + "/takt.lock"
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 {
            let err = errno
            let why = err == EACCES || err == EROFS
                ? "data directory \(directory) is not writable: \(System.errorText(err))"
                : "\(path): \(System.errorText(err))"
            throw StoreError(kind: .system, message: why, operation: "locking data directory \(directory)")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let err = errno
            let holder = Self.readPID(fd)
            close(fd)
            fd = -1
            if err == EWOULDBLOCK {
                let pid = holder.map { " (pid \($0))" } ?? ""
                throw StoreError(kind: .directoryInUse,
                                 message: "data directory \(directory) is in use by another process\(pid)",
                                 operation: "locking data directory \(directory)")
            }
            throw StoreError(kind: .system, message: "\(path): \(System.errorText(err))",
                             operation: "locking data directory \(directory)")
        }
        // Record our pid for the error message another process would print; best effort.
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    private static func readPID(_ fd: Int32) -> Int? {
        var buf = [UInt8](repeating: 0, count: 32)
        let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 31, 0) }
        guard n > 0 else { return nil }
        let s = String(decoding: buf[0..<n], as: UTF8.self).split(separator: "\n").first ?? ""
        return Int(s)
    }

    func unlock() {
        guard fd >= 0 else { return }
        close(fd)  // releases the flock
        fd = -1
    }

    deinit { unlock() }
}
