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

    /// What loading a family's lists into a `SeizedZones.Builder` did: as `Loaded`, with a
    /// count of names in place of the names themselves.
    public struct Indexed: Sendable {
        /// The names accepted, each listing counted (a name in two lists counts twice, as it
        /// would in `Loaded.names`; the builder keeps it once).
        public var names = 0
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
        loaded.missing = try forEachFile(patterns: patterns, on: day) { file throws(LoadError) in
            let parsed = try parse(file: file)
            loaded.names += parsed.names
            loaded.skipped += parsed.skipped
        }
        return loaded
    }

    /// `load(patterns:on:)` straight into `zones`, for the family added to it last: each
    /// name goes from the file's bytes into the index, with no `String` per name. This is
    /// how the server loads its lists (a DGA family's run to a million names).
    public static func load(
        patterns: [String], on day: UTCTime, into zones: inout SeizedZones.Builder
    ) throws(LoadError) -> Indexed {
        var indexed = Indexed()
        indexed.missing = try forEachFile(patterns: patterns, on: day) { file throws(LoadError) in
            let data = try read(file)
            data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                let bytes = raw.bindMemory(to: UInt8.self)
                // A name per line at most, and an ASCII name's wire form is no longer than its
                // line (a rare Unicode name's longer A-label just grows the arena).
                zones.reserveCapacity(names: bytes.count(where: { $0 == 0x0A }) + 1, bytes: bytes.count)
                indexed.skipped += forEachName(in: bytes, file: file) { name in
                    do throws(InvalidSeizedDomain.Reason) {
                        _ = try zones.insert(name)
                        indexed.names += 1
                        return nil
                    } catch {
                        return error
                    }
                }
            }
        }
        return indexed
    }

    /// Calls `body` with every list file the patterns stand for, in order; returns the
    /// per-day files that do not exist. Throws for a missing fixed list, or when none of a
    /// per-day pattern's three files exists.
    private static func forEachFile(
        patterns: [String], on day: UTCTime, _ body: (String) throws(LoadError) -> Void
    ) throws(LoadError) -> [String] {
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
                try body(file)
            }
            if found == 0 {
                throw LoadError(file: pattern, line: nil,
                                message: "no per-day domain list for yesterday, today or tomorrow (\(files.joined(separator: ", ")))")
            }
        }
        return missing
    }

    /// Parses one list file. Names written in Unicode become their A-label (`xn--…`) form,
    /// since that is what bots query; a line that is still not a valid DNS name is skipped and
    /// returned with its line number. Only an unreadable file is an error.
    public static func parse(file: String) throws(LoadError) -> (names: [String], skipped: [LoadError]) {
        let data = try read(file)
        var names: [String] = []
        let skipped = data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            forEachName(in: raw.bindMemory(to: UInt8.self), file: file) { name in
                let text = String(decoding: name, as: UTF8.self)
                if let problem = SeizedZones.problem(with: text) { return problem }
                names.append(text)
                return nil
            }
        }
        return (names, skipped)
    }

    private static func read(_ file: String) throws(LoadError) -> Data {
        do {
            return try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw LoadError(file: file, line: nil, message: "cannot read domain list: \(error.localizedDescription)")
        }
    }

    /// Calls `accept` with the name on each line of a list file, in ASCII (a Unicode name is
    /// turned into its A-label form first); `accept` returns why the name is not usable, or
    /// nil. Returns the lines skipped, by `accept` or because they could not be read as a
    /// name, each with its line number.
    ///
    /// Works on the file's bytes, not on `String` lines: DGA lists run to a million names, and
    /// Foundation's trimming and grapheme-aware splitting took seconds for that (measured).
    /// An ASCII line, nearly every line of every list, reaches `accept` as it is in the file.
    private static func forEachName(
        in bytes: UnsafeBufferPointer<UInt8>, file: String,
        _ accept: (UnsafeBufferPointer<UInt8>) -> InvalidSeizedDomain.Reason?
    ) -> [LoadError] {
        var skipped: [LoadError] = []
        var lineNumber = 0
        var lineStart = 0
        while lineStart < bytes.count {
            lineNumber += 1
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != 0x0A { lineEnd += 1 }
            defer { lineStart = lineEnd + 1 }
            // The name: up to a '#', without surrounding spaces, tabs or a CR (CRLF lists).
            var end = lineStart
            var isASCII = true
            while end < lineEnd && bytes[end] != UInt8(ascii: "#") {
                isASCII = isASCII && bytes[end] < 0x80
                end += 1
            }
            var start = lineStart
            while start < end && isBlank(bytes[start]) { start += 1 }
            while end > start && isBlank(bytes[end - 1]) { end -= 1 }
            guard start < end else { continue }
            let line = UnsafeBufferPointer(rebasing: bytes[start..<end])
            if isASCII {
                // ASCII is UTF-8, and an ASCII name is its own A-label form.
                if let problem = accept(line) {
                    skipped.append(LoadError(file: file, line: lineNumber,
                                             message: "\"\(String(decoding: line, as: UTF8.self))\" \(problem.explanation)"))
                }
                continue
            }
            guard let text = String(validating: line, as: UTF8.self) else {
                skipped.append(LoadError(file: file, line: lineNumber, message: "is not UTF-8 text"))
                continue
            }
            guard var ascii = Punycode.asciiName(text) else {
                skipped.append(LoadError(file: file, line: lineNumber, message: "\"\(text)\" cannot be written as an A-label"))
                continue
            }
            if let problem = ascii.withUTF8({ accept($0) }) {
                skipped.append(LoadError(file: file, line: lineNumber, message: "\"\(text)\" \(problem.explanation)"))
            }
        }
        return skipped
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
