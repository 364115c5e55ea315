import CPcap
import SinkholeCore

#if canImport(Glibc)
import Glibc
#endif

/// A libpcap failure, naming the call that failed and libpcap's message:
/// `pcap_open_offline: truncated dump file; tried to read 24 file header bytes, only got 7`.
public struct PcapError: Error, Sendable, Equatable, CustomStringConvertible {
    public let call: String
    public let message: String

    public init(call: String, message: String) {
        self.call = call
        self.message = message
    }

    public var description: String { "\(call): \(message)" }
}

/// libpcap's kernel counters for a live handle (`pcap_stats`), cumulative since it opened.
public struct PcapStatistics: Sendable, Equatable {
    /// Packets the filter accepted.
    public var received: UInt64
    /// Dropped by the kernel because the capture buffer was full: the capture fell behind.
    public var droppedByKernel: UInt64
    /// Dropped by the interface or its driver before the kernel saw them.
    public var droppedByInterface: UInt64
}

/// One libpcap handle, a file or an interface: the only code that touches libpcap's pointers.
///
/// Used by one thread at a time (libpcap handles are not thread-safe): the capture thread, or
/// the replay reading a file. Every failure becomes a `PcapError` naming the call.
public final class PcapHandle {
    private let handle: OpaquePointer

    private init(_ handle: OpaquePointer) {
        self.handle = handle
    }

    /// The link type (`pcap_datalink`; a live handle has one once activated).
    public var linkType: Int32 { pcap_datalink(handle) }

    /// libpcap's name for the link type (`EN10MB`, `LINUX_SLL2`), or its number.
    public var linkTypeName: String {
        guard let name = pcap_datalink_val_to_name(linkType) else { return "\(linkType)" }
        return String(cString: name)
    }

    deinit { pcap_close(handle) }

    /// Opens a pcap or pcapng file. Timestamps come in microseconds whatever the file holds.
    public static func openOffline(path: String) throws(PcapError) -> PcapHandle {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let handle = pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_MICRO), &errorBuffer) else {
            throw PcapError(call: "pcap_open_offline", message: Self.string(errorBuffer))
        }
        return PcapHandle(handle)
    }

    /// Opens `interface` for live capture: immediate mode (each packet delivered as it
    /// arrives, not when a buffer block fills), the kernel buffer and snaplen given, and
    /// non-blocking reads: the capture thread waits in `waitReadable` with a timeout of its own,
    /// because a blocking read on an idle interface never returns (libpcap on Linux does not
    /// honour the timeout in immediate mode), and the thread must see a stop request.
    public static func openLive(interface: String, snaplen: Int, bufferBytes: Int,
                                timeoutMilliseconds: Int) throws(PcapError) -> PcapHandle {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let raw = pcap_create(interface, &errorBuffer) else {
            throw PcapError(call: "pcap_create", message: Self.string(errorBuffer))
        }
        let handle = PcapHandle(raw)
        try handle.check(pcap_set_snaplen(raw, Int32(clamping: snaplen)), "pcap_set_snaplen")
        try handle.check(pcap_set_promisc(raw, 0), "pcap_set_promisc")
        try handle.check(pcap_set_immediate_mode(raw, 1), "pcap_set_immediate_mode")
        try handle.check(pcap_set_buffer_size(raw, Int32(clamping: bufferBytes)), "pcap_set_buffer_size")
        try handle.check(pcap_set_timeout(raw, Int32(clamping: timeoutMilliseconds)), "pcap_set_timeout")
        // Warnings (positive) still activate; errors (negative) say why in pcap_geterr, or,
        // for the common ones (no such device, no permission), in the status text.
        let status = pcap_activate(raw)
        if status < 0 {
            let detail = handle.lastError
            let text = String(cString: pcap_statustostr(status))
            let extra = detail.isEmpty || detail == text ? "" : " (\(detail))"
            throw PcapError(call: "pcap_activate", message: "\(interface): \(text)\(extra)")
        }
        if pcap_setnonblock(raw, 1, &errorBuffer) != 0 {
            throw PcapError(call: "pcap_setnonblock", message: Self.string(errorBuffer))
        }
        return handle
    }

    private func check(_ status: Int32, _ call: String) throws(PcapError) {
        if status != 0 { throw PcapError(call: call, message: lastError.isEmpty ? String(cString: pcap_statustostr(status)) : lastError) }
    }

    private var lastError: String { String(cString: pcap_geterr(handle)) }

    private static func string(_ buffer: [CChar]) -> String {
        // PCAP_ERRBUF_SIZE bytes, so baseAddress is never nil; NUL-filled, so always terminated.
        buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// Compiles and installs a BPF filter (tcpdump's syntax).
    public func setFilter(_ expression: String) throws(PcapError) {
        try setFilterProgram(expression, install: true)
    }

    private func setFilterProgram(_ expression: String, install: Bool) throws(PcapError) {
        var program = bpf_program()
        if pcap_compile(handle, &program, expression, 1, PCAP_NETMASK_UNKNOWN) != 0 {
            throw PcapError(call: "pcap_compile", message: "\(lastError) (filter: \(expression))")
        }
        defer { pcap_freecode(&program) }
        if install && pcap_setfilter(handle, &program) != 0 {
            throw PcapError(call: "pcap_setfilter", message: lastError)
        }
    }

    /// Compiles `expression` for link type `dlt` without opening anything, so a filter typo
    /// is a configuration error at start (`check-config`), not a capture that never starts.
    public static func checkFilter(_ expression: String, dlt: Int32 = 1) throws(PcapError) {
        guard let dead = pcap_open_dead(dlt, 65535) else {
            throw PcapError(call: "pcap_open_dead", message: "cannot create a handle for link type \(dlt)")
        }
        try PcapHandle(dead).setFilterProgram(expression, install: false)
    }

    /// What `next` read.
    public enum Next: Equatable {
        /// A packet was passed to the body.
        case packet
        /// A live read timed out with nothing to deliver.
        case timeout
        /// The file ended cleanly.
        case end
        /// The read failed: for a file, a truncated or damaged record ended it.
        case failed(PcapError)
    }

    /// Reads one packet and calls `body` with its capture time, the captured bytes (valid only
    /// during the call) and the length it had on the wire.
    public func next(_ body: (UTCTime, PacketBytes, Int) -> Void) -> Next {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        switch pcap_next_ex(handle, &header, &data) {
        case 1:
            guard let header, let data else { return .timeout }
            let h = header.pointee
            let time = UTCTime(microseconds: Int64(h.ts.tv_sec) * 1_000_000 + Int64(h.ts.tv_usec))
            body(time, PacketBytes(UnsafeRawBufferPointer(start: data, count: Int(h.caplen))), Int(h.len))
            return .packet
        case 0: return .timeout
        case PCAP_ERROR_BREAK: return .end
        default: return .failed(PcapError(call: "pcap_next_ex", message: lastError))
        }
    }

    /// Waits up to `timeoutMilliseconds` for a live handle to have packets to read (poll on
    /// its selectable descriptor). Returns false on timeout.
    public func waitReadable(timeoutMilliseconds: Int32) -> Bool {
        let fd = pcap_get_selectable_fd(handle)
        guard fd >= 0 else { return true }
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, timeoutMilliseconds) > 0
    }

    /// The kernel counters of a live handle.
    public func statistics() throws(PcapError) -> PcapStatistics {
        var stats = pcap_stat()
        if pcap_stats(handle, &stats) != 0 { throw PcapError(call: "pcap_stats", message: lastError) }
        return PcapStatistics(received: UInt64(stats.ps_recv), droppedByKernel: UInt64(stats.ps_drop),
                              droppedByInterface: UInt64(stats.ps_ifdrop))
    }

    /// How far into its file an offline handle has read, in bytes; nil for a live handle.
    public var filePosition: Int? {
        guard let file = pcap_file(handle) else { return nil }
        let position = ftell(file)
        return position >= 0 ? position : nil
    }
}
