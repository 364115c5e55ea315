import NIOCore
import SinkholeCore
import SinkholeDNS
import SinkholeHTTP

/// Which decoded packets are check-ins, and the detail they carry (pure: a packet and the
/// sinkhole's addresses in, a `CheckIn` or nil out).
///
/// A check-in is a packet **to** a sinkhole or seized address that starts something: a TCP SYN
/// without ACK (a connection attempt, answered or not), a UDP datagram, an ICMP echo request.
/// The first data segment of a connection to TCP/80 is one too, carrying the HTTP request
/// line, Host and User-Agent, so a replayed capture has the detail the HTTP responder logs
/// live; the writer merges it into the SYN's row (same 5-tuple, DESIGN.md "Deduplicating
/// writer"). Answers from the sinkhole, ACKs and later segments are not check-ins.
public struct PacketCheckIns: Sendable {
    /// The addresses bots reach: `sinkhole_addresses` and every family's seized addresses.
    public var addresses: Set<IPAddress>
    /// Seized names and addresses, for the family label (name first, then address).
    public var targets: SeizedTargets

    public init(sinkholeAddresses: [IPAddress], targets: SeizedTargets) {
        self.targets = targets
        addresses = Set(sinkholeAddresses).union(targets.addresses.keys)
    }

    /// The HTTP port whose first data segment is parsed as a request.
    public static let httpPort: UInt16 = 80
    public static let dnsPort: UInt16 = 53

    /// Buffers a capture thread keeps across packets, so decoding a DNS payload reuses their
    /// capacity instead of allocating per packet (as `DNSUDPExchange` does for the responder).
    public struct Scratch: Sendable {
        var message = ByteBufferAllocator().buffer(capacity: 512)
        var nameStorage: [UInt8] = {
            var storage: [UInt8] = []
            storage.reserveCapacity(DNSName.maximumWireLength)
            return storage
        }()

        public init() {}
    }

    /// The check-in `packet` (read from `bytes`, captured at `time`) is, or nil.
    public func checkIn(_ packet: DecodedPacket, bytes: PacketBytes, time: UTCTime) -> CheckIn? {
        var scratch = Scratch()
        var checkIn = CheckIn.empty
        return fill(&checkIn, from: packet, bytes: bytes, time: time, scratch: &scratch) ? checkIn : nil
    }

    /// Makes `checkIn` the check-in `packet` is, with the capture thread's reusable buffers;
    /// false when the packet is none (then `checkIn` holds nothing to keep). Every field is
    /// set: `checkIn` may be a ring slot holding an older event.
    public func fill(_ checkIn: inout CheckIn, from packet: DecodedPacket, bytes: PacketBytes, time: UTCTime,
                     scratch: inout Scratch) -> Bool {
        guard addresses.contains(packet.destination) else { return false }
        checkIn = CheckIn(time: time, source: packet.source, sourcePort: packet.sourcePort,
                          destination: packet.destination, destinationPort: packet.destinationPort,
                          transport: packet.transport, service: .packet)
        checkIn.tcpFlags = packet.tcpFlags
        checkIn.icmpType = packet.icmpType
        checkIn.icmpCode = packet.icmpCode
        checkIn.family = targets.family(destination: packet.destination)
        switch packet.transport {
        case .tcp:
            let syn = packet.tcpFlags & (TCPFlags.syn | TCPFlags.ack) == TCPFlags.syn
            if syn { return true }
            guard packet.destinationPort == Self.httpPort, !packet.payload.isEmpty,
                  packet.tcpFlags & (TCPFlags.syn | TCPFlags.rst) == 0 else { return false }
            return bytes.withBytes(packet.payload) { Self.httpDetail($0, into: &checkIn, targets: targets, scratch: &scratch) }
        case .udp:
            if packet.destinationPort == Self.dnsPort {
                bytes.withBytes(packet.payload) { Self.dnsDetail($0, into: &checkIn, zones: targets.zones, scratch: &scratch) }
            }
            return true
        case .icmp:
            return packet.isEchoRequest
        }
    }

    /// Fills the HTTP detail of a connection's first data segment; false when the segment
    /// does not start with an HTTP request line (a later segment, a body, another protocol).
    ///
    /// The responder's own parser, fed the one segment: a request head split over segments
    /// yields the fields of its first part (the request line, and the headers that arrived).
    static func httpDetail(_ payload: UnsafeRawBufferPointer, into checkIn: inout CheckIn, targets: SeizedTargets,
                           scratch: inout Scratch) -> Bool {
        var parser = HTTPRequestParser()
        var index = 0
        switch parser.consume(payload, at: &index) {
        case .notHTTP: return false
        case .request, .continueExpected, .needMoreBytes, .rejected:
            guard parser.isHTTP else { return false }
        }
        parser.request.fill(&checkIn)
        checkIn.family = targets.family(host: parser.request.host, destination: checkIn.destination,
                                        nameStorage: &scratch.nameStorage)
        return true
    }

    /// Fills qname, qtype and family from a DNS query, as the DNS responder labels its events
    /// (`DNSResponder.label`). A datagram that is not a readable query keeps no DNS detail.
    static func dnsDetail(_ payload: UnsafeRawBufferPointer, into checkIn: inout CheckIn, zones: SeizedZones,
                          scratch: inout Scratch) {
        // The sinkhole did not answer this packet: the capture only saw it.
        checkIn.dnsRcode = CheckIn.noResponse
        scratch.message.clear()
        scratch.message.writeBytes(payload)
        let question: DNSQuestion
        switch DNSQuery.parse(scratch.message, nameStorage: &scratch.nameStorage) {
        case .query(let query): question = query.question
        case .malformedRecords(let query, _): question = query.question
        case .noReply, .malformed: return
        }
        question.name.forEachPresentationByte { checkIn.name.append($0) }
        checkIn.dnsType = question.type
        if let match = zones.match(question.name) { checkIn.family = BoundedBytes(match.family) }
    }
}
