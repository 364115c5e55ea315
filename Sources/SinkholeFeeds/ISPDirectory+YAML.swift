import Foundation
import SinkholeCore
import Yams

extension ISPDirectory {
    /// Reads `feeds.isps`: a YAML list with one mapping per ISP (DESIGN.md, "Feeds for ISPs"):
    ///
    /// ```yaml
    /// - name: example-isp
    ///   asns: [64500, 64501]
    ///   cidrs: ["203.0.113.0/24", "2001:db8:100::/40"]
    ///   abuse: abuse@example-isp.test
    ///   token_sha256: "9f86d0…"     # 64 hex digits: SHA-256 of the ISP's API token
    ///   formats: [shadowserver, jsonl]   # optional, default both
    /// ```
    ///
    /// Throws every problem at once, each naming the file, line, column and key, as the main
    /// configuration does (nodes are walked by hand rather than decoded with Codable, which
    /// loses positions). An empty file is a directory with no ISPs yet.
    public static func load(path: String) throws(ISPDirectoryError) -> ISPDirectory {
        guard let data = FileManager.default.contents(atPath: path) else {
            var isDirectory: ObjCBool = false
            let reason = !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) ? "no such file"
                : isDirectory.boolValue ? "it is a directory" : "permission denied"
            throw ISPDirectoryError([.init(file: path, line: 0, column: 0, keyPath: "", message: "cannot read the ISP directory: \(reason)")])
        }
        guard let yaml = String(data: data, encoding: .utf8) else {
            throw ISPDirectoryError([.init(file: path, line: 0, column: 0, keyPath: "", message: "the ISP directory is not valid UTF-8")])
        }
        return try ISPDirectory(yaml: yaml, file: path)
    }

    /// Parses the YAML text of a directory; `file` names it in problems.
    public init(yaml: String, file: String) throws(ISPDirectoryError) {
        var reader = ISPDirectoryReader(file: file)
        let entries = reader.read(yaml)
        // Cross-entry checks only once every entry read cleanly: a half-read entry would
        // produce conflicts that are not real.
        if reader.problems.isEmpty {
            for conflict in Self.validate(entries.map(\.isp)) {
                let entry = entries[conflict.isp]
                let node: Node = switch conflict.field {
                case .entry: entry.node
                case .name: entry.nodes["name"] ?? entry.node
                case .abuse: entry.nodes["abuse"] ?? entry.node
                case .token: entry.nodes["token_sha256"] ?? entry.node
                case .formats: entry.nodes["formats"] ?? entry.node
                case .asn(let item): entry.asnNodes[item]
                case .cidr(let item): entry.cidrNodes[item]
                }
                // Every item of a checked entry parsed, so indices match the file's.
                reader.fail(node, conflict.field.keyPath(isp: conflict.isp), conflict.message)
            }
        }
        guard reader.problems.isEmpty else {
            throw ISPDirectoryError(reader.problems.enumerated().sorted {
                ($0.element.line, $0.element.column, $0.offset) < ($1.element.line, $1.element.column, $1.offset)
            }.map(\.element))
        }
        self.init(checked: entries.map(\.isp))
    }
}

/// Walks the composed YAML of an ISP directory, keeping each value's node for problems found
/// later (a token hash shared by two ISPs is reported at the second one's line).
struct ISPDirectoryReader {
    let file: String
    private(set) var problems: [ISPDirectoryError.Problem] = []

    init(file: String) {
        self.file = file
    }

    struct Entry {
        var isp: ISP
        var node: Node
        var nodes: [String: Node]
        var asnNodes: [Node]
        var cidrNodes: [Node]
    }

    static let keys = ["name", "asns", "cidrs", "abuse", "token_sha256", "formats"]
    static let required = ["name", "abuse", "token_sha256"]

    mutating func fail(_ node: Node?, _ keyPath: String, _ message: String) {
        problems.append(.init(file: file, line: node?.mark?.line ?? 0, column: node?.mark?.column ?? 0,
                              keyPath: keyPath, message: message))
    }

    mutating func read(_ yaml: String) -> [Entry] {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            syntaxError(error)
            return []
        }
        guard let root, !Self.isNull(root) else { return [] }
        guard case .sequence(let sequence) = root else {
            fail(root, "", "expected a list of ISPs (\"- name: …\" entries), found \(Self.describe(root))")
            return []
        }
        return sequence.enumerated().compactMap { entry($1, "[\($0)]") }
    }

    private mutating func syntaxError(_ error: any Error) {
        switch error as? YamlError {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
             .composer(_, let problem, let mark, _):
            problems.append(.init(file: file, line: mark.line, column: mark.column, keyPath: "", message: "YAML syntax error: \(problem)"))
        // Yams gives the first occurrence's position only.
        case .duplicatedKeysInMapping(let duplicates, let context):
            problems.append(.init(file: file, line: context.mark.line, column: context.mark.column, keyPath: "",
                                  message: "duplicate key \"\(duplicates.first ?? "")\", first here and again below; each key may appear once per ISP"))
        default:
            problems.append(.init(file: file, line: 0, column: 0, keyPath: "", message: "YAML error: \(error)"))
        }
    }

    private mutating func entry(_ node: Node, _ path: String) -> Entry? {
        guard case .mapping(let mapping) = node else {
            fail(node, path, "expected a mapping with keys \(Self.keys.joined(separator: ", ")), found \(Self.describe(node))")
            return nil
        }
        let before = problems.count
        var nodes: [String: Node] = [:]
        var isp = ISP(name: "", asns: [], cidrs: [], abuse: "", tokenSHA256: [])
        var asnNodes: [Node] = []
        var cidrNodes: [Node] = []
        for (keyNode, value) in mapping {
            let key = keyNode.scalar?.string ?? ""
            let keyPath = "\(path).\(key)"
            guard Self.keys.contains(key) else {
                fail(keyNode, keyPath, "unknown key \"\(key)\" (expected one of: \(Self.keys.joined(separator: ", ")))")
                continue
            }
            nodes[key] = value
            switch key {
            case "name": if let v = string(value, keyPath, what: "a name") { isp.name = v }
            case "abuse": if let v = string(value, keyPath, what: "an abuse contact") { isp.abuse = v }
            case "token_sha256": if let v = digest(value, keyPath) { isp.tokenSHA256 = v }
            case "asns":
                for (item, itemPath) in items(value, keyPath, of: "AS numbers") {
                    if let asn = asn(item, itemPath) { isp.asns.append(asn); asnNodes.append(item) }
                }
            case "cidrs":
                for (item, itemPath) in items(value, keyPath, of: "CIDR prefixes") {
                    if let cidr = cidr(item, itemPath) { isp.cidrs.append(cidr); cidrNodes.append(item) }
                }
            default:
                isp.formats = []
                for (item, itemPath) in items(value, keyPath, of: "formats") {
                    guard let text = string(item, itemPath, what: "a format") else { continue }
                    guard let format = FeedFormat(rawValue: text) else {
                        fail(item, itemPath, "unknown format \"\(text)\" (expected one of: \(FeedFormat.allCases.map(\.rawValue).joined(separator: ", ")))")
                        continue
                    }
                    isp.formats.insert(format)
                }
            }
        }
        for key in Self.required where nodes[key] == nil {
            fail(node, "\(path).\(key)", "missing: every ISP needs name, abuse and token_sha256")
        }
        guard problems.count == before else { return nil }
        return Entry(isp: isp, node: node, nodes: nodes, asnNodes: asnNodes, cidrNodes: cidrNodes)
    }

    // MARK: - Values

    static func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): isNull(node) ? "null" : "\"\(scalar.string)\""
        case .sequence: "a list"
        case .mapping: "a mapping"
        case .alias: "an alias"
        }
    }

    private mutating func string(_ node: Node, _ path: String, what: String) -> String? {
        guard case .scalar(let scalar) = node, !Self.isNull(node) else {
            fail(node, path, "expected \(what), found \(Self.describe(node))")
            return nil
        }
        return scalar.string
    }

    private mutating func items(_ node: Node, _ path: String, of what: String) -> [(Node, String)] {
        guard case .sequence(let sequence) = node else {
            fail(node, path, "expected a list of \(what), found \(Self.describe(node))")
            return []
        }
        return sequence.enumerated().map { ($1, "\(path)[\($0)]") }
    }

    /// A plain decimal AS number: `AS64500` or a quoted number is refused rather than guessed at.
    private mutating func asn(_ node: Node, _ path: String) -> UInt32? {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any,
              !scalar.string.isEmpty, scalar.string.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let value = UInt32(scalar.string) else {
            fail(node, path, "expected an AS number (a whole number, 1 to 4294967294), found \(Self.describe(node))")
            return nil
        }
        return value
    }

    private mutating func cidr(_ node: Node, _ path: String) -> CIDR? {
        guard let text = string(node, path, what: "a CIDR prefix") else { return nil }
        guard let cidr = CIDR(text) else {
            fail(node, path, "\"\(text)\" is not a CIDR prefix (an IPv4 or IPv6 network address, /, a length; no host bits set below the length)")
            return nil
        }
        return cidr
    }

    /// Exactly 64 hex digits, either case.
    private mutating func digest(_ node: Node, _ path: String) -> [UInt8]? {
        guard let text = string(node, path, what: "64 hex digits (the SHA-256 of the ISP's API token)") else { return nil }
        let digits = Array(text.utf8)
        var bytes: [UInt8] = []
        if digits.count == 64 {
            for pair in stride(from: 0, to: 64, by: 2) {
                guard let high = Self.hex(digits[pair]), let low = Self.hex(digits[pair + 1]) else { break }
                bytes.append(high << 4 | low)
            }
        }
        guard bytes.count == 32 else {
            fail(node, path, "\"\(text.prefix(80))\" is not 64 hex digits (the SHA-256 of the ISP's API token, e.g. from `printf %s TOKEN | sha256sum`)")
            return nil
        }
        return bytes
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
