import NIOCore
import SinkholeCore

/// One `EventRing` per event loop of the server's group: every channel on a loop runs on that
/// loop's thread, so each ring has exactly one producer however many channels share it.
public struct EventLoopRings: Sendable {
    private let rings: [ObjectIdentifier: EventRing<CheckIn>]

    /// Registers a ring for each event loop of `group` in `registry`.
    public init(group: any EventLoopGroup, registry: EventRings<CheckIn>) {
        var rings: [ObjectIdentifier: EventRing<CheckIn>] = [:]
        for (index, loop) in group.makeIterator().enumerated() {
            rings[ObjectIdentifier(loop)] = registry.register(name: "eventloop-\(index)")
        }
        self.rings = rings
    }

    /// The ring that channels on `loop` push to.
    public func ring(for loop: any EventLoop) -> EventRing<CheckIn> {
        guard let ring = rings[ObjectIdentifier(loop)] else {
            preconditionFailure("event loop \(loop) is not in the group the rings were registered for")
        }
        return ring
    }
}
