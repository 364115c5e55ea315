import SinkholeCore

/// Everything wrong with an ISP directory, each problem located precisely enough to fix it.
///
/// Problems are `ConfigurationError`s, read as the configuration's do
/// (`file:line:column: key: message`), e.g.
/// `/etc/sinkhole/isps.yaml:7:17: [1].token_sha256: "9f86" is not 64 hex digits (a SHA-256)`.
public struct ISPDirectoryError: Error, CustomStringConvertible, Sendable, Equatable {
    /// `[index].key[item]` is the entry's position in the file's list; the file is empty for
    /// a directory built in memory (`ISPDirectory(isps:)`).
    public typealias Problem = ConfigurationError

    /// In document order: fixing a file one error per run is slow.
    public var problems: [Problem]

    public init(_ problems: [Problem]) {
        self.problems = problems
    }

    public var description: String {
        problems.map(\.description).joined(separator: "\n")
    }
}
