import SinkholeCore

/// A request to the feed API, parsed from its method and target, or the reason it cannot be
/// served: a pure function of the request line, so every 400 is unit-tested without sockets.
///
/// - `GET /v1/checkins?date=YYYY-MM-DD[&format=csv|jsonl]`: one UTC day's check-ins and DNS
///   rows from the ISP's sources.
/// - `GET /v1/infections?since=YYYY-MM-DD[&until=YYYY-MM-DD][&format=csv|jsonl]`: infected
///   addresses per UTC day, `until` included (default: `since`), at most `maxDays` days.
public enum FeedRequest: Equatable, Sendable {
    case checkIns(day: UTCTime, format: Format)
    case infections(since: UTCTime, until: UTCTime, format: Format)

    public enum Format: String, Sendable, CaseIterable {
        case csv, jsonl

        public var contentType: String {
            switch self {
            case .csv: "text/csv; charset=utf-8; header=present"
            case .jsonl: "application/jsonl; charset=utf-8"
            }
        }
    }

    /// The longest range `/v1/infections` serves at once.
    public static let maxDays = 92

    /// Why a request was refused: the status and a message saying which part and why.
    public struct Refusal: Error, Equatable, Sendable {
        public var status: Int
        public var message: String
    }

    public static func parse(method: String, target: String) -> Result<FeedRequest, Refusal> {
        let pathEnd = target.firstIndex(of: "?") ?? target.endIndex
        let path = target[..<pathEnd]
        guard path == "/v1/checkins" || path == "/v1/infections" else {
            return .failure(Refusal(status: 404, message: "no such endpoint \(String(path).debugDescription): use /v1/checkins or /v1/infections"))
        }
        guard method == "GET" || method == "HEAD" else {
            return .failure(Refusal(status: 405, message: "method \(method) not allowed: use GET"))
        }
        var parameters: [String: String] = [:]
        if pathEnd < target.endIndex {
            for pair in target[target.index(after: pathEnd)...].split(separator: "&", omittingEmptySubsequences: true) {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = String(parts[0])
                let value = parts.count == 2 ? String(parts[1]) : ""
                guard parameters[name] == nil else {
                    return .failure(Refusal(status: 400, message: "parameter \(name.debugDescription) given twice"))
                }
                parameters[name] = value
            }
        }
        let allowed: Set<String> = path == "/v1/checkins" ? ["date", "format"] : ["since", "until", "format"]
        if let unknown = parameters.keys.sorted().first(where: { !allowed.contains($0) }) {
            return .failure(Refusal(status: 400, message: "unknown parameter \(unknown.debugDescription); this endpoint takes \(allowed.sorted().joined(separator: ", "))"))
        }
        var format = Format.csv
        if let text = parameters["format"] {
            guard let parsed = Format(rawValue: text) else {
                return .failure(Refusal(status: 400, message: "format=\(text.debugDescription): expected csv or jsonl"))
            }
            format = parsed
        }
        func day(_ name: String) -> Result<UTCTime, Refusal> {
            guard let text = parameters[name] else {
                return .failure(Refusal(status: 400, message: "\(name) is required: a UTC date as YYYY-MM-DD"))
            }
            guard let day = parseDay(text) else {
                return .failure(Refusal(status: 400, message: "\(name)=\(text.debugDescription): expected a UTC date as YYYY-MM-DD"))
            }
            return .success(day)
        }
        if path == "/v1/checkins" {
            return day("date").map { .checkIns(day: $0, format: format) }
        }
        let since: UTCTime
        switch day("since") {
        case .success(let d): since = d
        case .failure(let refusal): return .failure(refusal)
        }
        var until = since
        if parameters["until"] != nil {
            switch day("until") {
            case .success(let d): until = d
            case .failure(let refusal): return .failure(refusal)
            }
        }
        guard until >= since else {
            return .failure(Refusal(status: 400, message: "until (\(until.dayString)) is before since (\(since.dayString))"))
        }
        let days = Int((until.seconds - since.seconds) / 86_400) + 1
        guard days <= maxDays else {
            return .failure(Refusal(status: 400, message: "since..until spans \(days) days; ask for at most \(maxDays) at a time"))
        }
        return .success(.infections(since: since, until: until, format: format))
    }

    /// `YYYY-MM-DD` as the midnight starting that UTC day; nil for anything else (2026-02-30
    /// included: a real date prints back as it was written).
    public static func parseDay(_ text: String) -> UTCTime? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let y = Int64(parts[0]), let m = Int64(parts[1]), let d = Int64(parts[2]),
              (1...12).contains(m), (1...31).contains(d) else { return nil }
        let day = UTCTime(year: y, month: m, day: d)
        return day.dayString == text ? day : nil
    }
}
