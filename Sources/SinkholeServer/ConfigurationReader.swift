import SinkholeCore
import Yams

/// Walks a composed YAML tree, reading typed values and collecting every error with the
/// line, column and key path of the node at fault.
///
/// Codable would be shorter but loses node positions, and an operator fixing a config at
/// 3 a.m. needs "line 12, `families[1].addresses[0]`", not "data corrupted". Readers return
/// nil after recording an error, so one bad value never hides the next.
struct ConfigurationReader {
    let file: String
    /// The directory relative paths in the file are resolved against.
    let baseDirectory: String
    private(set) var errors: [ConfigurationError] = []

    init(file: String, baseDirectory: String) {
        self.file = file
        self.baseDirectory = baseDirectory
    }

    /// Keys renamed to this prefix stand in for the first of two duplicate keys (see
    /// `compose(_:)`); they are reported there and skipped here.
    static let duplicateProbePrefix = "__sinkhole_duplicate_key_"

    mutating func fail(_ mark: Mark?, _ keyPath: String, _ message: String) {
        errors.append(ConfigurationError(file: file, line: mark?.line ?? 0, column: mark?.column ?? 0,
                                         keyPath: keyPath, message: message))
    }

    mutating func fail(_ node: Node, _ keyPath: String, _ message: String) {
        fail(node.mark, keyPath, message)
    }

    // MARK: - Shapes

    /// A plain `null`, `~` or empty value.
    static func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    /// How a node reads in an error message: `"text"`, `null`, `a list`, `a mapping`.
    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): isNull(node) ? "null" : "\"\(scalar.string)\""
        case .sequence: "a list"
        case .mapping: "a mapping"
        case .alias: "an alias"
        }
    }

    /// The entries of a mapping in document order, each with its key path. Unknown keys are
    /// reported (with a suggestion when one is close). A null value counts as an empty
    /// mapping, so a section whose keys are all commented out means "all defaults".
    mutating func fields(_ node: Node, _ path: String, allowed: [String]) -> [(key: String, value: Node, path: String)] {
        if Self.isNull(node) { return [] }
        guard case .mapping(let mapping) = node else {
            fail(node, path, "expected a mapping with keys \(allowed.joined(separator: ", ")), found \(Self.describe(node))")
            return []
        }
        var result: [(key: String, value: Node, path: String)] = []
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                fail(keyNode, path, "keys must be plain names, found \(Self.describe(keyNode))")
                continue
            }
            let key = scalar.string
            if key.hasPrefix(Self.duplicateProbePrefix) { continue }
            let keyPath = Self.child(path, key)
            guard allowed.contains(key) else {
                var message = "unknown key \"\(key)\""
                if let close = allowed.min(by: { Self.distance($0, key) < Self.distance($1, key) }),
                   Self.distance(close, key) <= 2 {
                    message += "; did you mean \"\(close)\"?"
                } else {
                    message += " (expected one of: \(allowed.joined(separator: ", ")))"
                }
                fail(keyNode, keyPath, message)
                continue
            }
            result.append((key, value, keyPath))
        }
        return result
    }

    /// The items of a list, each with its key path (`path[i]`).
    mutating func items(_ node: Node, _ path: String, of what: String) -> [(value: Node, path: String)]? {
        guard case .sequence(let sequence) = node else {
            var message = "expected a list of \(what), found \(Self.describe(node))"
            if case .scalar = node, !Self.isNull(node) { message += " (write [\(Self.describe(node))] for a list of one)" }
            fail(node, path, message)
            return nil
        }
        return sequence.enumerated().map { ($1, "\(path)[\($0)]") }
    }

    // MARK: - Scalars

    /// Any non-null scalar, as written: `node: 2024` is the string "2024".
    mutating func string(_ node: Node, _ path: String, what: String = "a string") -> String? {
        guard case .scalar(let scalar) = node, !Self.isNull(node) else {
            fail(node, path, "expected \(what), found \(Self.describe(node))")
            return nil
        }
        return scalar.string
    }

    /// A plain decimal integer within `range`. Quoted numbers are strings, and YAML 1.1's
    /// octal, hex and sexagesimal (`1:30` = 90) forms are refused: they surprise people.
    mutating func int(_ node: Node, _ path: String, _ range: ClosedRange<Int>) -> Int? {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any,
              !Self.isNull(node),
              scalar.string.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-") }),
              let value = Int(scalar.string) else {
            fail(node, path, "expected a whole number, found \(Self.describe(node))")
            return nil
        }
        guard range.contains(value) else {
            let bound = range.upperBound == Int.max ? "at least \(range.lowerBound)"
                : "from \(range.lowerBound) to \(range.upperBound)"
            fail(node, path, "\(value) is out of range: must be \(bound)")
            return nil
        }
        return value
    }

    mutating func address(_ node: Node, _ path: String) -> IPAddress? {
        guard let text = string(node, path, what: "an IP address") else { return nil }
        guard let address = IPAddress(text) else {
            fail(node, path, "\"\(text)\" is not an IPv4 or IPv6 address")
            return nil
        }
        return address
    }

    mutating func addresses(_ node: Node, _ path: String) -> [IPAddress]? {
        guard let items = items(node, path, of: "IP addresses") else { return nil }
        return items.compactMap { address($0.value, $0.path) }
    }

    mutating func listen(_ node: Node, _ path: String) -> ListenAddress? {
        guard let text = string(node, path, what: "a listen address like \"127.0.0.1:53\"") else { return nil }
        switch ListenAddress.parse(text) {
        case .success(let listen): return listen
        case .failure(let error):
            fail(node, path, "listen address \"\(text)\" \(error.reason)")
            return nil
        }
    }

    /// A list of listen addresses; the same address twice (port 0 aside, which picks a free
    /// port each time) would fail at bind time with a less helpful "address in use".
    mutating func listens(_ node: Node, _ path: String) -> [ListenAddress]? {
        guard let items = items(node, path, of: "listen addresses") else { return nil }
        var seen: Set<ListenAddress> = []
        var out: [ListenAddress] = []
        for (value, itemPath) in items {
            guard let address = listen(value, itemPath) else { continue }
            if address.port != 0 && !seen.insert(address).inserted {
                fail(value, itemPath, "\(address) is listed twice")
                continue
            }
            out.append(address)
        }
        return out
    }

    mutating func cidr(_ node: Node, _ path: String) -> CIDR? {
        guard let text = string(node, path, what: "a CIDR prefix") else { return nil }
        if let cidr = CIDR(text) { return cidr }
        // Say which part is wrong: host bits set below the length is the usual typo.
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let maxLength = IPAddress(parts[0])?.family == .v6 ? 128 : 32
        if IPAddress(parts[0]) == nil {
            fail(node, path, "\"\(text)\" is not a CIDR prefix: \"\(parts[0])\" is not an IPv4 or IPv6 address")
        } else if parts.count == 2, let length = Int(parts[1]), (0...maxLength).contains(length) {
            fail(node, path, "\"\(text)\" has host bits set below /\(length); did you mean the network address?")
        } else {
            fail(node, path, "\"\(text)\" is not a CIDR prefix: the length must be 0 to \(maxLength)")
        }
        return nil
    }

    /// A file path, resolved against `baseDirectory` when relative.
    mutating func path(_ node: Node, _ path: String) -> String? {
        guard let text = string(node, path, what: "a file path") else { return nil }
        guard !text.isEmpty else {
            fail(node, path, "a file path cannot be empty")
            return nil
        }
        return SinkholeConfiguration.resolve(text, against: baseDirectory)
    }

    // MARK: - Helpers

    static func child(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : path + "." + key
    }

    /// Levenshtein distance, for "did you mean" on short key names.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        var previous = Array(0...b.count)
        for i in stride(from: 1, through: a.count, by: 1) {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in stride(from: 1, through: b.count, by: 1) {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            }
            previous = current
        }
        return previous[b.count]
    }
}
