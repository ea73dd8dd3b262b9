// takt-load against a real taktd for a couple of seconds: its exact stored-count check must pass.
import Foundation
import Testing

@Suite("takt-load smoke", .serialized)
struct LoadTests {
    static func report(_ r: CommandResult) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else {
            throw HarnessError(description: "takt-load printed no JSON report: \(r.stdout)\n\(r.stderr)")
        }
        return object
    }

    @Test("closed-loop batches, then open-loop singles with queries: stored count equals ACCEPTED acks")
    func exactCount() throws {
        let server = try TaktdProcess()
        defer { server.stop() }

        let closed = try runBinary("takt-load", ["--server", server.address, "--connections", "4", "--batch", "50",
                                                 "--warmup", "0.5", "--duration", "1.5", "--pregenerate", "20000",
                                                 "--seed", "1", "--json"], timeout: 60)
        #expect(closed.status == 0, "\(closed.stdout)\n\(closed.stderr)")
        let c = try Self.report(closed)
        let cv = c["verification"] as? [String: Any]
        #expect(cv?["exact"] as? Bool == true, "\(cv ?? [:])")
        #expect((cv?["acceptedAcknowledged"] as? Int ?? 0) > 0)
        #expect(c["gatewaysServed"] as? Int == 4)

        let open = try runBinary("takt-load", ["--server", server.address, "--connections", "3", "--rate", "300",
                                               "--duration", "1.5", "--query-connections", "1", "--query-rate", "6",
                                               "--seed", "2", "--json"], timeout: 60)
        #expect(open.status == 0, "\(open.stdout)\n\(open.stderr)")
        let o = try Self.report(open)
        let ov = o["verification"] as? [String: Any]
        #expect(ov?["exact"] as? Bool == true, "\(ov ?? [:])")
        #expect((ov?["acceptedAcknowledged"] as? Int ?? 0) > 0)
        let kinds = (o["kinds"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
        #expect(kinds.contains("SubmitEvent"))
        #expect(kinds.contains { $0.hasPrefix("QueryMetrics") })
        #expect((o["statuses"] as? [String: Int])?.keys.sorted() == ["OK"])
    }

    @Test("a server that is not there is exit status 2, not a hang")
    func unreachable() throws {
        let r = try runBinary("takt-load", ["--server", "127.0.0.1:1", "--duration", "1"], timeout: 30)
        #expect(r.status == 2, "\(r.stdout)\n\(r.stderr)")
    }
}
