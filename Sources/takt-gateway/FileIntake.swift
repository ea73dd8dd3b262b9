// Reads events from stdin or a file (optionally followed as it grows) into the spool. "Acknowledged"
// for this input means: the record is committed to the spool together with the byte offset after
// it, so a restarted gateway resumes right after the last spooled record (docs/GATEWAY.md, "Inputs").
import Foundation
import Glibc
import Logging
import Synchronization
import TaktDomain
import TaktPosix
import TaktSync

/// `--input`: `-` (stdin), a file path, or `unix:/path.sock`.
enum InputSpec: Sendable, CustomStringConvertible {
    case stdin
    case file(String)
    case socket(String)

    init(parsing text: String) {
        if text == "-" {
            self = .stdin
        } else if text.hasPrefix("unix:") {
            self = .socket(String(text.dropFirst(5)))
        } else {
            self = .file(text)
        }
    }

    var description: String {
        switch self {
        case .stdin: return "stdin"
        case .file(let p): return p
        case .socket(let p): return "unix:\(p)"
        }
    }
}

/// What the intake is doing, for status.
struct IntakeState: Sendable {
    var description = ""
    var offset: Int64 = 0
    var line = 0
    var paused = false
    var ended = false
    var connections = 0
}

/// Why an input stopped.
enum IntakeEnd: Error, Sendable {
    case endOfInput
    case stopped
    case failed(String)
}

/// Shared by the inputs: the spool, whom to tell about new events, stop, and the state for status.
final class IntakeContext: Sendable {
    let spool: Spool
    let logger: Logger
    let format: EventText.Format?
    let spooled: @Sendable () -> Void
    let stopping = Atomic<Bool>(false)
    let state = LockedValue(IntakeState())

    init(spool: Spool, logger: Logger, format: EventText.Format?, spooled: @escaping @Sendable () -> Void) {
        self.spool = spool
        self.logger = logger
        self.format = format
        self.spooled = spooled
    }

    var isStopping: Bool { stopping.load(ordering: .relaxed) }
}

final class FileIntake: Sendable {
    let context: IntakeContext
    let spec: InputSpec
    let follow: Bool
    static let pollMs = 200

    init(context: IntakeContext, spec: InputSpec, follow: Bool) {
        self.context = context
        self.spec = spec
        self.follow = follow
    }

    private struct Source {
        var fd: Int32
        var key: String
        var name: String
        var device: UInt64 = 0
        var inode: UInt64 = 0
        var seekable = false
        var offset: Int64 = 0
        var decoder: LineDecoder
        /// A new file is at the path: read the old one to its end, then switch.
        var rotated = false
    }

    /// Reads until the end of the input (without --follow), a stop, or a failure. Blocks the calling thread.
    func run() -> IntakeEnd {
        let log = context.logger
        var src: Source
        switch openSource() {
        case .success(let s): src = s
        case .failure(let end): return end
        }
        context.state.withLock { $0.description = src.name }
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var pendingItems: [IntakeItem] = []
        while !context.isStopping {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(src.fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failed("cannot read \(src.name): \(String(cString: strerror(errno)))")
            }
            if n == 0 {
                if !follow {
                    for o in src.decoder.finish() { pendingItems.append(item(o, &src)) }
                    if case .failed(let m)? = commit(&pendingItems, src.name) { return .failed(m) }
                    context.state.withLock { $0.ended = true }
                    log.info("input ended", metadata: ["input": "\(src.name)", "lines": "\(src.decoder.line)"])
                    return .endOfInput
                }
                if src.rotated {
                    switchToRotated(&src)
                    continue
                }
                if checkReplaced(&src) { continue }
                usleep(useconds_t(Self.pollMs * 1_000))
                continue
            }
            var start = 0
            for i in 0..<n where buffer[i] == 10 {
                let outputs = src.decoder.feed(buffer[start...i], endsLine: true)
                src.offset += Int64(i + 1 - start)
                start = i + 1
                for o in outputs {
                    if case .badHeader(let m, let line) = o {
                        return .failed("\(src.name):\(line): CSV header: \(m) (fix the header line; nothing after it can be read)")
                    }
                    pendingItems.append(item(o, &src))
                }
            }
            if start < n {
                _ = src.decoder.feed(buffer[start..<n], endsLine: false)
                src.offset += Int64(n - start)
            }
            if case .failed(let m)? = commit(&pendingItems, src.name) { return .failed(m) }
        }
        return .stopped
    }

    /// Commits `items` (all of them, waiting for room while the spool is full and the policy refuses).
    private func commit(_ items: inout [IntakeItem], _ name: String) -> IntakeEnd? {
        defer { items.removeAll(keepingCapacity: true) }
        var rest = items[...]
        var pausedAt: UInt64?
        var storeErrorLogged = false
        while !rest.isEmpty {
            if context.isStopping { return .stopped }
            let outcomes: [AppendOutcome]
            do {
                outcomes = try context.spool.append(rest)
            } catch {
                if error.kind == .closed { return .stopped }
                if !storeErrorLogged {
                    context.logger.error("cannot write the spool; input paused, retrying every second",
                                         metadata: ["error": "\(error)", "input": "\(name)"])
                    storeErrorLogged = true
                }
                sleep(1)
                continue
            }
            if storeErrorLogged {
                context.logger.notice("spool writable again; input resumed", metadata: ["input": "\(name)"])
                storeErrorLogged = false
            }
            rest = rest.dropFirst(outcomes.count)
            if !outcomes.isEmpty {
                context.spooled()
                if let last = items[items.startIndex + (items.count - rest.count) - 1].position {
                    context.state.withLock {
                        $0.offset = last.offset
                        $0.line = last.line
                    }
                }
            }
            if !rest.isEmpty {
                if pausedAt == nil {
                    pausedAt = System.monotonicNs()
                    let limits = context.spool.limits
                    context.logger.warning("spool full: not reading input until taktd takes events (--when-full refuse)",
                                           metadata: ["input": "\(name)", "max_spool_events": "\(limits.maxEvents)",
                                                      "max_spool_bytes": "\(limits.maxBytes)"])
                    context.state.withLock { $0.paused = true }
                }
                _ = context.spool.waitForRoom(timeout: 0.5)
            }
        }
        if let since = pausedAt {
            context.state.withLock { $0.paused = false }
            context.logger.notice("spool has room again; reading input",
                                  metadata: ["input": "\(name)", "paused_ms": "\((System.monotonicNs() - since) / 1_000_000)"])
        }
        return nil
    }

    private func item(_ o: LineDecoder.Output, _ src: inout Source) -> IntakeItem {
        let position = src.seekable
            ? InputPosition(source: src.key, device: src.device, inode: src.inode, offset: src.offset, line: src.decoder.line,
                            format: src.decoder.formatName, csvHeader: src.decoder.csvHeader)
            : nil
        switch o {
        case .event(let e, let raw, let line):
            return IntakeItem(content: .event(e), raw: raw, origin: "\(src.name):\(line)", position: position)
        case .unparseable(let m, let raw, let line):
            context.logger.warning("unparseable input line moved to dead letters",
                                   metadata: ["origin": "\(src.name):\(line)", "error": "\(m)"])
            return IntakeItem(content: .unparseable(m), raw: raw, origin: "\(src.name):\(line)", position: position)
        case .badHeader:
            preconditionFailure("handled by the caller")
        }
    }

    // MARK: Opening, resuming, rotation

    private func openSource() -> Result<Source, IntakeEnd> {
        let log = context.logger
        var fd: Int32 = 0
        var key = "stdin", name = "stdin"
        if case .file(let path) = spec {
            let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
            key = "file:\(absolute)"
            name = path
            var waited = false
            while true {
                fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
                if fd >= 0 { break }
                let err = errno
                guard follow, err == ENOENT else {
                    return .failure(.failed("cannot open input \(path): \(String(cString: strerror(err)))"))
                }
                if !waited {
                    log.notice("waiting for the input file to appear (--follow)", metadata: ["input": "\(path)"])
                    waited = true
                }
                if context.isStopping { return .failure(.stopped) }
                usleep(useconds_t(Self.pollMs * 1_000))
            }
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return .failure(.failed("cannot stat input \(name): \(String(cString: strerror(errno)))")) }
        var src = Source(fd: fd, key: key, name: name, decoder: LineDecoder(format: context.format))
        src.device = UInt64(st.st_dev)
        src.inode = UInt64(st.st_ino)
        src.seekable = (st.st_mode & S_IFMT) == S_IFREG
        guard src.seekable else {
            if follow, case .file = spec {
                return .failure(.failed("--follow needs a regular file; \(name) is not one"))
            }
            log.info("reading input (not seekable: a restart cannot resume it; the producer must re-send what was not spooled)",
                     metadata: ["input": "\(name)"])
            return .success(src)
        }
        if case .stdin = spec { src.offset = Int64(lseek(fd, 0, SEEK_CUR)) }
        guard let saved = context.spool.inputPosition(key) else {
            log.info("reading input", metadata: ["input": "\(name)", "offset": "\(src.offset)", "follow": "\(follow)"])
            return .success(src)
        }
        if saved.device != src.device || saved.inode != src.inode {
            log.notice("input is not the file the spool saw last time (other inode): reading it from the start; events already delivered come back as DUPLICATE",
                       metadata: ["input": "\(name)"])
            return .success(src)
        }
        if Int64(st.st_size) < saved.offset {
            log.notice("input is shorter than the saved position (truncated?): reading it from the start",
                       metadata: ["input": "\(name)", "saved_offset": "\(saved.offset)", "size": "\(st.st_size)"])
            return .success(src)
        }
        lseek(fd, off_t(saved.offset), SEEK_SET)
        src.offset = saved.offset
        let format: EventText.Format? = saved.format == "csv" ? .csv : saved.format == "jsonl" ? .jsonLines : context.format
        src.decoder = LineDecoder(format: format, csvHeader: saved.csvHeader, line: saved.line)
        context.state.withLock {
            $0.offset = saved.offset
            $0.line = saved.line
        }
        log.info("resuming input after the last spooled record",
                 metadata: ["input": "\(name)", "offset": "\(saved.offset)", "line": "\(saved.line)", "follow": "\(follow)"])
        return .success(src)
    }

    /// At the end of a followed file: rewinds when it was truncated; says whether it was rotated (a new
    /// file at the path), in which case the old one is read to its end before switching.
    private func checkReplaced(_ src: inout Source) -> Bool {
        guard case .file(let path) = spec else { return false }
        var cur = stat()
        if fstat(src.fd, &cur) == 0, Int64(cur.st_size) < src.offset {
            context.logger.notice("input was truncated: reading it from the start", metadata: ["input": "\(path)"])
            lseek(src.fd, 0, SEEK_SET)
            src.offset = 0
            src.decoder = LineDecoder(format: context.format)
            return false
        }
        var st = stat()
        guard stat(path, &st) == 0, UInt64(st.st_ino) != src.inode || UInt64(st.st_dev) != src.device else { return false }
        src.rotated = true
        return true
    }

    private func switchToRotated(_ src: inout Source) {
        guard case .file(let path) = spec else { return }
        src.rotated = false
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        Glibc.close(src.fd)
        var st = stat()
        fstat(fd, &st)
        src.fd = fd
        src.device = UInt64(st.st_dev)
        src.inode = UInt64(st.st_ino)
        src.offset = 0
        src.decoder = LineDecoder(format: context.format)
        context.logger.notice("input was rotated: reading the new file from the start", metadata: ["input": "\(path)"])
    }
}
