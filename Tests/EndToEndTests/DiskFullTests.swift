// A full disk (issue 9): the calls that cannot be stored fail with a retryable UNAVAILABLE and a retry
// delay, health says NOT_SERVING, nothing acknowledged is lost and nothing of a failed call is
// stored; once there is room again ingest resumes in the same process, without a restart.
//
// Two ways to fill it: `PRAGMA max_page_count` on a server started in this process (runs anywhere),
// and a real ENOSPC from a small tmpfs under a real taktd (needs root to mount; skipped otherwise).
import Foundation
import Logging
import Testing
import TaktClient
import TaktDomain
import TaktPosix
import TaktServer

@Suite(.serialized) struct DiskFullTests {
    /// Server in this process, so the test can shrink and grow `max_page_count` while it runs.
    @Test func fullDatabaseFailsRetryablyAndResumesWithoutRestart() async throws {
        let dir = TempDir()
        var config = ServerConfiguration()
        config.rpc.listen = try SocketAddress(parsing: "127.0.0.1:0")
        config.dataDirectory = dir.path
        config.shutdownGraceMs = 2_000
        let server = try TaktServer.start(config, logger: Logger(label: "disk-full") { _ in SwiftLogNoOpLogHandler() })
        defer { server.shutdown() }
        var cc = ClientConfiguration(address: server.address)
        cc.retry = .none
        let c = TaktClient(cc)
        defer { c.close() }
        let fill = DiskFiller()

        _ = try await fill.submitUntilFull(c, maxBatches: 0)  // one batch to create the file's tables and indexes
        // Cap the file at its current size (SQLite never caps below that), then write until it is full.
        try server.service.store.setMaxPageCount(1)
        let failure = try await fill.submitUntilFull(c, maxBatches: 400)
        try await fill.checkFullState(c, failure: failure, reason: "full")

        try server.service.store.setMaxPageCount(1 << 30)  // "free space"
        try await fill.checkResumed(c)

        // A client that honors the retry delay gets through on its own once space is freed meanwhile.
        try server.service.store.setMaxPageCount(1)
        let second = try await fill.submitUntilFull(c, maxBatches: 400)
        #expect(second.code == .unavailable)
        var retrying = ClientConfiguration(address: server.address)
        retrying.retry.maxAttempts = 8
        retrying.retry.initialBackoffMs = 100
        let patient = TaktClient(retrying)
        defer { patient.close() }
        let pending = fill.failedBatches.removeLast()
        let store = server.service.store
        let freer = Task {
            try await Task.sleep(nanoseconds: 1_500_000_000)
            try store.setMaxPageCount(1 << 30)
        }
        let ack = try await patient.submit(EventBatch(events: pending), timeoutMs: 30_000)
        try await freer.value
        #expect(ack.codes.allSatisfy { $0 == .accepted })
        fill.acked.formUnion(pending.map(\.identity))
        try await fill.checkResumed(c)
    }

    /// A real taktd whose data directory sits on an 8 MiB tmpfs filled up by a ballast file.
    @Test(.enabled(if: geteuid() == 0, "mounting a tmpfs needs root"))
    func fullFilesystemFailsRetryablyAndResumesWithoutRestart() async throws {
        let mountPoint = TempDir()
        guard runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", mountPoint.path]) == 0 else {
            print("DiskFullTests: cannot mount a tmpfs here; real-ENOSPC case skipped")
            return
        }
        defer { _ = runTool("/bin/umount", ["-l", mountPoint.path]) }
        let dataDir = mountPoint.path + "/data"
        let ballast = mountPoint.path + "/ballast"
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        let server = try TaktdProcess(dataDir: dataDir)
        defer { server.kill() }
        let c = try server.client(retry: .none)
        defer { c.close() }
        let fill = DiskFiller()

        _ = try await fill.submitUntilFull(c, maxBatches: 0)
        // All but 256 KiB goes to the ballast: the WAL grows for a few batches, then cannot.
        let ballastBytes = fillFilesystem(ballast, leaving: 256 << 10)
        #expect(ballastBytes > 1 << 20)
        let failure = try await fill.submitUntilFull(c, maxBatches: 400)
        print("DiskFullTests: tmpfs ballast \(ballastBytes) bytes; \(fill.acked.count) events stored, then: \(failure)")
        // SQLITE_FULL from the WAL append, or an I/O error if SQLite met ENOSPC elsewhere first.
        try await fill.checkFullState(c, failure: failure, reason: nil)
        #expect(server.process.isRunning)

        try FileManager.default.removeItem(atPath: ballast)
        try await fill.checkResumed(c)
        c.close()
        #expect(server.stop() == 0)
        #expect(try sqlite(dataDir + "/takt.db", "PRAGMA integrity_check;") == "ok")
        #expect(try sqlite(dataDir + "/takt.db", "SELECT count(*) FROM events;") == "\(fill.acked.count)")
    }
}

/// Submits distinct events until the store refuses, remembering what was acknowledged and what failed.
final class DiskFiller: @unchecked Sendable {
    var acked = Set<EventIdentity>()
    var failedBatches: [[Event]] = []
    private var next = 0
    private let base = System.nowMs() - 86_400_000

    func batch() -> [Event] {
        defer { next += 1 }
        // New workers and model versions in every batch: the store's interned keys grow too.
        return (0..<400).map { i in
            Event(eventTimeMs: base + Int64(next) * 10_000 + Int64(i), workerID: "F\(next)-W\(i % 7)", workstationID: "S\(i % 5)",
                  kind: [.working, .idle, .absent][i % 3], confidence: 0.9, modelVersion: "m\(next)")
        }
    }

    /// Returns the error of the first call that failed (after `maxBatches` successes: a synthetic OK).
    func submitUntilFull(_ c: TaktClient, maxBatches: Int) async throws -> RPCError {
        for _ in 0...maxBatches {
            let events = batch()
            do {
                let ack = try await c.submit(EventBatch(events: events), timeoutMs: 30_000)
                #expect(ack.codes.allSatisfy { $0 == .accepted })
                acked.formUnion(events.map(\.identity))
            } catch {
                failedBatches.append(events)
                return error
            }
        }
        return RPCError(.ok, "never filled up")
    }

    /// While full: the failure is retryable with a delay, more calls fail the same way, health says
    /// NOT_SERVING, reads still work, and exactly the acknowledged events are stored.
    func checkFullState(_ c: TaktClient, failure: RPCError, reason: String?) async throws {
        #expect(failure.code == .unavailable, "\(failure)")
        #expect(failure.code.isRetryable)
        #expect((failure.retryAfterMs ?? 0) > 0)
        if let reason { #expect(failure.message.lowercased().contains(reason), "\(failure.message)") }
        let again = batch()
        do {
            _ = try await c.submit(EventBatch(events: again), timeoutMs: 30_000)
            Issue.record("a full store acknowledged a batch")
        } catch {
            #expect(error.code == .unavailable)
            failedBatches.append(again)
        }
        #expect(try await c.health() == .notServing)
        #expect(try await allStoredIdentities(c) == acked)
        #expect(try await c.stats().eventsStored == UInt64(acked.count))
    }

    /// After room is made: the failed batches are stored in full, health is SERVING again.
    func checkResumed(_ c: TaktClient) async throws {
        for events in failedBatches {
            let ack = try await c.submit(EventBatch(events: events), timeoutMs: 30_000)
            #expect(ack.codes.allSatisfy { $0 == .accepted }, "a batch that failed was partly stored")
            acked.formUnion(events.map(\.identity))
        }
        failedBatches = []
        let more = batch()
        #expect(try await c.submit(EventBatch(events: more)).codes.allSatisfy { $0 == .accepted })
        acked.formUnion(more.map(\.identity))
        #expect(try await c.health() == .serving)
        #expect(try await allStoredIdentities(c) == acked)
    }
}

/// Writes `path` until the filesystem has only `leaving` bytes left; returns the bytes written.
func fillFilesystem(_ path: String, leaving: Int) -> Int {
    guard let f = fopen(path, "w") else { return 0 }
    defer { fclose(f) }
    var st = statvfs()
    guard statvfs(path, &st) == 0 else { return 0 }
    let free = Int(st.f_bavail) * Int(st.f_frsize)
    let chunk = [UInt8](repeating: 0xA5, count: 64 << 10)
    var written = 0
    while written + chunk.count <= free - leaving {
        let n = fwrite(chunk, 1, chunk.count, f)
        written += n
        if n < chunk.count { break }
    }
    fflush(f)
    return written
}

@discardableResult
func runTool(_ tool: String, _ arguments: [String]) -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: tool)
    p.arguments = arguments
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    do { try p.run() } catch { return -1 }
    p.waitUntilExit()
    return p.terminationStatus
}
