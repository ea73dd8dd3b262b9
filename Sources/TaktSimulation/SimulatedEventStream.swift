// Merges workers' event-time-ordered streams into one delivery-ordered stream, lazily: an event is
// released once no worker can still produce an earlier delivery (a delivery is never before its event
// time, and each worker's next event time bounds all its later ones).
import TaktDomain

/// Events of some workers in delivery order (ties: worker index, then generation order). Finite when
/// the configuration has an `endMs`, open-ended otherwise.
public struct SimulatedEventStream: Sequence, IteratorProtocol, Sendable {
    private struct Pending: Comparable, Sendable {
        var event: SimulatedEvent
        var worker: Int
        var order: UInt64
        static func < (a: Pending, b: Pending) -> Bool {
            (a.event.deliverAtMs, a.worker, a.order) < (b.event.deliverAtMs, b.worker, b.order)
        }
        static func == (a: Pending, b: Pending) -> Bool {
            (a.event.deliverAtMs, a.worker, a.order) == (b.event.deliverAtMs, b.worker, b.order)
        }
    }

    private struct Ready: Comparable, Sendable {
        var time: Int64
        var slot: Int
        static func < (a: Ready, b: Ready) -> Bool { (a.time, a.slot) < (b.time, b.slot) }
    }

    private var workers: [WorkerSimulation]
    private var ready = MinHeap<Ready>()
    private var pending = MinHeap<Pending>()
    private var order: UInt64 = 0

    init(configuration: FactorySimulation.Configuration, workerIndices: [Int]) {
        workers = workerIndices.map { WorkerSimulation(index: $0, configuration: configuration) }
        for (slot, w) in workers.enumerated() {
            if let time = w.nextEventTime { ready.push(Ready(time: time, slot: slot)) }
        }
    }

    /// Ids of the workers in this stream.
    public var workerIDs: [String] { workers.map { "W\($0.index + 1)" } }

    public mutating func next() -> SimulatedEvent? {
        guard peekDelivery() != nil else { return nil }
        return pending.pop()?.event
    }

    /// The events delivered before `deliverBeforeMs` (for a finite slice of an open-ended stream).
    public mutating func next(deliveredBefore deliverBeforeMs: Int64) -> SimulatedEvent? {
        guard let e = peekDelivery(), e < deliverBeforeMs else { return nil }
        return next()
    }

    /// Delivery time of the next event without consuming it.
    public mutating func peekDelivery() -> Int64? {
        while true {
            if let top = pending.min, ready.min.map({ top.event.deliverAtMs <= $0.time }) ?? true {
                return top.event.deliverAtMs
            }
            guard let r = ready.pop() else { return nil }
            if let e = workers[r.slot].pop() {
                order += 1
                pending.push(Pending(event: e, worker: workers[r.slot].index, order: order))
            }
            if let time = workers[r.slot].nextEventTime { ready.push(Ready(time: time, slot: r.slot)) }
        }
    }
}

/// A binary min-heap.
struct MinHeap<Element: Comparable & Sendable>: Sendable {
    private var items: [Element] = []

    var min: Element? { items.first }
    var count: Int { items.count }

    mutating func push(_ e: Element) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i] < items[parent] else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Element? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && items[l] < items[m] { m = l }
            if r < items.count && items[r] < items[m] { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
        return top
    }
}
