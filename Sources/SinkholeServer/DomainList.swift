import Foundation
import SinkholeCore
import SinkholeDNS

/// Reads a family's seized-name lists: one name a line, `#` starts a comment, blank lines are
/// skipped. A path with `%Y`, `%m`, `%d` is a per-day list (DGA families publish a new list
/// every day): yesterday's, today's and tomorrow's are loaded, by UTC date, so bots with a
/// skewed clock are still answered.
public enum DomainList {
    /// A problem in a list file, named by file and line.
    public struct LoadError: Error, CustomStringConvertible, Sendable {
        public let file: String
        public let line: Int?
        public let message: String

        public var description: String {
            if let line { return "\(file):\(line): \(message)" }
            return "\(file): \(message)"
        }
    }

    /// The files a family's `domains` entry stands for on `day` (one path, or three per-day paths).
    public static func paths(for pattern: String, on day: UTCTime) -> [String] {
        guard pattern.contains("%") else { return [pattern] }
        return [-86_400, 0, 86_400].map { offset in
            expand(pattern, UTCTime(seconds: day.seconds + Int64(offset)))
        }
    }

    /// Loads every name from a family's list patterns. A missing fixed list is an error; a
    /// missing per-day list is skipped (tomorrow's is often not published yet) and reported in
    /// `missing` so the caller can log it, but if none of the three exists that is an error.
    public static func load(patterns: [String], on day: UTCTime) throws(LoadError) -> (names: [String], missing: [String]) {
        var names: [String] = []
        var missing: [String] = []
        for pattern in patterns {
            let files = paths(for: pattern, on: day)
            var found = 0
            for file in files {
                guard FileManager.default.fileExists(atPath: file) else {
                    if files.count == 1 { throw LoadError(file: file, line: nil, message: "domain list not found") }
                    missing.append(file)
                    continue
                }
                found += 1
                names += try parse(file: file)
            }
            if found == 0 {
                throw LoadError(file: pattern, line: nil,
                                message: "no per-day domain list for yesterday, today or tomorrow (\(files.joined(separator: ", ")))")
            }
        }
        return (names, missing)
    }

    /// Parses one list file; a name that is not a valid DNS name is an error naming its line.
    public static func parse(file: String) throws(LoadError) -> [String] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw LoadError(file: file, line: nil, message: "cannot read domain list: \(error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw LoadError(file: file, line: nil, message: "domain list is not UTF-8 text")
        }
        var names: [String] = []
        var lineNumber = 0
        // Split on Character.isNewline: in Swift "\r\n" is one Character, so splitting on "\n"
        // would leave a list written on Windows as one long line.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            lineNumber += 1
            var line = rawLine
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let name = line.trimmingCharacters(in: .whitespaces)
            if name.isEmpty { continue }
            if let problem = SeizedZones.problem(with: name) {
                throw LoadError(file: file, line: lineNumber, message: "\"\(name)\" \(problem.explanation)")
            }
            names.append(name)
        }
        return names
    }

    static func expand(_ pattern: String, _ day: UTCTime) -> String {
        let date = day.dayString  // YYYY-MM-DD
        let parts = date.split(separator: "-").map(String.init)
        var out = ""
        var iterator = pattern.makeIterator()
        while let c = iterator.next() {
            guard c == "%" else { out.append(c); continue }
            switch iterator.next() {
            case "Y": out += parts[0]
            case "m": out += parts[1]
            case "d": out += parts[2]
            case "%": out += "%"
            case let other?: out += "%" + String(other)
            case nil: out += "%"
            }
        }
        return out
    }
}
