import Foundation
import Testing

/// The Prometheus text format read back the way a scraper would: series keyed
/// `name{label="value",…}` with the labels sorted, so tests compare numbers, not text (the
/// registry writes its series in no fixed order).
struct PrometheusText {
    var values: [String: Double] = [:]
    /// `# TYPE` per metric name.
    var types: [String: String] = [:]
    /// `# HELP` per metric name.
    var help: [String: String] = [:]

    init(_ text: String) throws {
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                types[String(parts[2])] = String(parts[3])
                continue
            }
            if line.hasPrefix("# HELP ") {
                let parts = line.split(separator: " ", maxSplits: 3)
                help[String(parts[2])] = parts.count > 3 ? String(parts[3]) : ""
                continue
            }
            guard !line.hasPrefix("#") else { continue }
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                throw ParseError(line: String(line))
            }
            let series = line[..<space]
            guard let brace = series.firstIndex(of: "{") else {
                values[String(series)] = value
                continue
            }
            let name = series[..<brace]
            let labels = try Self.labels(series[series.index(after: brace)..<series.index(before: series.endIndex)])
            values[Self.key(String(name), labels)] = value
        }
    }

    struct ParseError: Error, CustomStringConvertible {
        let line: String
        var description: String { "not a sample line: \(line)" }
    }

    /// The value of `name` with exactly `labels`, nil when there is no such series.
    subscript(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        values[Self.key(name, labels)]
    }

    /// Every label set of `name`.
    func series(_ name: String) -> [String] {
        values.keys.filter { $0 == name || $0.hasPrefix(name + "{") }.sorted()
    }

    static func key(_ name: String, _ labels: [String: String]) -> String {
        labels.isEmpty ? name : name + "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ",") + "}"
    }

    private static func labels(_ text: Substring) throws -> [String: String] {
        var labels: [String: String] = [:]
        var rest = text
        while !rest.isEmpty {
            guard let equals = rest.firstIndex(of: "=") else { throw ParseError(line: String(text)) }
            let name = String(rest[..<equals])
            rest = rest[rest.index(after: equals)...]
            guard rest.first == "\"" else { throw ParseError(line: String(text)) }
            rest = rest.dropFirst()
            var value = ""
            while let c = rest.first, c != "\"" {
                if c == "\\", let next = rest.dropFirst().first {
                    value.append(next == "n" ? "\n" : next)
                    rest = rest.dropFirst(2)
                } else {
                    value.append(c)
                    rest = rest.dropFirst()
                }
            }
            rest = rest.dropFirst()
            if rest.first == "," { rest = rest.dropFirst() }
            labels[name] = value
        }
        return labels
    }
}

/// One HTTP request with curl (no retries, no redirects followed): status and body.
func fetch(_ url: String, method: String = "GET", host: String? = nil, headers: [String] = []) throws -> (status: Int, body: String) {
    var arguments = ["curl", "-sS", "--max-time", "10", "-X", method, "-w", "\n%{http_code}"]
    for header in (host.map { ["Host: \($0)"] } ?? []) + headers { arguments += ["-H", header] }
    let result = try ExternalCommand.run(arguments + [url], timeout: .seconds(20))
    guard let newline = result.output.lastIndex(of: "\n"), let status = Int(result.output[result.output.index(after: newline)...]) else {
        Issue.record("curl \(url): \(result.output)")
        throw CancellationError()
    }
    return (status, String(result.output[..<newline]))
}
