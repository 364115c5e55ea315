import Foundation
import SinkholeCore

extension ASNMap {
    /// Reads CAIDA RouteViews prefix2as files (IPv4, IPv6, or both mixed; gzip-compressed or
    /// not) into one map.
    ///
    /// Throws `ASNMapError` naming every bad line as `file:line: reason`, and a file that
    /// cannot be read, is not valid gzip, or holds no prefix at all (an empty or truncated
    /// download). A prefix listed again, in the same file or a later one, takes its last AS.
    public static func load(paths: [String]) throws(ASNMapError) -> ASNMap {
        var v4: [PrefixTable.Prefix<UInt32>] = []
        var v6: [PrefixTable.Prefix<UInt128>] = []
        var problems: [ASNMapError.Problem] = []
        var omitted = 0
        var order = 0
        for path in paths {
            let bytes: [UInt8]
            do {
                bytes = try readDecompressed(path)
            } catch {
                problems.append(.init(file: path, line: 0, reason: error.reason))
                continue
            }
            let before = v4.count + v6.count
            var parser = Prefix2ASParser(file: path)
            parser.parse(bytes, order: &order, v4: &v4, v6: &v6, problems: &problems, omitted: &omitted)
            if v4.count + v6.count == before && parser.badLines == 0 {
                problems.append(.init(file: path, line: 0, reason: "holds no prefixes (an empty or truncated download?)"))
            }
        }
        guard problems.isEmpty else { throw ASNMapError(problems, omitted: omitted) }
        return ASNMap(table: PrefixTable(v4: v4, v6: v6))
    }

    /// Why a file could not be read, worded for the operator.
    struct ReadError: Error {
        var reason: String
    }

    /// The file's bytes, gunzipped when they start with the gzip magic (RFC 1952 §2.3.1:
    /// 1f 8b), so `pfx2as.txt.gz` as CAIDA publishes it and a renamed copy both work.
    ///
    /// Decompressed by `gzip -dc` rather than zlib linked in: gzip is an Essential package on
    /// Debian (always installed), while zlib would need a C module target and its -dev package
    /// on every build host, for a file read once a day. The subprocess costs a few ms.
    static func readDecompressed(_ path: String) throws(ReadError) -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ReadError(reason: "cannot read the prefix2as file: no such file")
        }
        guard !isDirectory.boolValue else { throw ReadError(reason: "cannot read the prefix2as file: it is a directory") }
        guard let data = FileManager.default.contents(atPath: path) else {
            let why = FileManager.default.isReadableFile(atPath: path) ? "read failed" : "permission denied"
            throw ReadError(reason: "cannot read the prefix2as file: \(why)")
        }
        guard data.count >= 2, data[data.startIndex] == 0x1f, data[data.startIndex + 1] == 0x8b else {
            return [UInt8](data)
        }
        return try gunzip(path)
    }

    static func gunzip(_ path: String) throws(ReadError) -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-dc", "--", path]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw ReadError(reason: "cannot run gzip to decompress it: \(error)")
        }
        // Read stdout to the end before waiting: gzip blocks once the pipe buffer is full.
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw ReadError(reason: "is not a valid gzip file (gzip exited \(process.terminationStatus): \(text))")
        }
        return [UInt8](data)
    }
}

/// Parses prefix2as text line by line, appending prefixes and collecting bad lines.
struct Prefix2ASParser {
    let file: String
    private(set) var badLines = 0

    init(file: String) {
        self.file = file
    }

    private static let tab = UInt8(ascii: "\t")
    private static let space = UInt8(ascii: " ")

    mutating func parse(_ bytes: [UInt8], order: inout Int, v4: inout [PrefixTable.Prefix<UInt32>],
                        v6: inout [PrefixTable.Prefix<UInt128>], problems: inout [ASNMapError.Problem], omitted: inout Int) {
        var lineNumber = 0
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
            lineNumber += 1
            var line = bytes[start..<end]
            start = end + 1
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            let content = line.drop { $0 == Self.tab || $0 == Self.space }
            if content.isEmpty || content.first == UInt8(ascii: "#") { continue }
            switch Self.prefix(content) {
            case .success(let parsed):
                order += 1
                switch parsed.address.family {
                case .v4:
                    v4.append(.init(start: UInt32(truncatingIfNeeded: parsed.address.low), length: parsed.length,
                                    value: parsed.asn, order: order))
                case .v6:
                    v6.append(.init(start: PrefixTable.key(parsed.address), length: parsed.length,
                                    value: parsed.asn, order: order))
                }
            case .failure(let problem):
                badLines += 1
                // Past the kept ones a count will do.
                if problems.count < ASNMapError.kept {
                    problems.append(.init(file: file, line: lineNumber, reason: problem.reason))
                } else {
                    omitted += 1
                }
            }
        }
    }

    struct LineProblem: Error {
        var reason: String
    }

    /// One line: three fields separated by tabs (spaces are tolerated: some mirrors re-space).
    static func prefix(_ line: ArraySlice<UInt8>) -> Result<(address: IPAddress, length: UInt8, asn: UInt32), LineProblem> {
        // Three fields without an array per line: a million lines load in well under a second.
        var fields = (line[line.startIndex..<line.startIndex], line[line.startIndex..<line.startIndex],
                      line[line.startIndex..<line.startIndex])
        var count = 0
        var index = line.startIndex
        while index < line.endIndex {
            while index < line.endIndex && (line[index] == tab || line[index] == space) { index += 1 }
            guard index < line.endIndex else { break }
            let fieldStart = index
            while index < line.endIndex && line[index] != tab && line[index] != space { index += 1 }
            switch count {
            case 0: fields.0 = line[fieldStart..<index]
            case 1: fields.1 = line[fieldStart..<index]
            case 2: fields.2 = line[fieldStart..<index]
            default: return .failure(LineProblem(reason: "expected prefix<TAB>length<TAB>asn, found more than 3 fields"))
            }
            count += 1
        }
        guard count == 3 else {
            return .failure(LineProblem(reason: "expected prefix<TAB>length<TAB>asn, found \(count) field\(count == 1 ? "" : "s")"))
        }
        let addressText = String(decoding: fields.0, as: UTF8.self)
        guard let address = IPAddress(addressText) else {
            return .failure(LineProblem(reason: "\"\(printable(fields.0))\" is not an IPv4 or IPv6 address"))
        }
        let maxLength = address.family == .v4 ? 32 : 128
        guard let length = decimal(fields.1, digits: 3), length <= maxLength else {
            return .failure(LineProblem(reason: "\"\(printable(fields.1))\" is not a prefix length for \(address.family == .v4 ? "IPv4" : "IPv6") (0 to \(maxLength))"))
        }
        // Host bits below the length: CAIDA never writes them, so the line is damaged.
        let key = address.family == .v4 ? UInt128(address.low) << 96 : PrefixTable.key(address)
        guard key & (UInt128.max >> length) == 0 else {
            return .failure(LineProblem(reason: "\(addressText)/\(length) has host bits set below /\(length)"))
        }
        // Multi-origin `a_b` and AS sets `a,b`: the first AS.
        let asnField = fields.2
        let first = asnField.prefix { $0 != UInt8(ascii: "_") && $0 != UInt8(ascii: ",") }
        guard let asn = decimal(first, digits: 10), asn < UInt64(PrefixTable.uncovered) else {
            return .failure(LineProblem(reason: "\"\(printable(asnField))\" is not an AS number (0 to 4294967294; a_b and a,b take the first)"))
        }
        return .success((address, UInt8(length), UInt32(asn)))
    }

    /// Digits only, at most `digits` of them.
    private static func decimal(_ text: ArraySlice<UInt8>, digits: Int) -> UInt64? {
        guard !text.isEmpty, text.count <= digits else { return nil }
        var value: UInt64 = 0
        for c in text {
            guard c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + UInt64(c - UInt8(ascii: "0"))
        }
        return value
    }

    /// A field as it can be shown in an error: bounded, control bytes escaped.
    private static func printable(_ text: ArraySlice<UInt8>) -> String {
        var out: [UInt8] = []
        CSVField.appendEscaped(text.prefix(64), to: &out)
        return String(decoding: out, as: UTF8.self) + (text.count > 64 ? "…" : "")
    }
}
