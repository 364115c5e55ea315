import SinkholeCore
import Testing
@testable import SinkholeServer

/// How the sockets systemd passes are read from the environment and matched to the
/// configured listeners, without sockets (the binary tests pass real ones).
@Suite("socket activation: environment and matching")
struct SocketActivationTests {
    static let pid: Int32 = 4242

    @Test("no LISTEN_FDS means bind everything; LISTEN_PID of another process is ignored")
    func absentOrForAnother() throws {
        #expect(try SocketActivation.handover(environment: [:], pid: Self.pid) == .none)
        #expect(try SocketActivation.handover(environment: ["LISTEN_FDS": "2", "LISTEN_PID": "17"], pid: Self.pid)
            == .forAnotherProcess(listenPID: "17"))
    }

    @Test("descriptors from 3 on, named by LISTEN_FDNAMES or \"unknown\"")
    func descriptors() throws {
        let named = try SocketActivation.handover(
            environment: ["LISTEN_FDS": "3", "LISTEN_PID": "4242", "LISTEN_FDNAMES": "dns:dns:sinkhole.socket"], pid: Self.pid)
        #expect(named == .sockets([.init(descriptor: 3, name: "dns"), .init(descriptor: 4, name: "dns"),
                                   .init(descriptor: 5, name: "sinkhole.socket")]))
        let unnamed = try SocketActivation.handover(environment: ["LISTEN_FDS": "1", "LISTEN_PID": "4242"], pid: Self.pid)
        #expect(unnamed == .sockets([.init(descriptor: 3, name: "unknown")]))
    }

    @Test("a corrupt handover is an error naming the variable", arguments: [
        (["LISTEN_FDS": "2"], "without LISTEN_PID"),
        (["LISTEN_FDS": "zwei", "LISTEN_PID": "4242"], "LISTEN_FDS=zwei"),
        (["LISTEN_FDS": "0", "LISTEN_PID": "4242"], "LISTEN_FDS=0"),
        (["LISTEN_FDS": "99999", "LISTEN_PID": "4242"], "LISTEN_FDS=99999"),
        (["LISTEN_FDS": "2", "LISTEN_PID": "4242", "LISTEN_FDNAMES": "dns"], "names 1 sockets but LISTEN_FDS=2"),
    ])
    func corrupt(environment: [String: String], expected: String) {
        #expect {
            _ = try SocketActivation.handover(environment: environment, pid: Self.pid)
        } throws: { error in
            "\(error)".contains(expected) && "\(error)".hasPrefix("socket activation: ")
        }
    }

    static func address(_ text: String) -> ListenAddress { ListenAddress(text)! }

    static func endpoint(_ role: ListenerRole, _ transport: ListenerTransport, _ text: String) -> ListenerEndpoint {
        ListenerEndpoint(role: role, transport: transport, address: address(text))
    }

    static func passed(_ fd: Int32, _ name: String, _ transport: ListenerTransport, _ text: String,
                       listening: Bool = true, ipv6Only: Bool = true) -> PassedSocket {
        PassedSocket(descriptor: fd, name: name, transport: transport, address: address(text),
                     listening: transport == .tcp ? listening : false, ipv6Only: ipv6Only)
    }

    /// The default configuration's listeners: DNS on both wildcards, HTTP 80, TLS 443.
    static let configured = [
        endpoint(.dns, .tcp, "0.0.0.0:53"), endpoint(.dns, .tcp, "[::]:53"),
        endpoint(.dns, .udp, "0.0.0.0:53"), endpoint(.dns, .udp, "[::]:53"),
        endpoint(.http, .tcp, "0.0.0.0:80"), endpoint(.tls, .tcp, "0.0.0.0:443"),
        endpoint(.catchAll, .tcp, "0.0.0.0:9000"),
    ]
    static let services: Set<ListenerRole> = [.dns, .http, .tls, .catchAll]

    @Test("systemd/sinkhole.socket's six sockets take the default listeners by address; the rest are bound here")
    func byAddress() throws {
        let sockets = [
            Self.passed(3, "sinkhole", .udp, "0.0.0.0:53"), Self.passed(4, "sinkhole", .udp, "[::]:53"),
            Self.passed(5, "sinkhole", .tcp, "0.0.0.0:53"), Self.passed(6, "sinkhole", .tcp, "[::]:53"),
            Self.passed(7, "sinkhole", .tcp, "0.0.0.0:80"), Self.passed(8, "sinkhole", .tcp, "0.0.0.0:443"),
        ]
        let plan = try ListenerPlan(configured: Self.configured, passed: sockets, available: Self.services)
        #expect(plan.adopted.map(\.endpoint) == [
            Self.endpoint(.dns, .udp, "0.0.0.0:53"), Self.endpoint(.dns, .udp, "[::]:53"),
            Self.endpoint(.dns, .tcp, "0.0.0.0:53"), Self.endpoint(.dns, .tcp, "[::]:53"),
            Self.endpoint(.http, .tcp, "0.0.0.0:80"), Self.endpoint(.tls, .tcp, "0.0.0.0:443"),
        ])
        #expect(plan.adopted.map(\.socket.descriptor) == [3, 4, 5, 6, 7, 8])
        #expect(plan.toBind == [Self.endpoint(.catchAll, .tcp, "0.0.0.0:9000")])
    }

    @Test("a socket named after a service replaces that service's configured addresses of its transport")
    func byName() throws {
        let sockets = [Self.passed(3, "http", .tcp, "198.51.100.10:8080"), Self.passed(4, "dns", .udp, "198.51.100.10:53")]
        let plan = try ListenerPlan(configured: Self.configured, passed: sockets, available: Self.services)
        #expect(plan.adopted.map(\.endpoint) == [Self.endpoint(.http, .tcp, "198.51.100.10:8080"),
                                                 Self.endpoint(.dns, .udp, "198.51.100.10:53")])
        // DNS over TCP is still bound from the configuration; HTTP's 0.0.0.0:80 is not.
        #expect(plan.toBind == [
            Self.endpoint(.dns, .tcp, "0.0.0.0:53"), Self.endpoint(.dns, .tcp, "[::]:53"),
            Self.endpoint(.tls, .tcp, "0.0.0.0:443"), Self.endpoint(.catchAll, .tcp, "0.0.0.0:9000"),
        ])
        #expect(plan.adopted.map(\.socket.descriptor) == [3, 4])
    }

    @Test("the observability listener is adopted by its name like any other service")
    func metricsByName() throws {
        let configured = Self.configured + [Self.endpoint(.metrics, .tcp, "127.0.0.1:9798")]
        let plan = try ListenerPlan(configured: configured, passed: [Self.passed(3, "metrics", .tcp, "[::1]:9100")],
                                    available: Self.services.union([.metrics]))
        #expect(plan.adopted.map(\.endpoint) == [Self.endpoint(.metrics, .tcp, "[::1]:9100")])
        #expect(!plan.toBind.contains { $0.role == .metrics })
        // A second socket for it, named or matched by address, would be one nobody serves.
        #expect(throws: SocketActivationError.self) {
            try ListenerPlan(configured: configured,
                             passed: [Self.passed(3, "metrics", .tcp, "[::1]:9100"), Self.passed(4, "sinkhole", .tcp, "127.0.0.1:9798")],
                             available: Self.services.union([.metrics]))
        }
    }

    @Test("a socket for a listener nobody configured, or one nobody can use, is refused with what to change",
          arguments: [
              ([passed(3, "sinkhole", .tcp, "0.0.0.0:8081")], "descriptor 3 (sinkhole, tcp 0.0.0.0:8081) matches no configured listener"),
              ([passed(3, "sinkhole", .udp, "0.0.0.0:80")], "matches no configured listener (udp: dns.listen 0.0.0.0:53, dns.listen [::]:53)"),
              ([passed(3, "x", .tcp, "[::]:53", ipv6Only: false)], "set BindIPv6Only=ipv6-only"),
              ([passed(3, "x", .tcp, "0.0.0.0:80", listening: false)], "not listening"),
              ([passed(3, "http", .udp, "0.0.0.0:80")], "named http, which listens on TCP only"),
              ([passed(3, "feeds", .tcp, "127.0.0.1:8443")], "that service is off in the configuration (feeds.listen)"),
              ([passed(3, "metrics", .tcp, "127.0.0.1:9798")], "that service is off in the configuration (metrics.listen)"),
              ([passed(3, "x", .tcp, "0.0.0.0:80"), passed(4, "y", .tcp, "0.0.0.0:80")], "are both http tcp 0.0.0.0:80"),
          ])
    func refused(sockets: [PassedSocket], expected: String) {
        #expect {
            _ = try ListenerPlan(configured: Self.configured, passed: sockets, available: Self.services)
        } throws: { error in
            "\(error)".contains(expected)
        }
    }

    @Test("a dual-stack socket bound to one IPv6 address is fine: only the wildcard takes IPv4")
    func specificIPv6() throws {
        let configured = [Self.endpoint(.dns, .tcp, "[::1]:53")]
        let plan = try ListenerPlan(configured: configured, passed: [Self.passed(3, "x", .tcp, "[::1]:53", ipv6Only: false)],
                                    available: Self.services)
        #expect(plan.toBind.isEmpty && plan.adopted.count == 1)
    }

    @Test("the configuration's listeners in binding order: DNS TCP before DNS UDP; TLS and feeds only when on; metrics last unless off")
    func configuredOrder() {
        var configuration = SinkholeConfiguration()
        configuration.catchAll.udp = [Self.address("127.0.0.1:9000")]
        let all = configuration.configuredListeners(tlsOn: false, feedsOn: false)
        #expect(all.map(\.description) == ["dns tcp 0.0.0.0:53", "dns tcp [::]:53", "dns udp 0.0.0.0:53", "dns udp [::]:53",
                                          "http tcp 0.0.0.0:80", "catch-all udp 127.0.0.1:9000", "metrics tcp 127.0.0.1:9798"])
        #expect(configuration.configuredListeners(tlsOn: true, feedsOn: true).suffix(2).map(\.description)
                == ["feeds tcp 127.0.0.1:8443", "metrics tcp 127.0.0.1:9798"])
        configuration.metrics.listen = nil
        #expect(configuration.configuredListeners(tlsOn: false, feedsOn: false).last?.description == "catch-all udp 127.0.0.1:9000")
    }
}
