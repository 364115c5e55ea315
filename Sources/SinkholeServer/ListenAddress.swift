import NIOCore
import NIOPosix
import SinkholeCore

/// An address and port to listen on: `127.0.0.1:5353`, `[::1]:5353`, `0.0.0.0:53`.
///
/// IPv6 addresses must be bracketed (RFC 3986 §3.2.2), since `::1:53` would otherwise be
/// ambiguous. Port 0 is allowed and means "let the kernel pick a free port" (what the tests
/// use). `description` gives back the same text form, so `ListenAddress(x.description) == x`.
public struct ListenAddress: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(_ address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// Parses `a.b.c.d:port` or `[ipv6]:port`; nil for anything else.
    public init?(_ text: some StringProtocol) {
        guard case .success(let parsed) = Self.parse(String(text)) else { return nil }
        self = parsed
    }

    public var description: String {
        switch address.family {
        case .v4: "\(address):\(port)"
        case .v6: "[\(address)]:\(port)"
        }
    }

    /// Why a listen address did not parse, worded for a configuration error.
    struct ParseError: Error {
        var reason: String
    }

    /// Parses like `init?(_:)`, saying what was wrong on failure.
    static func parse(_ text: String) -> Result<ListenAddress, ParseError> {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                return .failure(ParseError(reason: "has \"[\" without a closing \"]\""))
            }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else {
                return .failure(ParseError(reason: "has no port (write \"[\(host)]:PORT\")"))
            }
            portText = rest.dropFirst()
            guard let parsed = IPAddress(host), parsed.family == .v6 else {
                return .failure(ParseError(reason: "has \"\(host)\" in brackets, which is not an IPv6 address"))
            }
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                return .failure(ParseError(reason: "has no port (write \"ADDRESS:PORT\")"))
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if IPAddress(host)?.family == .v6 || IPAddress(text)?.family == .v6 {
                return .failure(ParseError(reason: "needs brackets around an IPv6 address (write \"[::1]:PORT\")"))
            }
            guard IPAddress(host)?.family == .v4 else {
                return .failure(ParseError(reason: "has \"\(host)\", which is not an IPv4 address (names are not resolved)"))
            }
        }
        // Digits only: `Int("+53")` would accept a sign, and leading spaces are typos.
        guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
              let port = Int(portText), port <= Int(UInt16.max) else {
            return .failure(ParseError(reason: "has port \"\(portText)\"; a port is a number from 0 to 65535"))
        }
        // The checks above already parsed `host`; parsing again avoids a force-unwrap.
        guard let address = IPAddress(host) else {
            return .failure(ParseError(reason: "has no valid address"))
        }
        return .success(ListenAddress(address, port: UInt16(port)))
    }
}
