import CSinkholeSocket
import NIOCore
import SinkholeCore

#if canImport(Glibc)
import Glibc
#endif

/// The safe face of the C batch (`CSinkholeSocket`): recvmmsg/sendmmsg over buffers allocated
/// once, so the UDP fast path reads, answers and sends a burst of datagrams in two system
/// calls without allocating.
///
/// The only file in Swift that handles the batch's pointers. Callers see indices and copies:
/// a datagram is copied into a `ByteBuffer` the caller reuses, a reply is copied out of one.
/// Owned by one worker thread; not thread-safe.
final class DatagramBatch {
    /// The largest datagram kept whole. A DNS query is a few dozen bytes; anything longer is
    /// read up to this size and answered or refused from what was read.
    static let datagramSize = 4096

    let capacity: Int
    private let handle: OpaquePointer

    /// Nil when the memory cannot be allocated.
    init?(capacity: Int, replySize: Int) {
        guard let handle = sinkhole_batch_create(Int32(capacity), Int32(Self.datagramSize), Int32(replySize)) else {
            return nil
        }
        self.handle = handle
        self.capacity = capacity
    }

    deinit { sinkhole_batch_destroy(handle) }

    /// Reads the datagrams waiting on `socket` (none when it would block); replies queued before
    /// are forgotten. Returns how many were read, or the errno of a failed read.
    func receive(from socket: Int32) -> Result<Int, SocketCallError> {
        let n = sinkhole_batch_receive(handle, socket)
        return n >= 0 ? .success(Int(n)) : .failure(SocketCallError(call: "recvmmsg", errno: -n))
    }

    /// Replaces `buffer`'s contents with datagram `index`; true when the datagram was longer than
    /// `datagramSize` and only its start was kept. `buffer` keeps its storage, so a buffer
    /// reused for every datagram costs no allocation.
    func copyDatagram(_ index: Int, into buffer: inout ByteBuffer) -> Bool {
        buffer.clear(minimumCapacity: Self.datagramSize)
        var truncated: Int32 = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.datagramSize) { bytes in
            Int(sinkhole_batch_datagram(handle, Int32(index), bytes.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                        bytes.count, &truncated))
        }
        return truncated != 0
    }

    /// Who sent datagram `index`.
    func source(_ index: Int) -> (address: IPAddress, port: UInt16) {
        var endpoint = sinkhole_endpoint()
        sinkhole_batch_source(handle, Int32(index), &endpoint)
        return (endpoint.address ?? .zero, endpoint.port)
    }

    /// The address datagram `index` was sent to, when the kernel said (packet info).
    func destination(_ index: Int) -> IPAddress? {
        var endpoint = sinkhole_endpoint()
        sinkhole_batch_destination(handle, Int32(index), &endpoint)
        return endpoint.address
    }

    /// Where datagram `index` was sent before nftables tproxy delivered it to this socket
    /// (IP_ORIGDSTADDR), when the socket asked (`UDPSocket.recoverOriginalDestination`).
    func originalDestination(_ index: Int) -> (address: IPAddress, port: UInt16)? {
        var endpoint = sinkhole_endpoint()
        sinkhole_batch_original_destination(handle, Int32(index), &endpoint)
        return endpoint.address.map { ($0, endpoint.port) }
    }

    /// When the kernel received datagram `index` (SO_TIMESTAMP), if it said.
    func arrival(_ index: Int) -> UTCTime? {
        let microseconds = sinkhole_batch_arrival_us(handle, Int32(index))
        return microseconds < 0 ? nil : UTCTime(microseconds: microseconds)
    }

    /// Queues `reply`'s readable bytes as the answer to datagram `index`; false when it does
    /// not fit a reply slot (the responder bounds UDP replies, so this means a bug, not load).
    func queueReply(to index: Int, _ reply: ByteBuffer) -> Bool {
        reply.withUnsafeReadableBytes { bytes in
            sinkhole_batch_queue_reply(handle, Int32(index), bytes.bindMemory(to: UInt8.self).baseAddress,
                                       bytes.count) == 0
        }
    }

    /// Sends the queued replies without blocking. `unsent` counts those the socket would not
    /// take (a full send buffer under a flood, or an error about one destination).
    func send(on socket: Int32) -> (sent: Int, unsent: Int, errno: Int32) {
        var unsent: Int32 = 0
        var error: Int32 = 0
        let sent = sinkhole_batch_send(handle, socket, &unsent, &error)
        return (Int(sent), Int(unsent), error)
    }
}

/// A socket call that failed, with the call's name and the system's reason.
struct SocketCallError: Error, CustomStringConvertible {
    let call: String
    let errno: Int32

    var description: String { "\(call): \(String(cString: strerror(errno)))" }
}

/// UDP sockets for the fast path, opened through the C shim so every option is set before bind.
enum UDPSocket {
    /// Opens a non-blocking socket bound to `address`, with packet info and receive timestamps.
    /// `reusePort` lets one socket per worker thread share the address (SO_REUSEPORT), the kernel
    /// spreading datagrams over them by a hash of the sender.
    static func open(_ address: ListenAddress, reusePort: Bool, receiveBufferBytes: Int) throws(SocketCallError) -> Int32 {
        var endpoint = sinkhole_endpoint(address.address, port: address.port)
        var failedCall: UnsafePointer<CChar>? = nil
        let fd = sinkhole_udp_open(&endpoint, reusePort ? 1 : 0, Int32(receiveBufferBytes), &failedCall)
        guard fd >= 0 else {
            throw SocketCallError(call: failedCall.map { String(cString: $0) } ?? "socket", errno: -fd)
        }
        return fd
    }

    /// Asks the kernel for every datagram's original destination and makes `socket`
    /// transparent, so nftables `tproxy` can deliver datagrams addressed to other ports to it.
    /// Returns the errno that refused transparency (EPERM without CAP_NET_RAW), nil when
    /// granted; the socket then still takes what is sent to its own address and port.
    static func recoverOriginalDestination(_ socket: Int32, family: IPAddress.Family) throws(SocketCallError) -> Int32? {
        var transparentError: Int32 = 0
        let result = sinkhole_udp_recover_original_destination(socket, Int32(family.rawValue), &transparentError)
        guard result == 0 else {
            throw SocketCallError(call: "setsockopt(IP_RECVORIGDSTADDR)", errno: -result)
        }
        return transparentError == 0 ? nil : transparentError
    }

    /// The port `socket` is bound to.
    static func boundPort(_ socket: Int32) -> UInt16 {
        UInt16(truncatingIfNeeded: max(sinkhole_udp_bound_port(socket), 0))
    }

    /// The receive buffer the kernel granted (Linux reports double the usable size).
    static func receiveBufferBytes(_ socket: Int32) -> Int {
        Int(max(sinkhole_udp_receive_buffer(socket), 0))
    }

    /// Waits up to `timeoutMilliseconds` for any of `sockets` to be readable; `readable[i]` says
    /// which. At most 64 sockets.
    static func waitReadable(_ sockets: [Int32], timeoutMilliseconds: Int32, readable: inout [UInt8]) {
        precondition(sockets.count <= 64 && readable.count >= sockets.count)
        _ = sockets.withUnsafeBufferPointer { fds in
            readable.withUnsafeMutableBufferPointer { out in
                sinkhole_wait_readable(fds.baseAddress, Int32(fds.count), timeoutMilliseconds, out.baseAddress)
            }
        }
    }
}

extension sinkhole_endpoint {
    init(_ address: IPAddress, port: UInt16) {
        self.init()
        family = address.family.rawValue
        self.port = port
        withUnsafeMutableBytes(of: &bytes) { raw in
            switch address.family {
            case .v4:
                let v = UInt32(truncatingIfNeeded: address.low).bigEndian
                withUnsafeBytes(of: v) { raw.copyMemory(from: $0) }
            case .v6:
                withUnsafeBytes(of: address.high.bigEndian) { raw.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: 8) }
                withUnsafeBytes(of: address.low.bigEndian) { (raw.baseAddress! + 8).copyMemory(from: $0.baseAddress!, byteCount: 8) }
            }
        }
    }

    /// The address, or nil when the family is unknown (no packet info).
    var address: IPAddress? {
        var copy = bytes
        return withUnsafeBytes(of: &copy) { raw in
            switch family {
            case 4: return IPAddress(ipv4: UInt32(bigEndian: raw.loadUnaligned(as: UInt32.self)))
            case 6: return IPAddress(ipv6High: UInt64(bigEndian: raw.loadUnaligned(as: UInt64.self)),
                                     low: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            default: return nil
            }
        }
    }
}
