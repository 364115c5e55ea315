#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A joinable OS thread for the producers (Foundation's `Thread` cannot be joined).
struct BenchThread {
    private let id: pthread_t

    /// Starts `body` on a new thread.
    init(_ body: @escaping @Sendable () -> Void) {
        final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        #if canImport(Glibc)
        var thread = pthread_t()
        #else
        var thread: pthread_t? = nil
        #endif
        let rc = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
            box.body()
            return nil
        }, context)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        #if canImport(Glibc)
        id = thread
        #else
        id = thread!  // pthread_create succeeded, so it set the thread
        #endif
    }

    /// Waits for the thread to finish.
    func join() {
        pthread_join(id, nil)
    }
}

/// Keeps a computed value alive so the optimiser cannot drop the loop that made it.
@inline(never)
func blackHole<T>(_ value: T) { _ = value }
