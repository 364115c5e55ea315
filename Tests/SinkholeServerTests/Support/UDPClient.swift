import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A blocking UDP client socket on loopback, connected to 127.0.0.1:`port`, as a bot's stub
/// resolver holds one: plain POSIX calls and a receive timeout so no test can hang on it.
///
/// It can be bound to another loopback source (any of 127.0.0.0/8 reaches the sinkhole on
/// Linux), so a test can tell its own check-ins apart in `dns_queries`, which aggregates by
/// source address; truncated queries all have the empty qname.
final class UDPClient {
    let fd: Int32

    /// - Parameter source: the loopback address to send from, e.g. "127.0.0.7".
    init(port: UInt16, from source: String = "127.0.0.1", receiveTimeoutSeconds: Int = 5) throws {
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw CancellationError() }
        var timeout = timeval(tv_sec: receiveTimeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_addr.s_addr = inet_addr("127.0.0.1")
        remote.sin_port = port.bigEndian
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        let connected = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
        }
        guard bound == 0, connected == 0 else {
            close(fd)
            Issue.record("cannot set up UDP from \(source) to 127.0.0.1:\(port): errno \(errno)")
            throw CancellationError()
        }
    }

    deinit { close(fd) }

    /// Sends one datagram of exactly `bytes` (an empty one included).
    func send(_ bytes: [UInt8]) {
        let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
        #expect(sent == bytes.count, "send: errno \(errno)")
    }

    /// The next datagram, or nil on the receive timeout or an error.
    func receive() -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return got >= 0 ? Array(buffer[..<got]) : nil
    }

    /// Reads replies until the one with `id` (bounded by the receive timeout); returns it and
    /// every reply read before it.
    func receive(untilID id: UInt16, atMost: Int = 10_000) -> (reply: [UInt8]?, before: [[UInt8]]) {
        var before: [[UInt8]] = []
        while before.count < atMost, let reply = receive() {
            if reply.count >= 2 && dnsID(reply) == id { return (reply, before) }
            before.append(reply)
        }
        return (nil, before)
    }
}

/// A one-question query (RD set), with an OPT record advertising `ednsPayload` when given.
func dnsQuery(_ name: String, id: UInt16, type: UInt16 = 1, ednsPayload: UInt16? = nil) -> [UInt8] {
    let additional: UInt8 = ednsPayload == nil ? 0 : 1
    var message: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, additional]
    for label in name.split(separator: ".") { message += [UInt8(label.utf8.count)] + Array(label.utf8) }
    message += [0, UInt8(type >> 8), UInt8(type & 0xFF), 0, 1]
    if let payload = ednsPayload {
        // Root owner, TYPE OPT (41), CLASS = payload size, TTL 0 (version 0, no DO), no RDATA.
        message += [0, 0, 41, UInt8(payload >> 8), UInt8(payload & 0xFF), 0, 0, 0, 0, 0, 0]
    }
    return message
}

/// `message` with its two-byte TCP length prefix (RFC 1035 §4.2.2).
func framed(_ message: [UInt8]) -> [UInt8] {
    [UInt8(message.count >> 8), UInt8(message.count & 0xFF)] + message
}

func dnsID(_ message: [UInt8]) -> UInt16 { UInt16(message[0]) << 8 | UInt16(message[1]) }
/// The header's 4-bit RCODE (a reply has at least its 12-byte header).
func dnsRcode(_ message: [UInt8]) -> UInt8 { message[3] & 0x0F }
