// Assembles a running server: store (opened, migrated), metric index (rebuilt from the store),
// service, RPC listener. Shutdown reverses it.
import Logging
import TaktDomain
import TaktMetrics
import TaktPosix
import TaktStore

public struct ServerConfiguration: Sendable {
    public var rpc = RPCServerConfiguration()
    public var dataDirectory = "./data"
    public var store = StoreConfiguration()
    /// CAP of spec section 2 (ms).
    public var capMs: Int64 = 600_000
    public var shutdownGraceMs = 10_000
    public init() {}
}

public final class TaktServer: @unchecked Sendable {
    // @unchecked: fields are set once in `start` and only read afterwards.
    public let service: TaktService
    public let address: SocketAddress
    let rpc: RPCServer
    let logger: Logger
    let configuration: ServerConfiguration

    private init(service: TaktService, rpc: RPCServer, address: SocketAddress, configuration: ServerConfiguration, logger: Logger) {
        self.service = service
        self.rpc = rpc
        self.address = address
        self.configuration = configuration
        self.logger = logger
    }

    /// Opens the store, rebuilds the metric index from it, and starts listening.
    public static func start(_ configuration: ServerConfiguration, logger: Logger) throws -> TaktServer {
        let started = System.monotonicNs()
        let store = try EventStore.open(directory: configuration.dataDirectory, configuration: configuration.store, logger: logger)
        let index = MetricsIndex(capMs: configuration.capMs)
        do {
            var batch: [StoredEvent] = []
            batch.reserveCapacity(65_536)
            try store.forEachEvent { e in
                batch.append(e)
                if batch.count == 65_536 {
                    index.insert(batch)
                    batch.removeAll(keepingCapacity: true)
                }
            }
            index.insert(batch)
            var low: [StoredEvent] = []
            try store.forEachLowConfidence { low.append($0) }
            index.insertLowConfidence(low)
        } catch {
            store.close()
            throw error
        }
        let loadMs = (System.monotonicNs() - started) / 1_000_000
        logger.info("store opened", metadata: [
            "data_dir": "\(configuration.dataDirectory)", "events": "\(store.stats().events)",
            "durability": "\(configuration.store.durability.rawValue)", "strict": "\(configuration.store.strict)",
            "load_ms": "\(loadMs)",
        ])
        let service = TaktService(store: store, index: index, policy: configuration.store.acceptance,
                                  maxBatchEvents: configuration.rpc.maxBatchEvents,
                                  durability: configuration.store.durability, logger: logger)
        service.attach()
        let rpc = RPCServer(configuration: configuration.rpc, handler: service, logger: logger)
        let address: SocketAddress
        do {
            address = try rpc.start()
        } catch {
            store.close()
            throw error
        }
        logger.info("listening", metadata: ["address": "\(address)", "port": "\(address.port)"])
        return TaktServer(service: service, rpc: rpc, address: address, configuration: configuration, logger: logger)
    }

    /// Graceful: GOAWAY, in-flight calls finish within the grace period, subscriptions end, store closes.
    public func shutdown() {
        logger.info("shutting down", metadata: ["grace_ms": "\(configuration.shutdownGraceMs)"])
        service.hub.finishAll()
        rpc.shutdown(graceMs: configuration.shutdownGraceMs)
        service.store.close()
        logger.info("stopped")
    }
}
