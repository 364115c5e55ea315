/// One thing wrong with a configuration file (the sinkhole's YAML, the feeds' ISP directory),
/// located precisely enough to fix it.
///
/// `description` follows the compiler convention (`file:line:column: …`) so editors and CI
/// logs make it clickable:
/// `/etc/sinkhole/sinkhole.yaml:12:5: families[1].addresses[0]: "198.51.100.300" is not an IPv4 or IPv6 address`.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The configuration file, as it was named to `load(path:)` or `init(yaml:file:)`; empty
    /// for a problem of values built in memory.
    public var file: String
    /// 1-based line and column; 0 when the error is about the file as a whole (unreadable).
    public var line: Int
    public var column: Int
    /// Where in the document: dotted keys with list indices (`families[1].addresses[0]`);
    /// empty for the document itself and for YAML syntax errors.
    public var keyPath: String
    /// What is wrong, and when it helps, what would be right.
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
        // A problem of something built in memory has no file to name.
        if !text.isEmpty { text += ": " }
        if !keyPath.isEmpty { text += keyPath + ": " }
        return text + message
    }
}

