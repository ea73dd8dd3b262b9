import Dispatch
// `taktd --demo`: deterministic demo data for an empty store, through the normal ingest path.
import Logging
import TaktDomain
import TaktPosix
import TaktServer
import TaktSimulation

enum DemoData {
    static func loadIfEmpty(into server: TaktServer, seed: UInt64, logger: Logger) {
        let service = server.service
        guard service.store.stats().events == 0 else {
            logger.info("demo: store already holds events; not loading demo data")
            return
        }
        let sim = FactorySimulation.demo(seed: seed, nowMs: System.nowMs())
        let done = DispatchSemaphoreBox()
        Task {
            do {
                _ = try await service.store.upsertWorkers(sim.workerRecords)
                _ = try await service.store.upsertWorkstations(sim.workstationRecords)
                var batch: [Event] = []
                var counts: [ResultCode: Int] = [:]
                for e in sim.events() {
                    batch.append(e.event)
                    if batch.count == 1_000 {
                        for r in try await service.ingestLocally(batch) { counts[r.code, default: 0] += 1 }
                        batch.removeAll(keepingCapacity: true)
                    }
                }
                for r in try await service.ingestLocally(batch) { counts[r.code, default: 0] += 1 }
                logger.info("demo data loaded", metadata: [
                    "seed": "\(seed)", "workers": "\(sim.workerRecords.count)", "workstations": "\(sim.workstationRecords.count)",
                    "results": "\(counts.map { "\($0.key.name)=\($0.value)" }.sorted().joined(separator: " "))",
                ])
            } catch {
                logger.error("demo data could not be loaded", metadata: ["error": "\(error)"])
            }
            done.signal()
        }
        done.wait()
    }
}

/// A semaphore the demo loader can hand to a Task (waiting here happens before the main thread parks).
final class DispatchSemaphoreBox: @unchecked Sendable {
    // @unchecked: DispatchSemaphore is thread-safe.
    private let s = DispatchSemaphore(value: 0)
    func signal() { s.signal() }
    func wait() { s.wait() }
}
