import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// An unconnected UDP socket on a loopback address, as a bot's stub resolver holds one: it
/// sends to any loopback address (IPv4 or IPv6) and says where each reply came from, so a test
/// can check that a reply leaves from the address its query was sent to. Every read waits at
/// most a given number of milliseconds (poll), so no test can hang on it.
final class LoopbackPeer {
    let fd: Int32
    let isIPv6: Bool
    /// The address and port the peer sends from.
    let host: String
    let port: UInt16

    /// - Parameter host: a loopback address to send from: "127.0.0.1", "127.0.0.9", "::1".
    init(_ host: String = "127.0.0.1") throws {
        let isIPv6 = host.contains(":")
        let descriptor = socket(isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard descriptor >= 0 else { throw CancellationError() }
        var storage = sockaddr_storage()
        guard let length = Self.fill(&storage, host: host, port: 0),
              withUnsafePointer(to: &storage, {
                  $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
              }) == 0 else {
            close(descriptor)
            Issue.record("cannot bind a UDP peer to \(host): errno \(errno)")
            throw CancellationError()
        }
        var bound = sockaddr_storage()
        var boundLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &boundLength) }
        }
        fd = descriptor
        self.isIPv6 = isIPv6
        self.host = host
        port = Self.read(bound)?.port ?? 0
    }

    deinit { close(fd) }

    /// Sends one datagram of exactly `bytes` to `host`:`port`.
    func send(_ bytes: [UInt8], to host: String, port: UInt16) {
        var storage = sockaddr_storage()
        guard let length = Self.fill(&storage, host: host, port: port) else {
            Issue.record("not an address: \(host)")
            return
        }
        let sent = withUnsafePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, address, length) }
            }
        }
        #expect(sent == bytes.count, "sendto \(host):\(port): errno \(errno)")
    }

    /// The next datagram and who sent it, or nil when none arrives within `timeoutMilliseconds`.
    func receive(timeoutMilliseconds: Int32 = 5000) -> (bytes: [UInt8], host: String, port: UInt16)? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, timeoutMilliseconds) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var from = sockaddr_storage()
        var fromLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let got = buffer.withUnsafeMutableBytes { bytes in
            withUnsafeMutablePointer(to: &from) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    recvfrom(fd, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT), $0, &fromLength)
                }
            }
        }
        guard got >= 0, let sender = Self.read(from) else { return nil }
        return (Array(buffer[..<got]), sender.host, sender.port)
    }

    /// Every datagram that arrives until none has for `quietMilliseconds`, at most `limit`.
    func receiveAll(quietMilliseconds: Int32 = 300, limit: Int = 10_000) -> [(bytes: [UInt8], host: String, port: UInt16)] {
        var all: [(bytes: [UInt8], host: String, port: UInt16)] = []
        while all.count < limit, let next = receive(timeoutMilliseconds: quietMilliseconds) { all.append(next) }
        return all
    }

    private static func fill(_ storage: inout sockaddr_storage, host: String, port: UInt16) -> socklen_t? {
        withUnsafeMutablePointer(to: &storage) { pointer -> socklen_t? in
            if host.contains(":") {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { six -> socklen_t? in
                    six.pointee.sin6_family = sa_family_t(AF_INET6)
                    six.pointee.sin6_port = port.bigEndian
                    guard inet_pton(AF_INET6, host, &six.pointee.sin6_addr) == 1 else { return nil }
                    return socklen_t(MemoryLayout<sockaddr_in6>.size)
                }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { four -> socklen_t? in
                four.pointee.sin_family = sa_family_t(AF_INET)
                four.pointee.sin_port = port.bigEndian
                guard inet_pton(AF_INET, host, &four.pointee.sin_addr) == 1 else { return nil }
                return socklen_t(MemoryLayout<sockaddr_in>.size)
            }
        }
    }

    private static func read(_ storage: sockaddr_storage) -> (host: String, port: UInt16)? {
        var storage = storage
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        return withUnsafePointer(to: &storage) { pointer -> (host: String, port: UInt16)? in
            switch Int32(pointer.pointee.ss_family) {
            case AF_INET:
                return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { four in
                    var address = four.pointee.sin_addr
                    guard inet_ntop(AF_INET, &address, &text, socklen_t(text.count)) != nil else { return nil }
                    return (Self.string(text), UInt16(bigEndian: four.pointee.sin_port))
                }
            case AF_INET6:
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { six in
                    var address = six.pointee.sin6_addr
                    guard inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)) != nil else { return nil }
                    return (Self.string(text), UInt16(bigEndian: six.pointee.sin6_port))
                }
            default:
                return nil
            }
        }
    }

    /// A NUL-terminated C string as text.
    private static func string(_ characters: [CChar]) -> String {
        String(decoding: characters.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
