import Glibc
import Logging
import TaktDomain
@testable import TaktStore
import TaktSync

/// A fresh directory under /tmp, removed by `remove()`.
struct TempDirectory {
    let path: String

    init(_ name: String = "store") {
        var template = Array("/tmp/takt-\(name)-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = String(cString: p!)
    }

    /// Removes the tree without `system()`: a forked child briefly holds copies of every descriptor,
    /// including another test's lock file, which would make a concurrent reopen fail.
    func remove() { Self.removeTree(path) }

    private static func removeTree(_ path: String) {
        if let dir = opendir(path) {
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
                }
                if name == "." || name == ".." { continue }
                let child = path + "/" + name
                if Int32(entry.pointee.d_type) == Int32(DT_DIR) { removeTree(child) } else { unlink(child) }
            }
            closedir(dir)
            rmdir(path)
        } else {
            unlink(path)
        }
    }
}

let quietLogger = Logger(label: "takt.store.tests", factory: { _ in SwiftLogNoOpLogHandler() })

func event(_ t: Int64, worker: String = "W1", station: String = "S1", kind: EventKind = .working,
           confidence: Double = 0.9, count: UInt32 = 0, site: String = "default", model: String = "m1",
           key: IdempotencyKey? = nil) -> Event {
    Event(eventTimeMs: t, workerID: worker, workstationID: station, kind: kind, confidence: confidence, count: count,
          siteID: site, modelVersion: model, idempotencyKey: key)
}

/// Opens a store in a fresh temp directory, runs `body`, closes and removes it.
func withStore<T>(_ configuration: StoreConfiguration = StoreConfiguration(durability: .normal), _ name: String = "store",
                  logger: Logger = quietLogger, _ body: (EventStore, TempDirectory) async throws -> T) async throws -> T {
    let dir = TempDirectory(name)
    defer { dir.remove() }
    let store = try EventStore.open(directory: dir.path + "/data", configuration: configuration, logger: logger)
    defer { store.close() }
    return try await body(store, dir)
}

/// Thread-safe list for collecting callbacks in tests.
final class Collector<T>: @unchecked Sendable {  // guarded by `lock`
    private let lock = Lock()
    private var items: [T] = []
    func append(_ x: T) { lock.withLock { items.append(x) } }
    func append(contentsOf xs: [T]) { lock.withLock { items.append(contentsOf: xs) } }
    var all: [T] { lock.withLock { items } }
}

extension EventStore {
    func allEvents() throws -> [StoredEvent] {
        var out: [StoredEvent] = []
        try forEachEvent { out.append($0) }
        return out
    }
}
