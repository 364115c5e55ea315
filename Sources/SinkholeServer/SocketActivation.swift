import SinkholeCore

/// Sockets handed over by systemd (sd_listen_fds(3)): `LISTEN_PID` names the process they are
/// for, `LISTEN_FDS` how many there are from descriptor 3 on, `LISTEN_FDNAMES` their
/// `FileDescriptorName=`s, colon-separated.
enum SocketActivation {
    /// The first descriptor systemd passes (SD_LISTEN_FDS_START).
    static let firstDescriptor: Int32 = 3
    /// More than any socket unit for this service would pass: a larger count is a corrupt
    /// environment, not sockets.
    static let maximumDescriptors = 1024
    static let variables = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"]

    /// A descriptor systemd passed, with its name ("unknown" when the unit gave none).
    struct Descriptor: Equatable, Sendable {
        var descriptor: Int32
        var name: String
    }

    /// What the environment says.
    enum Handover: Equatable, Sendable {
        /// No LISTEN_FDS: bind every configured listener.
        case none
        /// LISTEN_FDS for another process (a parent's leftover): ignored, as sd_listen_fds does.
        case forAnotherProcess(listenPID: String)
        case sockets([Descriptor])
    }

    /// Reads the variables of `environment` for process `pid`.
    static func handover(environment: [String: String], pid: Int32) throws(SocketActivationError) -> Handover {
        guard let count = environment["LISTEN_FDS"] else { return .none }
        guard let listenPID = environment["LISTEN_PID"] else {
            throw SocketActivationError("LISTEN_FDS=\(count) is set without LISTEN_PID")
        }
        guard Int32(listenPID) == pid else { return .forAnotherProcess(listenPID: listenPID) }
        guard let number = Int(count), number > 0, number <= maximumDescriptors else {
            throw SocketActivationError("LISTEN_FDS=\(count) is not a number of sockets from 1 to \(maximumDescriptors)")
        }
        var names = Array(repeating: "unknown", count: number)
        if let list = environment["LISTEN_FDNAMES"] {
            let given = list.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard given.count == number else {
                throw SocketActivationError("LISTEN_FDNAMES names \(given.count) sockets but LISTEN_FDS=\(number)")
            }
            names = given
        }
        return .sockets(names.enumerated().map { Descriptor(descriptor: firstDescriptor + Int32($0.offset), name: $0.element) })
    }
}

/// A socket handover the sinkhole cannot use, worded for the operator (names the descriptor,
/// its name and address, and what to change in the socket unit or the configuration).
public struct SocketActivationError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String

    init(_ description: String) {
        self.description = "socket activation: \(description)"
    }
}

/// A passed descriptor as the kernel describes it.
struct PassedSocket: Equatable, Sendable, CustomStringConvertible {
    var descriptor: Int32
    var name: String
    var transport: ListenerTransport
    var address: ListenAddress
    /// A TCP socket in the listening state (systemd listens on every ListenStream= socket).
    var listening: Bool
    /// False for an IPv6 socket that also takes IPv4 (BindIPv6Only=both).
    var ipv6Only: Bool

    var description: String { "descriptor \(descriptor) (\(name), \(transport) \(address))" }
}

/// Which configured listeners the passed sockets stand in for, and which the sinkhole still
/// binds itself.
///
/// A socket named after a service (`dns`, `http`, `tls`, `catch-all`, `feeds`) belongs to that
/// service and replaces all its configured addresses of the socket's transport. Any other name
/// (systemd's default is the socket unit's name) is matched to the configured listener with
/// the same transport, address and port; one that matches none is an error, as is a
/// configured listener that two sockets claim, because a socket nobody serves would take
/// bots' traffic and record nothing.
struct ListenerPlan: Sendable {
    /// Passed sockets with the listener they serve (the socket's own address).
    var adopted: [(endpoint: ListenerEndpoint, socket: PassedSocket)]
    /// Configured listeners no passed socket stands in for, in configuration order.
    var toBind: [ListenerEndpoint]

    /// Binds everything: no socket activation.
    init(binding configured: [ListenerEndpoint]) {
        adopted = []
        toBind = configured
    }

    /// Matches `passed` to `configured`; `available` are the services that run (TLS needs its
    /// certificates, the feed API a feeds section). Every problem is reported, not the first.
    init(configured: [ListenerEndpoint], passed: [PassedSocket], available: Set<ListenerRole>) throws(SocketActivationError) {
        var problems: [String] = []
        var adopted: [(endpoint: ListenerEndpoint, socket: PassedSocket)] = []
        var replaced = Set<String>()      // "role/transport" wholly served by named sockets
        var claimed: [ListenerEndpoint: PassedSocket] = [:]
        for socket in passed {
            if socket.transport == .tcp && !socket.listening {
                problems.append("\(socket) is a TCP socket that is not listening (use ListenStream=, not Accept=yes)")
                continue
            }
            // Only the wildcard takes IPv4 too: a socket bound to one IPv6 address never sees IPv4.
            if socket.address.address == .v6Any && !socket.ipv6Only {
                problems.append("\(socket) also takes IPv4, which would record IPv4 bots as ::ffff: addresses; set BindIPv6Only=ipv6-only in the socket unit and list 0.0.0.0 separately")
                continue
            }
            if let role = ListenerRole(rawValue: socket.name) {
                guard role.transports.contains(socket.transport) else {
                    problems.append("\(socket) is named \(role), which listens on TCP only")
                    continue
                }
                guard available.contains(role) else {
                    problems.append("\(socket) is named \(role), but that service is off in the configuration (\(role.configurationKey(socket.transport)))")
                    continue
                }
                let endpoint = ListenerEndpoint(role: role, transport: socket.transport, address: socket.address)
                if let other = claimed[endpoint] {
                    problems.append("\(socket) and \(other) are both \(endpoint)")
                    continue
                }
                claimed[endpoint] = socket
                replaced.insert("\(role)/\(socket.transport)")
                adopted.append((endpoint, socket))
                continue
            }
            let matches = configured.filter { $0.transport == socket.transport && $0.address == socket.address }
            guard let endpoint = matches.first else {
                let sameTransport = configured.filter { $0.transport == socket.transport }
                    .map { "\($0.role.configurationKey($0.transport)) \($0.address)" }
                problems.append("\(socket) matches no configured listener (\(socket.transport): \(sameTransport.isEmpty ? "none" : sameTransport.joined(separator: ", "))); add its address to the configuration or name it \(ListenerRole.allCases.map(\.rawValue).joined(separator: ", ")) in FileDescriptorName=")
                continue
            }
            if let other = claimed[endpoint] {
                problems.append("\(socket) and \(other) are both \(endpoint)")
                continue
            }
            claimed[endpoint] = socket
            adopted.append((endpoint, socket))
        }
        let toBind = configured.filter { claimed[$0] == nil && !replaced.contains("\($0.role)/\($0.transport)") }
        // The feed API and the observability listener serve one socket each: a second would
        // accept connections nobody answers.
        for role in ListenerRole.allCases where role.servesOneSocket {
            let sockets = adopted.filter { $0.endpoint.role == role }
            if sockets.count + toBind.filter({ $0.role == role }).count > 1 {
                problems.append("\(sockets.map(\.socket.description).joined(separator: " and ")) would be a second \(role) listener, which serves one socket (\(role.configurationKey(.tcp)))")
            }
        }
        guard problems.isEmpty else { throw SocketActivationError(problems.joined(separator: "; ")) }
        self.adopted = adopted
        self.toBind = toBind
    }

}
