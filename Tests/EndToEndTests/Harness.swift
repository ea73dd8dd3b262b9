// Starts real taktd processes on 127.0.0.1 port 0 with a fresh data directory, and runs the
// built binaries (takt, takt-load) against them.
import Foundation
import TaktClient
import TaktDomain

/// Where `swift build` put the executables: next to the test bundle.
enum Binaries {
    static let directory: URL = {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        // Test bundle: .build/<triple>/debug/takt-packageTests.xctest
        if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("taktd").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }()
    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
}

/// A temporary directory removed on deinit.
final class TempDir: @unchecked Sendable {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "takt-test-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
}

/// A taktd child process. Stop it with `stop()` (SIGTERM) or `kill()` (SIGKILL).
final class TaktdProcess: @unchecked Sendable {
    let process = Process()
    let dataDir: String
    private(set) var port: UInt16 = 0
    private let stderrPipe = Pipe()
    private let log = LockedLog()
    private let ownedDir: TempDir?

    var address: String { "127.0.0.1:\(port)" }
    var output: String { log.text }

    /// Starts taktd and waits until it listens. `dataDir` nil: a fresh temporary directory.
    init(arguments: [String] = [], dataDir: String? = nil, environment: [String: String] = [:]) throws {
        if let dataDir {
            self.dataDir = dataDir
            ownedDir = nil
        } else {
            let t = TempDir()
            ownedDir = t
            self.dataDir = t.path
        }
        process.executableURL = URL(fileURLWithPath: Binaries.path("taktd"))
        process.arguments = ["--listen", "127.0.0.1:0", "--data-dir", self.dataDir, "--log-level", "info",
                             "--shutdown-grace-ms", "3000"] + arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardError = stderrPipe
        process.standardOutput = FileHandle.nullDevice
        let log = self.log
        stderrPipe.fileHandleForReading.readabilityHandler = { h in
            let d = h.availableData
            if !d.isEmpty { log.append(String(decoding: d, as: UTF8.self)) }
        }
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let p = Self.parsePort(log.text) {
                port = p
                return
            }
            if !process.isRunning {
                throw HarnessError(description: "taktd exited with \(process.terminationStatus): \(log.text)")
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        process.terminate()
        throw HarnessError(description: "taktd did not start listening within 60 s: \(log.text)")
    }

    static func parsePort(_ text: String) -> UInt16? {
        guard let r = text.range(of: "port=") else { return nil }
        return UInt16(text[r.upperBound...].prefix { $0.isNumber })
    }

    func client(retry: RetryPolicy = RetryPolicy()) throws -> TaktClient {
        var c = ClientConfiguration(address: try .init(parsing: address))
        c.retry = retry
        c.defaultTimeoutMs = 30_000
        return TaktClient(c)
    }

    /// SIGTERM and wait; returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        stderrPipe.fileHandleForReading.readabilityHandler = nil
        return process.terminationStatus
    }

    /// SIGKILL and wait.
    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        stderrPipe.fileHandleForReading.readabilityHandler = nil
    }

    deinit {
        if process.isRunning {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

final class LockedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var buffer = ""
    func append(_ s: String) { lock.lock(); buffer += s; lock.unlock() }
    var text: String { lock.lock(); defer { lock.unlock() }; return buffer }
}

/// Runs a built executable to completion with a timeout; returns exit status, stdout and stderr.
struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

func runBinary(_ name: String, _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:],
               timeout: TimeInterval = 120) throws -> CommandResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: Binaries.path(name))
    p.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env["NO_COLOR"] = "1"
    for (k, v) in environment { env[k] = v }
    p.environment = env
    let out = Pipe(), err = Pipe(), inp = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = inp
    let outLog = LockedLog(), errLog = LockedLog()
    out.fileHandleForReading.readabilityHandler = { h in outLog.append(String(decoding: h.availableData, as: UTF8.self)) }
    err.fileHandleForReading.readabilityHandler = { h in errLog.append(String(decoding: h.availableData, as: UTF8.self)) }
    try p.run()
    if let stdin { inp.fileHandleForWriting.write(Data(stdin.utf8)) }
    try? inp.fileHandleForWriting.close()
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
    if p.isRunning {
        p.terminate()
        p.waitUntilExit()
        throw HarnessError(description: "\(name) \(arguments.joined(separator: " ")) timed out after \(timeout) s")
    }
    p.waitUntilExit()
    // Drain what is left in the pipes.
    out.fileHandleForReading.readabilityHandler = nil
    err.fileHandleForReading.readabilityHandler = nil
    outLog.append(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    errLog.append(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    return CommandResult(status: p.terminationStatus, stdout: outLog.text, stderr: errLog.text)
}
