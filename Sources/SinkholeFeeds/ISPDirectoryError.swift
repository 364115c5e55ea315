/// Everything wrong with an ISP directory, each problem located precisely enough to fix it.
///
/// Problems read as the configuration's do (`file:line:column: key: message`, see
/// `ConfigurationError` in SinkholeServer), e.g.
/// `/etc/sinkhole/isps.yaml:7:17: [1].token_sha256: "9f86" is not 64 hex digits (a SHA-256)`.
public struct ISPDirectoryError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        /// The directory file; empty for a directory built in memory (`ISPDirectory(isps:)`).
        public var file: String
        /// 1-based line and column; 0 when not from a file or about the file as a whole.
        public var line: Int
        public var column: Int
        /// `[index].key[item]`, the entry's position in the file's list; empty for the file.
        public var keyPath: String
        public var message: String

        public init(file: String, line: Int, column: Int, keyPath: String, message: String) {
            self.file = file
            self.line = line
            self.column = column
            self.keyPath = keyPath
            self.message = message
        }

        public var description: String {
            var text = file
            if line > 0 { text += ":\(line):\(column)" }
            if !text.isEmpty { text += ": " }
            if !keyPath.isEmpty { text += keyPath + ": " }
            return text + message
        }
    }

    /// In document order: fixing a file one error per run is slow.
    public var problems: [Problem]

    public init(_ problems: [Problem]) {
        self.problems = problems
    }

    public var description: String {
        problems.map(\.description).joined(separator: "\n")
    }
}
