import SinkholeCore
import SinkholeDNS

/// What a connection to the sinkhole may have been aimed at: the seized names (matched
/// against a request's Host) and the seized C&C addresses routed here (matched against the
/// address the connection reached). DESIGN.md "Families": the name wins, then the address.
public struct SeizedTargets: Sendable {
    /// The seized names; replaced on reload (`DNSResponderUpdate` carries the new ones).
    public var zones: SeizedZones
    /// Seized C&C address → the family owning it.
    public var addresses: [IPAddress: BoundedBytes<32>]

    public init(zones: SeizedZones, addresses: [IPAddress: String] = [:]) {
        self.zones = zones
        self.addresses = addresses.mapValues { BoundedBytes($0) }
    }

    /// The family a request naming `host` (a Host header as received: port, brackets and
    /// trailing dot allowed) and reaching `destination` belongs to; empty when neither is seized.
    public func family(host: BoundedBytes<255>, destination: IPAddress) -> BoundedBytes<32> {
        family(host: host) ?? family(destination: destination)
    }

    /// The family of the seized name `host` (a Host value as received) is under, or nil.
    public func family(host: BoundedBytes<255>) -> BoundedBytes<32>? {
        var storage: [UInt8] = []
        return family(host: host, nameStorage: &storage)
    }

    /// `family(host:destination:)` with the Host's name built in `nameStorage`, which a caller
    /// reading one request per packet keeps (the capture thread: no allocation per packet).
    public func family(host: BoundedBytes<255>, destination: IPAddress, nameStorage: inout [UInt8]) -> BoundedBytes<32> {
        family(host: host, nameStorage: &nameStorage) ?? family(destination: destination)
    }

    func family(host: BoundedBytes<255>, nameStorage: inout [UInt8]) -> BoundedBytes<32>? {
        guard let name = Self.name(fromHost: host, nameStorage: &nameStorage), let match = zones.match(name) else { return nil }
        return BoundedBytes(match.family)
    }

    /// The family owning the seized address `destination`, or empty.
    public func family(destination: IPAddress) -> BoundedBytes<32> {
        addresses[destination] ?? BoundedBytes()
    }

    /// The domain name in a Host value (RFC 9110 §7.2: `uri-host [":" port]`); nil for an IP
    /// literal, an empty host, or one that is not a valid name.
    static func name(fromHost host: BoundedBytes<255>, nameStorage: inout [UInt8]) -> DNSName? {
        host.withBytes { bytes -> DNSName? in
            guard let first = bytes.first, first != UInt8(ascii: "[") else { return nil }
            var end = bytes.count
            if let colon = bytes.lastIndex(of: UInt8(ascii: ":")) { end = colon }
            if end > 0 && bytes[end - 1] == UInt8(ascii: ".") { end -= 1 }
            // An IPv4 literal, not a name: no top-level domain is all digits (RFC 3696 §2).
            // Caught here, it costs no name and no hashing of every suffix.
            var lastLabel = end
            while lastLabel > 0 && bytes[lastLabel - 1] != UInt8(ascii: ".") { lastLabel -= 1 }
            if bytes[lastLabel..<end].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) { return nil }
            return DNSName(dotted: UnsafeRawBufferPointer(rebasing: bytes[0..<end]), reusing: &nameStorage)
        }
    }
}
