import NIOCore
import SinkholeCore
import SinkholeHTTP

/// The catch-all UDP listeners' worker (`CatchAllService`).
typealias CatchAllUDPWorker = UDPWorker<CatchAllDatagramHandler>

/// The catch-all over UDP for a `UDPWorker`: every datagram is logged as a check-in of service
/// `udp` with its first bytes, and never answered, so the sinkhole cannot be used to reflect
/// traffic at a spoofed victim.
///
/// The destination logged is the one the bot sent to, which nftables `tproxy` leaves in the
/// packet and the kernel reports per datagram (IP_ORIGDSTADDR); a datagram sent to the
/// listener's own port directly is logged as it arrived.
struct CatchAllDatagramHandler: DatagramHandler {
    /// Never sends: a reply slot of one byte is the least the batch allocates.
    static var replyCapacity: Int { 1 }

    let targets: SeizedTargets
    let readBytes: Int

    mutating func refresh() {}

    mutating func handle(_ index: Int, of batch: DatagramBatch, on socket: UDPListenSocket,
                         datagram: ByteBuffer, checkIn: inout CheckIn) -> Bool {
        checkIn.service = .udp
        checkIn.recordCatchAll(original: batch.originalDestination(index))
        checkIn.family = targets.family(destination: checkIn.destination)
        var reader = CatchAllReader(readBytes: readBytes)
        datagram.withUnsafeReadableBytes { reader.consume($0) }
        checkIn.firstBytes = reader.firstBytes
        return false
    }

    var reply: ByteBuffer { ByteBuffer() }
}
