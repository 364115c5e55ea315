import Foundation
import PostgresNIO

/// Where a PostgreSQL store lives, parsed from `store.postgres`:
/// `postgres[ql]://user[:password]@host[:port]/database[?host=/socket/dir]`.
///
/// The password may come from the URL or from a file (`store.postgres_password_file`); it is
/// never part of `description`, so the location can go into logs and error messages as is.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    public var user: String
    public var password: String?
    /// A host name or address for TCP; nil when `socketDirectory` is set.
    public var host: String?
    public var port: Int
    /// The directory holding `.s.PGSQL.<port>` (libpq's `?host=/path` convention).
    public var socketDirectory: String?
    public var database: String

    public init(user: String, password: String? = nil, host: String? = nil, port: Int = 5432,
                socketDirectory: String? = nil, database: String) {
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.socketDirectory = socketDirectory
        self.database = database
    }

    /// Why a URL was refused; never contains the password.
    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Takes the password from `file` (`store.postgres_password_file`), as `psql` reads a
    /// password file: the whole file, less its final line ending. The error names the file.
    public mutating func readPassword(file: String) throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ParseError(description: "cannot read store.postgres_password_file \(file)")
        }
        var password = String(decoding: data, as: UTF8.self)
        while password.hasSuffix("\n") || password.hasSuffix("\r") { password.removeLast() }
        self.password = password
    }

    /// Parses a URL; `description` of the error names what is wrong without echoing a password.
    public init(url: String) throws {
        var rest: Substring
        if url.hasPrefix("postgresql://") {
            rest = url.dropFirst("postgresql://".count)
        } else if url.hasPrefix("postgres://") {
            rest = url.dropFirst("postgres://".count)
        } else {
            throw ParseError(description: "not a postgres:// or postgresql:// URL")
        }
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var hostPart = rest
        var user = ""
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            hostPart = rest[rest.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                user = Self.decode(userInfo[..<colon])
                password = Self.decode(userInfo[userInfo.index(after: colon)...])
            } else {
                user = Self.decode(userInfo)
            }
        }
        guard !user.isEmpty else { throw ParseError(description: "no user name (postgres://USER@host/database)") }
        var host: String? = nil
        var port = 5432
        if hostPart.hasPrefix("[") {
            // An IPv6 literal: [::1]:5432
            guard let close = hostPart.firstIndex(of: "]") else { throw ParseError(description: "unclosed [ in the host") }
            host = String(hostPart[hostPart.index(after: hostPart.startIndex)..<close])
            hostPart = hostPart[hostPart.index(after: close)...]
            if hostPart.hasPrefix(":") { hostPart = hostPart.dropFirst() } else { hostPart = "" }
            if !hostPart.isEmpty {
                guard let p = Int(hostPart), (1...65535).contains(p) else { throw ParseError(description: "bad port \(hostPart)") }
                port = p
            }
        } else {
            if let colon = hostPart.firstIndex(of: ":") {
                let portText = hostPart[hostPart.index(after: colon)...]
                guard let p = Int(portText), (1...65535).contains(p) else { throw ParseError(description: "bad port \(portText)") }
                port = p
                hostPart = hostPart[..<colon]
            }
            if !hostPart.isEmpty { host = Self.decode(hostPart) }
        }
        var socketDirectory: String?
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            let key = String(parts[0])
            let value = parts.count > 1 ? Self.decode(parts[1]) : ""
            switch key {
            case "host":
                if value.hasPrefix("/") { socketDirectory = value } else { host = value }
            case "port":
                guard let p = Int(value), (1...65535).contains(p) else { throw ParseError(description: "bad port \(value)") }
                port = p
            case "user": user = value
            case "sslmode" where value == "disable": break
            default: throw ParseError(description: "unsupported URL parameter \(key) (supported: host, port, user, sslmode=disable)")
            }
        }
        if socketDirectory != nil { host = nil }
        guard host != nil || socketDirectory != nil else {
            throw ParseError(description: "no host (postgres://user@HOST/database, or ?host=/socket/dir)")
        }
        let database = Self.decode(path)
        guard !database.isEmpty else { throw ParseError(description: "no database name (postgres://user@host/DATABASE)") }
        self.init(user: user, password: password, host: host, port: port, socketDirectory: socketDirectory, database: database)
    }

    /// `user@host:port/database` or `user@/socket/dir (port)/database`: what logs and errors show.
    public var description: String {
        if let socketDirectory {
            return "postgresql://\(user)@/\(database)?host=\(socketDirectory)&port=\(port)"
        }
        let shownHost = host.map { $0.contains(":") ? "[\($0)]" : $0 } ?? ""
        return "postgresql://\(user)@\(shownHost):\(port)/\(database)"
    }

    /// The socket file path for a unix-socket location.
    var socketPath: String? {
        socketDirectory.map { "\($0)/.s.PGSQL.\(port)" }
    }

    /// Percent-decoding (RFC 3986 §2.1); a malformed escape is kept as written.
    static func decode(_ text: Substring) -> String {
        var out: [UInt8] = []
        var bytes = Array(text.utf8)[...]
        while let byte = bytes.popFirst() {
            if byte == UInt8(ascii: "%"), bytes.count >= 2,
               let value = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) {
                out.append(value)
                bytes = bytes.dropFirst(2)
            } else {
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension PostgresLocation {
    /// How postgres-nio connects: the unix socket when one is named, else TCP without TLS
    /// (`sslmode=disable` is the only mode the URL accepts).
    var connectionConfiguration: PostgresConnection.Configuration {
        if let socket = socketPath {
            return .init(unixSocketPath: socket, username: user, password: password, database: database)
        }
        return .init(host: host ?? "localhost", port: port, username: user, password: password, database: database, tls: .disable)
    }
}
