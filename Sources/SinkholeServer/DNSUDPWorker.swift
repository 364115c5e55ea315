import Foundation
import NIOCore
import SinkholeCore
import SinkholeDNS
import Synchronization

/// Serves DNS over UDP on a dedicated thread: reads bursts of datagrams with one `recvmmsg`,
/// answers each through a `DNSUDPExchange`, logs each as a `CheckIn` in the worker's own ring,
/// and sends the replies with one `sendmmsg`.
///
/// A full ring does not drop at once: the worker waits while the writer is draining
/// (`EventRing.pushWaitingForConsumer`), because a worker that outruns the writer would
/// otherwise answer bots it cannot record. Datagrams wait in the socket's buffer meanwhile.
///
/// The fast path Knot DNS and NSD take, because an event loop pays per datagram for what this
/// pays per batch: no allocation, no lock and no system call per query. Each worker has its own
/// socket per listen address (SO_REUSEPORT), its own ring, and its own copy of the responder,
/// which it refreshes between batches when a reload bumps `LiveResponder.generation`; a batch
/// is answered wholly by one set of seized names.
final class DNSUDPWorker: Sendable {
    /// One bound socket and the address it serves.
    struct Socket: Sendable {
        let descriptor: Int32
        let local: ListenAddress
    }

    /// Datagrams read per system call. NSD and Knot read 64 at a time as well.
    static let batchSize = 64
    /// Batches read from one socket before the others get a turn.
    static let batchesPerTurn = 16
    /// How long the worker sleeps in poll when nothing arrives, which is also how soon it sees
    /// a stop request.
    static let pollMilliseconds: Int32 = 100

    /// What the worker has seen, for metrics and tests.
    struct Counts: Sendable, Hashable {
        var datagrams = 0
        var replies = 0
        /// Replies the socket would not take (full send buffer); their queries are still logged.
        var unsentReplies = 0
        /// Check-ins the ring refused because it was full (the ring counts them too).
        var ringDrops = 0
        /// Datagrams longer than `DatagramBatch.datagramSize`, answered from their start.
        var oversizedDatagrams = 0
        var socketErrors = 0
    }

    let name: String
    let sockets: [Socket]
    let ring: EventRing<CheckIn>
    let live: LiveResponder
    let rateLimit: ResponseRateLimiter.Settings
    private let stopRequested = Atomic<Bool>(false)
    private let finished = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    private let counters = Mutex(Counts())

    /// `rateLimit` applies per worker: SO_REUSEPORT spreads one client's queries over the
    /// workers only when its source port changes, so a client (or a spoofed victim) gets at
    /// most the rate per worker it reaches.
    init(name: String, sockets: [Socket], ring: EventRing<CheckIn>, live: LiveResponder,
         rateLimit: ResponseRateLimiter.Settings) {
        precondition(!sockets.isEmpty && sockets.count <= 64, "a worker serves 1 to 64 sockets")
        self.name = name
        self.sockets = sockets
        self.ring = ring
        self.live = live
        self.rateLimit = rateLimit
    }

    var counts: Counts { counters.withLock { $0 } }

    /// Starts the worker's thread.
    func start() {
        let thread = Thread { [self] in
            serve()
            let waiters = finished.withLock { state in
                state.done = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
        thread.name = name
        thread.start()
    }

    /// Asks the worker to stop: it answers what the sockets already hold, then returns.
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
        guard let batch = DatagramBatch(capacity: Self.batchSize, replySize: DNSUDPExchange.replyCapacity) else {
            preconditionFailure("cannot allocate the \(name) datagram batch")
        }
        var (responder, generation) = live.current()
        var exchange = DNSUDPExchange(responder: responder, rateLimit: rateLimit)
        var datagram = ByteBufferAllocator().buffer(capacity: DatagramBatch.datagramSize)
        let descriptors = sockets.map(\.descriptor)
        var readable = [UInt8](repeating: 0, count: sockets.count)
        func refresh() {
            // Acquire pairs with the release in `LiveResponder.publish`.
            if live.generation.load(ordering: .acquiring) != generation {
                (responder, generation) = live.current()
                exchange.responder = responder
            }
        }
        while !stopRequested.load(ordering: .relaxed) {
            UDPSocket.waitReadable(descriptors, timeoutMilliseconds: Self.pollMilliseconds, readable: &readable)
            refresh()
            for (index, socket) in sockets.enumerated() where readable[index] != 0 {
                drain(socket, batches: Self.batchesPerTurn, batch: batch, exchange: &exchange, datagram: &datagram)
            }
        }
        // What reached the sockets before the stop is answered and logged, so the writer's last
        // drain (it stops after the listeners) sees it. Bounded: a flood cannot hold the stop.
        refresh()
        for socket in sockets {
            drain(socket, batches: 1024, batch: batch, exchange: &exchange, datagram: &datagram)
        }
    }

    /// Reads, answers and logs up to `batches` bursts from `socket`, stopping when it is empty.
    private func drain(_ socket: Socket, batches: Int, batch: DatagramBatch,
                       exchange: inout DNSUDPExchange, datagram: inout ByteBuffer) {
        var seen = Counts()
        defer { counters.withLock { $0.add(seen) } }
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
                if exchange.answer(datagram, checkIn: &checkIn), !batch.queueReply(to: index, exchange.reply) {
                    // The exchange bounds replies to `replyCapacity`, the slot size.
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

extension DNSUDPWorker.Counts {
    mutating func add(_ other: Self) {
        datagrams += other.datagrams
        replies += other.replies
        unsentReplies += other.unsentReplies
        ringDrops += other.ringDrops
        oversizedDatagrams += other.oversizedDatagrams
        socketErrors += other.socketErrors
    }
}
