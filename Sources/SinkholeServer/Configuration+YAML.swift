import Foundation
import SinkholeCore
import Yams

extension SinkholeConfiguration {
    /// Reads and validates the configuration file at `path`.
    ///
    /// Throws every problem found (syntax, unknown keys, wrong types, bad addresses, values out
    /// of range), each naming the file, line, column and key path; an unreadable file is one
    /// error naming the file.
    public static func load(path: String) throws(ConfigurationErrors) -> SinkholeConfiguration {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            var isDirectory: ObjCBool = false
            let reason: String
            if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
                reason = "no such file"
            } else if isDirectory.boolValue {
                reason = "it is a directory"
            } else if !FileManager.default.isReadableFile(atPath: path) {
                reason = "permission denied"
            } else {
                reason = error.localizedDescription
            }
            throw ConfigurationErrors([ConfigurationError(
                file: path, line: 0, column: 0, keyPath: "", message: "cannot read the configuration file: \(reason)")])
        }
        guard let yaml = String(data: data, encoding: .utf8) else {
            throw ConfigurationErrors([ConfigurationError(
                file: path, line: 0, column: 0, keyPath: "", message: "the configuration file is not valid UTF-8")])
        }
        return try SinkholeConfiguration(yaml: yaml, file: path)
    }

    /// Parses and validates `yaml`; `file` names it in errors and anchors relative paths.
    ///
    /// Relative paths in the file (domain lists, `body_file`, the SQLite database, the feed
    /// files and directory) are resolved against the directory of `file`, not the working
    /// directory: `sinkhole run --config deploy/sinkhole.yaml` then finds `rustock.txt` next
    /// to the config wherever it is started from, as systemd (cwd `/`) and the tests do.
    /// A relative `file` is first made absolute against the current directory.
    public init(yaml: String, file: String) throws(ConfigurationErrors) {
        var reader = ConfigurationReader(file: file, baseDirectory: Self.directory(of: file))
        let root = reader.compose(yaml)
        let configuration = root.map { reader.configuration($0) } ?? SinkholeConfiguration()
        guard reader.errors.isEmpty else {
            // Document order, whichever pass found them; stable for errors on the same node.
            let sorted = reader.errors.enumerated().sorted {
                ($0.element.line, $0.element.column, $0.offset) < ($1.element.line, $1.element.column, $1.offset)
            }
            throw ConfigurationErrors(sorted.map(\.element))
        }
        self = configuration
    }

    /// The absolute directory holding `file`.
    static func directory(of file: String) -> String {
        let absolute = resolve(file, against: FileManager.default.currentDirectoryPath)
        guard let slash = absolute.lastIndex(of: "/") else { return "/" }
        return slash == absolute.startIndex ? "/" : String(absolute[..<slash])
    }

    /// `path` if absolute, else `directory/path`, with `.` and `..` folded lexically (symlinks
    /// are left alone: the file system resolves them when the file is opened).
    static func resolve(_ path: String, against directory: String) -> String {
        // SQLite's in-memory database is a name, not a file.
        if path.hasPrefix("/") || path == ":memory:" { return path }
        var parts: [Substring] = []
        for part in (directory + "/" + path).split(separator: "/") {
            switch part {
            case ".": continue
            case "..": _ = parts.popLast()
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }
}

extension ConfigurationReader {
    /// Composes the YAML into nodes, turning syntax errors into `ConfigurationError`s.
    ///
    /// Yams refuses duplicate keys but only reports the first occurrence's position, with no
    /// key path. To name both, the first occurrence is renamed to a probe key in the text and
    /// the document composed again; the probe's position in the tree gives the key path and
    /// its surviving sibling the duplicate's line. The later value wins, and the probe keys are
    /// skipped by `fields`, so the rest of the file is still validated.
    mutating func compose(_ yaml: String) -> Node? {
        var text = yaml
        var probes: [(probe: String, key: String, first: Mark)] = []
        for round in 0..<100 {
            do {
                let root = try Yams.compose(yaml: text)
                if let root { for probe in probes { reportDuplicate(probe, in: root) } }
                return root
            } catch YamlError.duplicatedKeysInMapping(let duplicates, let context) {
                let key = duplicates.first ?? ""
                let probe = Self.duplicateProbePrefix + String(round)
                guard let patched = Self.renameKey(key, at: context.mark, to: probe, in: text) else {
                    fail(context.mark, "", "duplicate key \"\(key)\"")
                    return nil
                }
                text = patched
                probes.append((probe, key, context.mark))
            } catch {
                syntaxError(error)
                return nil
            }
        }
        fail(nil, "", "too many duplicate keys")
        return nil
    }

    private mutating func syntaxError(_ error: any Error) {
        switch error as? YamlError {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let detail = context.map { " (\($0.text) at line \($0.mark.line), column \($0.mark.column))" } ?? ""
            fail(mark, "", "YAML syntax error: \(problem)\(detail)")
        case .reader(let problem, _, _, _):
            fail(nil, "", "YAML cannot be read: \(problem)")
        default:
            fail(nil, "", "YAML error: \(error)")
        }
    }

    private mutating func reportDuplicate(_ probe: (probe: String, key: String, first: Mark), in root: Node) {
        guard let (path, mapping) = Self.mapping(containing: probe.probe, in: root, path: "") else { return }
        let keyPath = Self.child(path, probe.key)
        let later = mapping.first { $0.key.scalar?.string == probe.key }?.key
        fail(later?.mark ?? probe.first, keyPath,
             "duplicate key \"\(probe.key)\" (first at line \(probe.first.line)); each key may appear once")
    }

    /// The mapping (and its key path) that has `key` among its keys.
    private static func mapping(containing key: String, in node: Node, path: String) -> (String, Node.Mapping)? {
        switch node {
        case .mapping(let mapping):
            if mapping.contains(where: { $0.key.scalar?.string == key }) { return (path, mapping) }
            for (keyNode, value) in mapping {
                let childPath = child(path, keyNode.scalar?.string ?? "?")
                if let found = Self.mapping(containing: key, in: value, path: childPath) { return found }
            }
        case .sequence(let sequence):
            for (index, item) in sequence.enumerated() {
                if let found = Self.mapping(containing: key, in: item, path: "\(path)[\(index)]") { return found }
            }
        default:
            break
        }
        return nil
    }

    /// `text` with the key token at `mark` (plain or quoted) replaced by `replacement`; nil
    /// when the token there is not `key` as written (an escaped or multi-line key).
    private static func renameKey(_ key: String, at mark: Mark, to replacement: String, in text: String) -> String? {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard mark.line >= 1, mark.line <= lines.count else { return nil }
        let scalars = Array(lines[mark.line - 1].unicodeScalars)
        guard mark.column >= 1, mark.column <= scalars.count else { return nil }
        let head = String(String.UnicodeScalarView(scalars[..<(mark.column - 1)]))
        let rest = String(String.UnicodeScalarView(scalars[(mark.column - 1)...]))
        for token in [key, "\"\(key)\"", "'\(key)'"] where rest.hasPrefix(token) {
            lines[mark.line - 1] = head + replacement + rest.dropFirst(token.count)
            return lines.joined(separator: "\n")
        }
        return nil
    }
}
