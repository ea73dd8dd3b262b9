// Live subscriptions: every committed event is offered to each matching subscriber.
import TaktDomain
import TaktProto
import TaktSync

final class SubscriptionHub: Sendable {
    private struct Subscriber {
        let call: ServerCall
        let filter: EventFilter
    }
    private let subscribers = LockedValue<(next: Int, all: [Int: Subscriber])>((0, [:]))

    var count: Int { subscribers.withLock { $0.all.count } }

    func add(call: ServerCall, filter: EventFilter) -> Int {
        subscribers.withLock { s in
            s.next += 1
            s.all[s.next] = Subscriber(call: call, filter: filter)
            return s.next
        }
    }

    func remove(_ id: Int) {
        _ = subscribers.withLock { $0.all.removeValue(forKey: id) }
    }

    /// Called on the store's writer thread right after a commit: must be quick.
    func publish(_ events: [StoredEvent]) {
        guard !events.isEmpty else { return }
        let current = subscribers.withLock { Array($0.all.values) }
        for s in current {
            let matching = events.filter { s.filter.matches($0.event) }
            if matching.isEmpty { continue }
            s.call.sendStreamMessage(weight: UInt64(matching.count)) { dropped in
                SubscriptionUpdate(events: matching, dropped: dropped).protobufBytes()
            }
        }
    }

    /// Ends every subscription (shutdown).
    func finishAll() {
        let all = subscribers.withLock { s -> [Subscriber] in
            let x = Array(s.all.values)
            s.all.removeAll()
            return x
        }
        for s in all { s.call.finishStream() }
    }
}
