import NIOCore
import SinkholeDNS
import Synchronization

/// The DNS responder in force and every channel serving it, so a reload reaches them all.
///
/// A channel attaches when it is set up (a UDP socket at bind, a TCP connection at accept) and
/// gets the current responder; `publish` replaces the responder and sends it to every attached
/// channel. Both happen under one lock, so a connection accepted during a reload either gets
/// the new responder at attach or is sent it by `publish`, never keeps the old one. Queries
/// never touch this lock: each handler holds its own copy.
///
/// Threads that are not channels (the UDP workers) poll `generation` once per batch of
/// datagrams and take `current` when it moved: a batch is answered wholly by one responder.
final class LiveResponder: Sendable {
    private let state: Mutex<(responder: DNSResponder, channels: [ObjectIdentifier: any Channel])>
    /// Bumped by every `publish`, after the new responder is in place (release); a worker that
    /// reads a new value (acquire) then finds that responder or a later one in `current`.
    let generation = Atomic<UInt64>(0)

    init(_ responder: DNSResponder) {
        state = Mutex((responder, [:]))
    }

    /// Registers `channel` until it closes and returns the responder it should start with.
    func attach(_ channel: any Channel) -> DNSResponder {
        let key = ObjectIdentifier(channel)
        let responder = state.withLock { state in
            state.channels[key] = channel
            return state.responder
        }
        channel.closeFuture.whenComplete { [self] _ in
            _ = state.withLock { $0.channels.removeValue(forKey: key) }
        }
        return responder
    }

    /// The responder in force and the generation it belongs to.
    func current() -> (responder: DNSResponder, generation: UInt64) {
        state.withLock { state in
            (state.responder, generation.load(ordering: .relaxed))
        }
    }

    /// Makes `responder` the one in force and hands it to every attached channel. Returns how
    /// many channels were sent it.
    @discardableResult
    func publish(_ responder: DNSResponder) -> Int {
        let channels = state.withLock { state in
            state.responder = responder
            // Under the lock, so `current` never pairs a responder with another's generation.
            generation.add(1, ordering: .releasing)
            return Array(state.channels.values)
        }
        let update = DNSResponderUpdate(responder: responder)
        for channel in channels {
            channel.pipeline.fireUserInboundEventTriggered(update)
        }
        return channels.count
    }
}
