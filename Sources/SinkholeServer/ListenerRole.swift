import SinkholeCore

/// The services that listen, by the names socket activation uses for them (a socket unit's
/// `FileDescriptorName=`) and the configuration keys that list their addresses.
public enum ListenerRole: String, CaseIterable, Sendable, CustomStringConvertible {
    case dns
    case http
    case tls
    case catchAll = "catch-all"
    case feeds
    case metrics

    public var description: String { rawValue }

    /// Where the configuration lists this service's addresses for `transport`.
    func configurationKey(_ transport: ListenerTransport) -> String {
        switch self {
        case .dns: "dns.listen"
        case .http: "http.listen"
        case .tls: "http.tls_listen"
        case .catchAll: transport == .tcp ? "catch_all.tcp" : "catch_all.udp"
        case .feeds: "feeds.listen"
        case .metrics: "metrics.listen"
        }
    }

    /// The transports the service listens on.
    var transports: [ListenerTransport] {
        switch self {
        case .dns, .catchAll: [.tcp, .udp]
        case .http, .tls, .feeds, .metrics: [.tcp]
        }
    }

    /// The service takes one listener (its configuration key is one address, not a list).
    var servesOneSocket: Bool { self == .feeds || self == .metrics }

    /// The accept queue asked of the kernel for a TCP listener the sinkhole binds itself.
    var backlog: Int32 {
        switch self {
        // A burst of bots retrying over TCP after truncated answers arrives all at once.
        case .dns: 256
        // Bots reconnect in bursts; a scan of every port arrives all at once.
        case .http, .tls, .catchAll: 1024
        case .feeds: 128
        // A scraper or two and an operator's browser.
        case .metrics: 64
        }
    }
}

public enum ListenerTransport: String, Sendable, CustomStringConvertible {
    case tcp
    case udp

    public var description: String { rawValue }
}

/// One listening socket the run needs: a service, a transport and an address.
struct ListenerEndpoint: Hashable, Sendable, CustomStringConvertible {
    var role: ListenerRole
    var transport: ListenerTransport
    var address: ListenAddress

    var description: String { "\(role) \(transport) \(address)" }
}

extension SinkholeConfiguration {
    /// Every listener the configuration asks for, DNS first (its TCP before its UDP, so a
    /// configured port 0 gives UDP the port TCP got). TLS only with `tlsOn` (certificates made),
    /// the feed API only with `feedsOn`; the observability listener last, when `metrics.listen` is set.
    func configuredListeners(tlsOn: Bool, feedsOn: Bool) -> [ListenerEndpoint] {
        var endpoints = dns.listen.map { ListenerEndpoint(role: .dns, transport: .tcp, address: $0) }
        endpoints += dns.listen.map { ListenerEndpoint(role: .dns, transport: .udp, address: $0) }
        endpoints += http.listen.map { ListenerEndpoint(role: .http, transport: .tcp, address: $0) }
        if tlsOn { endpoints += http.tlsListen.map { ListenerEndpoint(role: .tls, transport: .tcp, address: $0) } }
        endpoints += catchAll.tcp.map { ListenerEndpoint(role: .catchAll, transport: .tcp, address: $0) }
        endpoints += catchAll.udp.map { ListenerEndpoint(role: .catchAll, transport: .udp, address: $0) }
        if feedsOn { endpoints.append(ListenerEndpoint(role: .feeds, transport: .tcp, address: feeds.listen)) }
        if let listen = metrics.listen { endpoints.append(ListenerEndpoint(role: .metrics, transport: .tcp, address: listen)) }
        return endpoints
    }
}
