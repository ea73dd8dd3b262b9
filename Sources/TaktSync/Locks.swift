// Locks that ThreadSanitizer can see. Synchronization.Mutex parks on a futex inside the standard
// library, which is not instrumented, so under `-sanitize=thread` every access it orders looks like a
// race; pthread mutexes are intercepted, so `scripts/sanitizers.sh thread` checks the code behind
// these for real. The bottom of the module graph: no dependencies.
import Glibc

/// A pthread mutex, for state spread over several fields of an object (`LockedValue` for one value).
public final class Lock: @unchecked Sendable {
    // @unchecked: the mutex is the synchronization.
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let status = pthread_mutex_init(mutex, nil)
        precondition(status == 0, "pthread_mutex_init failed: \(status)")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inlinable
    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// A value reachable only under its lock: `Synchronization.Mutex`'s shape, on a `Lock`.
public final class LockedValue<Value>: @unchecked Sendable {
    // @unchecked: `value` is only touched inside `withLock`.
    @usableFromInline let lock = Lock()
    @usableFromInline var value: Value

    public init(_ value: Value) {
        self.value = value
    }

    @inlinable
    public func withLock<T, E: Error>(_ body: (inout Value) throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(lock.mutex)
        defer { pthread_mutex_unlock(lock.mutex) }
        return try body(&value)
    }
}
