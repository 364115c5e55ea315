import CSinkholeSocket
import SinkholeCore

/// The C shim's listener calls (include/sinkhole_listen.h) with Swift errors: binding a TCP
/// listener, describing and adopting a socket systemd passed. Pointers stay in this file.
enum ListenSocketCalls {
    static func listenTCP(_ address: ListenAddress, backlog: Int32) throws(SocketCallError) -> Int32 {
        var endpoint = sinkhole_endpoint(address.address, port: address.port)
        var failedCall: UnsafePointer<CChar>? = nil
        let fd = sinkhole_tcp_listen(&endpoint, backlog, &failedCall)
        guard fd >= 0 else {
            throw SocketCallError(call: failedCall.map { String(cString: $0) } ?? "socket", errno: -fd)
        }
        return fd
    }

    /// What descriptor `fd` is, as a `PassedSocket` named `name`.
    static func describe(_ fd: Int32, name: String) throws(SocketActivationError) -> PassedSocket {
        var info = sinkhole_socket_info()
        let result = sinkhole_socket_describe(fd, &info)
        guard result == 0 else {
            throw SocketActivationError("descriptor \(fd) (\(name)): \(SocketCallError(call: "getsockopt", errno: -result))")
        }
        guard info.family != 0, let address = info.local.address else {
            throw SocketActivationError("descriptor \(fd) (\(name)) is not an IPv4 or IPv6 socket")
        }
        let transport: ListenerTransport
        switch info.transport {
        case 1: transport = .tcp
        case 2: transport = .udp
        default: throw SocketActivationError("descriptor \(fd) (\(name)) is neither a TCP nor a UDP socket")
        }
        return PassedSocket(descriptor: fd, name: name, transport: transport,
                            address: ListenAddress(address, port: info.local.port),
                            listening: info.listening != 0, ipv6Only: info.v6only != 0)
    }

    static func adoptTCP(_ fd: Int32) throws(SocketCallError) {
        let result = sinkhole_tcp_adopt(fd)
        guard result == 0 else { throw SocketCallError(call: "fcntl", errno: -result) }
    }

    static func adoptUDP(_ fd: Int32, family: IPAddress.Family, receiveBufferBytes: Int) throws(SocketCallError) {
        var failedCall: UnsafePointer<CChar>? = nil
        let result = sinkhole_udp_adopt(fd, Int32(family.rawValue), Int32(receiveBufferBytes), &failedCall)
        guard result == 0 else {
            throw SocketCallError(call: failedCall.map { String(cString: $0) } ?? "setsockopt", errno: -result)
        }
    }

    static func duplicate(_ fd: Int32) throws(SocketCallError) -> Int32 {
        let copy = sinkhole_duplicate(fd)
        guard copy >= 0 else { throw SocketCallError(call: "fcntl(F_DUPFD_CLOEXEC)", errno: -copy) }
        return copy
    }
}
