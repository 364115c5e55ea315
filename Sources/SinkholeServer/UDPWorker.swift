import Foundation
import NIOCore
import SinkholeCore
import SinkholeDNS
import Synchronization

/// What a `UDPWorker` does with each datagram its sockets receive: the DNS responder answers
/// (`DNSDatagramHandler`), the catch-all only records (`CatchAllDatagramHandler`).
///
/// A handler lives on its worker's thread and is never shared, so it keeps mutable state (a
/// rate limiter, a reply buffer) without locks. The worker is generic over it, so the call per
/// datagram is direct and the DNS path stays free of allocation and dynamic dispatch.
protocol DatagramHandler {
    /// The largest reply the handler writes: the size of each reply slot of the worker's batch.
    static var replyCapacity: Int { get }
    /// Called on the worker's thread after every wait for datagrams and before reading them:
    /// picks up what a reload published. A batch is handled wholly by one state.
    mutating func refresh()
    /// Handles datagram `index` of `batch`, which arrived on `socket` and whose bytes (the
    /// start, when it was longer than `DatagramBatch.datagramSize`) are in `datagram`.
    /// `checkIn` has its time, source, destination (the address the datagram was sent to, or
    /// the socket's), the socket's port and transport set; the handler fills the rest. Returns
    /// true when `reply` holds an answer to send to the datagram's sender.
    mutating func handle(_ index: Int, of batch: DatagramBatch, on socket: UDPListenSocket,
                         datagram: ByteBuffer, checkIn: inout CheckIn) -> Bool
    /// The answer the last `handle` returned true for.
    var reply: ByteBuffer { get }
    /// Totals of what response rate limiting held back, since the worker started.
    var rateLimitCounts: ResponseRateLimiter.Counts { get }
}

extension DatagramHandler {
    /// A handler that never replies never limits.
    var rateLimitCounts: ResponseRateLimiter.Counts { ResponseRateLimiter.Counts() }
}

/// One bound UDP socket and the address it serves.
struct UDPListenSocket: Sendable {
    let descriptor: Int32
    let local: ListenAddress
}

/// Serves UDP sockets on a dedicated thread: reads bursts of datagrams with one `recvmmsg`,
/// hands each to its `DatagramHandler`, logs each as a `CheckIn` in the worker's own ring, and
/// sends the replies with one `sendmmsg`.
///
/// A full ring does not drop at once: the worker waits while the writer is draining
/// (`EventRing.pushWaitingForConsumer`), because a worker that outruns the writer would
/// otherwise answer bots it cannot record. Datagrams wait in the socket's buffer meanwhile.
///
/// The fast path Knot DNS and NSD take, because an event loop pays per datagram for what this
/// pays per batch: no allocation, no lock and no system call per datagram. Each DNS worker has
/// its own socket per listen address (SO_REUSEPORT), its own ring, and its own handler, which
/// it refreshes between batches when a reload publishes new seized names.
final class UDPWorker<Handler: DatagramHandler>: Sendable {
    typealias Socket = UDPListenSocket
    typealias Counts = UDPWorkerCounts

    /// Datagrams read per system call. NSD and Knot read 64 at a time as well.
    static var batchSize: Int { 64 }
    /// Batches read from one socket before the others get a turn.
    static var batchesPerTurn: Int { 16 }
    /// How long the worker sleeps in poll when nothing arrives, which is also how soon it sees
    /// a stop request.
    static var pollMilliseconds: Int32 { 100 }

    let name: String
    let sockets: [Socket]
    let ring: EventRing<CheckIn>
    /// Makes the handler, on the worker's thread (it is not shared, so it need not be Sendable).
    private let makeHandler: @Sendable () -> Handler
    private let stopRequested = Atomic<Bool>(false)
    private let finished = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    private let counters = Mutex(UDPWorkerCounts())
    /// Stamped on every turn of the loop (at least every `pollMilliseconds`), for the watchdog.
    let heartbeat: Heartbeat

    init(name: String, sockets: [Socket], ring: EventRing<CheckIn>, progress: ProgressGate? = nil,
         handler: @escaping @Sendable () -> Handler) {
        precondition(!sockets.isEmpty && sockets.count <= 64, "a worker serves 1 to 64 sockets")
        self.name = name
        heartbeat = progress?.watch(name) ?? Heartbeat(name: name)
        self.sockets = sockets
        self.ring = ring
        makeHandler = handler
    }

    var counts: UDPWorkerCounts { counters.withLock { $0 } }

    /// Starts the worker's thread.
    func start() {
        SinkholeThread.start(name: name) { [self] in
            serve()
            let waiters = finished.withLock { state in
                state.done = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    /// Asks the worker to stop: it handles what the sockets already hold, then returns.
    func stop() {
        stopRequested.store(true, ordering: .relaxed)
    }

    /// Returns once the worker's thread has stopped serving.
    func waitUntilFinished() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = finished.withLock { state in
                if state.done { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    private func serve() {
        guard let batch = DatagramBatch(capacity: Self.batchSize, replySize: Handler.replyCapacity) else {
            preconditionFailure("cannot allocate the \(name) datagram batch")
        }
        var handler = makeHandler()
        var datagram = ByteBufferAllocator().buffer(capacity: DatagramBatch.datagramSize)
        let descriptors = sockets.map(\.descriptor)
        var readable = [UInt8](repeating: 0, count: sockets.count)
        while !stopRequested.load(ordering: .relaxed) {
            heartbeat.beat()
            UDPSocket.waitReadable(descriptors, timeoutMilliseconds: Self.pollMilliseconds, readable: &readable)
            handler.refresh()
            for (index, socket) in sockets.enumerated() where readable[index] != 0 {
                drain(socket, batches: Self.batchesPerTurn, batch: batch, handler: &handler, datagram: &datagram)
            }
        }
        // What reached the sockets before the stop is handled and logged, so the writer's last
        // drain (it stops after the listeners) sees it. Bounded: a flood cannot hold the stop.
        handler.refresh()
        for socket in sockets {
            drain(socket, batches: 1024, batch: batch, handler: &handler, datagram: &datagram)
        }
    }

    /// Reads, handles and logs up to `batches` bursts from `socket`, stopping when it is empty.
    private func drain(_ socket: Socket, batches: Int, batch: DatagramBatch,
                       handler: inout Handler, datagram: inout ByteBuffer) {
        var seen = UDPWorkerCounts()
        // The limiter's totals are copied once per burst, beside the counts: no extra lock.
        defer {
            let limited = handler.rateLimitCounts
            counters.withLock {
                $0.add(seen)
                $0.rateLimit = limited
            }
        }
        for _ in 0..<batches {
            let count: Int
            switch batch.receive(from: socket.descriptor) {
            case .success(let n): count = n
            case .failure:
                seen.socketErrors += 1
                return
            }
            guard count > 0 else { return }
            seen.datagrams += count
            // One clock read for datagrams the kernel did not timestamp.
            let now = UTCTime.now()
            for index in 0..<count {
                let source = batch.source(index)
                var checkIn = CheckIn(
                    time: batch.arrival(index) ?? now,
                    source: source.address, sourcePort: source.port,
                    destination: batch.destination(index) ?? socket.local.address,
                    destinationPort: socket.local.port,
                    transport: .udp, service: .dns)
                if batch.copyDatagram(index, into: &datagram) { seen.oversizedDatagrams += 1 }
                if handler.handle(index, of: batch, on: socket, datagram: datagram, checkIn: &checkIn),
                   !batch.queueReply(to: index, handler.reply) {
                    // Handlers bound replies to `replyCapacity`, the slot size.
                    seen.unsentReplies += 1
                }
                if !ring.pushWaitingForConsumer(checkIn) { seen.ringDrops += 1 }
            }
            let sent = batch.send(on: socket.descriptor)
            seen.replies += sent.sent
            seen.unsentReplies += sent.unsent
            if count < batch.capacity { return }
        }
    }
}

/// What a UDP worker has seen, for metrics and tests.
struct UDPWorkerCounts: Sendable, Hashable {
    var datagrams = 0
    var replies = 0
    /// Replies the socket would not take (full send buffer); their datagrams are still logged.
    var unsentReplies = 0
    /// Check-ins the ring refused because it was full (the ring counts them too).
    var ringDrops = 0
    /// Datagrams longer than `DatagramBatch.datagramSize`, handled from their start.
    var oversizedDatagrams = 0
    var socketErrors = 0
    /// The handler's rate limiting totals: a worker's counters take the latest copy; `add`
    /// sums several workers'.
    var rateLimit = ResponseRateLimiter.Counts()

    mutating func add(_ other: Self) {
        datagrams += other.datagrams
        replies += other.replies
        unsentReplies += other.unsentReplies
        ringDrops += other.ringDrops
        oversizedDatagrams += other.oversizedDatagrams
        socketErrors += other.socketErrors
        rateLimit.limited += other.rateLimit.limited
        rateLimit.slipped += other.rateLimit.slipped
        rateLimit.dropped += other.rateLimit.dropped
        rateLimit.evicted += other.rateLimit.evicted
    }
}
