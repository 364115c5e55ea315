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

    /// What a family's lists gave: the names, per-day files not found, and lines skipped.
    public struct Loaded: Sendable {
        public var names: [String] = []
        /// Per-day files that do not exist (tomorrow's is often not published yet).
        public var missing: [String] = []
        /// Lines that are not usable names, each with its file and line.
        public var skipped: [LoadError] = []
    }

    /// Loads every name from a family's list patterns. A missing fixed list is an error; a
    /// missing per-day list is skipped and reported in `missing` so the caller can log it, but
    /// if none of the three exists that is an error. A bad line is skipped and reported in
    /// `skipped`: one typo in a list of fifty thousand DGA names must not keep the other
    /// 49,999 from being answered.
    public static func load(patterns: [String], on day: UTCTime) throws(LoadError) -> Loaded {
        var loaded = Loaded()
        for pattern in patterns {
            let files = paths(for: pattern, on: day)
            var found = 0
            for file in files {
                guard FileManager.default.fileExists(atPath: file) else {
                    if files.count == 1 { throw LoadError(file: file, line: nil, message: "domain list not found") }
                    loaded.missing.append(file)
                    continue
                }
                found += 1
                let parsed = try parse(file: file)
                loaded.names += parsed.names
                loaded.skipped += parsed.skipped
            }
            if found == 0 {
                throw LoadError(file: pattern, line: nil,
                                message: "no per-day domain list for yesterday, today or tomorrow (\(files.joined(separator: ", ")))")
            }
        }
        return loaded
    }

    /// Parses one list file. Names written in Unicode become their A-label (`xn--…`) form,
    /// since that is what bots query; a line that is still not a valid DNS name is skipped and
    /// returned with its line number. Only an unreadable file is an error.
    ///
    /// Works on the file's bytes, not on `String` lines: DGA lists run to a million names, and
    /// Foundation's trimming and grapheme-aware splitting took seconds for that (measured).
    public static func parse(file: String) throws(LoadError) -> (names: [String], skipped: [LoadError]) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw LoadError(file: file, line: nil, message: "cannot read domain list: \(error.localizedDescription)")
        }
        var names: [String] = []
        var skipped: [LoadError] = []
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            var lineNumber = 0
            var lineStart = 0
            while lineStart < bytes.count {
                lineNumber += 1
                var lineEnd = lineStart
                while lineEnd < bytes.count && bytes[lineEnd] != 0x0A { lineEnd += 1 }
                defer { lineStart = lineEnd + 1 }
                // The name: up to a '#', without surrounding spaces, tabs or a CR (CRLF lists).
                var end = lineStart
                while end < lineEnd && bytes[end] != UInt8(ascii: "#") { end += 1 }
                var start = lineStart
                while start < end && isBlank(bytes[start]) { start += 1 }
                while end > start && isBlank(bytes[end - 1]) { end -= 1 }
                guard start < end else { continue }
                let line = UnsafeBufferPointer(rebasing: bytes[start..<end])
                guard let text = String(validating: line, as: UTF8.self) else {
                    skipped.append(LoadError(file: file, line: lineNumber, message: "is not UTF-8 text"))
                    continue
                }
                guard let ascii = Punycode.asciiName(text) else {
                    skipped.append(LoadError(file: file, line: lineNumber, message: "\"\(text)\" cannot be written as an A-label"))
                    continue
                }
                if let problem = SeizedZones.problem(with: ascii) {
                    skipped.append(LoadError(file: file, line: lineNumber, message: "\"\(text)\" \(problem.explanation)"))
                    continue
                }
                names.append(ascii)
            }
        }
        return (names, skipped)
    }

    private static func isBlank(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
            || byte == 0x0B || byte == 0x0C
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
