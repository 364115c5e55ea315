import NIOCore
import SinkholeCore

#if canImport(Glibc)
import Glibc
#endif

/// The destination a TCP connection had before an nftables `redirect` (NAT) brought it to a
/// catch-all listener: `getsockopt(SO_ORIGINAL_DST)` for IPv4, `IP6T_SO_ORIGINAL_DST` at level
/// `SOL_IPV6` for IPv6, both answered from the connection's conntrack entry.
///
/// The only place the sinkhole reads a socket option as a C struct, which NIO calls unsafe:
/// the type given must be the one the kernel writes, `sockaddr_in` or `sockaddr_in6`.
enum OriginalDestination {
    /// `SO_ORIGINAL_DST` (linux/netfilter_ipv4.h) and `IP6T_SO_ORIGINAL_DST`
    /// (linux/netfilter_ipv6/ip6_tables.h) are both 80; neither header imports into Swift.
    static let optionName = NIOBSDSocket.Option(rawValue: 80)

    /// Reads `channel`'s original destination, of the address family of its local address.
    /// Nil when the kernel has none to give: no conntrack (nothing is redirected on the host:
    /// ENOPROTOOPT), no entry for the connection (ENOENT), or a channel that is not a socket.
    /// Completes at once when called on the channel's event loop.
    static func read(_ channel: any Channel, family: IPAddress.Family) -> EventLoopFuture<(address: IPAddress, port: UInt16)?> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeSucceededFuture(nil)
        }
        switch family {
        case .v4:
            let future: EventLoopFuture<sockaddr_in> = provider.unsafeGetSocketOption(level: .ip, name: optionName)
            return future.map { sin -> (address: IPAddress, port: UInt16)? in
                // sin_addr and sin_port are in network byte order.
                guard sin.sin_family == sa_family_t(AF_INET) else { return nil }
                return (IPAddress(ipv4: UInt32(bigEndian: sin.sin_addr.s_addr)), UInt16(bigEndian: sin.sin_port))
            }.recover { _ in nil }
        case .v6:
            let future: EventLoopFuture<sockaddr_in6> = provider.unsafeGetSocketOption(level: .ipv6, name: optionName)
            return future.map { sin6 -> (address: IPAddress, port: UInt16)? in
                guard sin6.sin6_family == sa_family_t(AF_INET6) else { return nil }
                var bytes = sin6.sin6_addr
                let address = withUnsafeBytes(of: &bytes) { IPAddress(bytes: $0) }
                return address.map { ($0.unmappingIPv4, UInt16(bigEndian: sin6.sin6_port)) }
            }.recover { _ in nil }
        }
    }
}
