import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A blocking TCP client socket to 127.0.0.1, as a bot's stub resolver (or a stalled one)
/// would hold it: plain POSIX calls, a receive timeout so no test can hang on it.
final class TCPClient {
    let fd: Int32

    /// - Parameters:
    ///   - source: a loopback address to connect from (e.g. "127.0.0.8", so the test can find
    ///     its check-ins by source address), or nil for the kernel's choice.
    ///   - host: the IPv4 loopback address to connect to.
    init(port: UInt16, receiveTimeoutSeconds: Int = 10, from source: String? = nil, to host: String = "127.0.0.1") throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CancellationError() }
        var timeout = timeval(tv_sec: receiveTimeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                close(fd)
                Issue.record("cannot bind a TCP client to \(source): errno \(errno)")
                throw CancellationError()
            }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr(host)
        address.sin_port = port.bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            Issue.record("cannot connect to \(host):\(port) over TCP: errno \(errno)")
            throw CancellationError()
        }
    }

    deinit { close(fd) }

    /// Sends all of `bytes` (in one `send` where the kernel takes it, as a pipelining client does).
    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { throw CancellationError() }
            offset += sent
        }
    }

    /// Exactly `count` bytes, or nil at end of stream, on an error or on the receive timeout.
    func read(_ count: Int) -> [UInt8]? {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: max(count, 1))
        while result.count < count {
            let got = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, count - result.count, 0) }
            guard got > 0 else { return nil }
            result += chunk[..<got]
        }
        return result
    }

    /// One DNS message read off the stream by its two-byte length prefix (RFC 1035 §4.2.2).
    func readMessage() -> [UInt8]? {
        guard let prefix = read(2) else { return nil }
        return read(Int(prefix[0]) << 8 | Int(prefix[1]))
    }

    /// Ends the sending side (FIN), so the server reads end of stream; replies can still arrive.
    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// Whether the server closes the connection (end of stream or a reset) within the
    /// receive timeout, rather than the wait timing out.
    func closedByPeer() -> Bool {
        var byte: UInt8 = 0
        let got = recv(fd, &byte, 1, 0)
        return got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }
}

/// A one-question A query for `name` (RD set, no EDNS), framed for TCP.
func framedQuery(_ name: String, id: UInt16) -> [UInt8] {
    var message: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
    for label in name.split(separator: ".") { message += [UInt8(label.utf8.count)] + Array(label.utf8) }
    message += [0, 0, 1, 0, 1]
    return [UInt8(message.count >> 8), UInt8(message.count & 0xFF)] + message
}
