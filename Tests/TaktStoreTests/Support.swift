import Glibc
import Logging
import TaktDomain
@testable import TaktStore

/// A fresh directory under /tmp, removed by `remove()`.
struct TempDirectory {
    let path: String

    init(_ name: String = "store") {
        var template = Array("/tmp/takt-\(name)-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = String(cString: p!)
    }

    func remove() {
        _ = system("rm -rf '\(path)'")
    }
}

let quietLogger = Logger(label: "takt.store.tests", factory: { _ in SwiftLogNoOpLogHandler() })

func event(_ t: Int64, worker: String = "W1", station: String = "S1", kind: EventKind = .working,
           confidence: Double = 0.9, count: UInt32 = 0, site: String = "default", model: String = "m1",
           key: IdempotencyKey? = nil) -> Event {
    Event(eventTimeMs: t, workerID: worker, workstationID: station, kind: kind, confidence: confidence, count: count,
          siteID: site, modelVersion: model, idempotencyKey: key)
}
