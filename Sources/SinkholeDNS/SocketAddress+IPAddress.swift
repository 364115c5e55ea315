import NIOCore
import SinkholeCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension SocketAddress {
    /// The address and port as the sinkhole records them, read from the `sockaddr_in` /
    /// `sockaddr_in6` fields directly rather than through text. Nil for a Unix domain socket.
    ///
    /// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2), which is what an
    /// IPv4 bot looks like on a dual-stack `[::]` socket, is returned as the IPv4 address: the
    /// feeds map IPv4 prefixes to ISPs, and the same bot must get the same source address
    /// whichever socket it reached.
    public var sinkholeEndpoint: (address: IPAddress, port: UInt16)? {
        switch self {
        case .v4(let v4):
            let sin = v4.address
            // sin_addr and sin_port are in network byte order.
            return (IPAddress(ipv4: UInt32(bigEndian: sin.sin_addr.s_addr)), UInt16(bigEndian: sin.sin_port))
        case .v6(let v6):
            let sin6 = v6.address
            var bytes = sin6.sin6_addr
            let address = withUnsafeBytes(of: &bytes) { raw in
                // 16 bytes: in6_addr is exactly the address in network order.
                IPAddress(bytes: raw) ?? .zero
            }
            return (address.unmappingIPv4, UInt16(bigEndian: sin6.sin6_port))
        case .unixDomainSocket:
            return nil
        }
    }
}

extension IPAddress {
    /// The IPv4 address inside an IPv4-mapped IPv6 address; any other address unchanged.
    public var unmappingIPv4: IPAddress {
        guard family == .v6, high == 0, low >> 32 == 0xFFFF else { return self }
        return IPAddress(ipv4: UInt32(truncatingIfNeeded: low))
    }
}
