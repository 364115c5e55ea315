import Foundation
import SinkholeCore

/// What `sinkhole stats` reports about a store since a given time: how many bots per family
/// and day, what the responders saw, which C&C names and resolvers were busiest, and whether
/// anything was lost. A plain value, rendered as tables for a person or JSON for a script.
public struct StoreStats: Sendable, Equatable, Encodable {
    /// The report covers hours (and days, for infections) from this time on.
    public var since: UTCTime
    /// Only this family, or every family when nil (resolvers are never per family: a
    /// resolver's queries are not filed under one).
    public var family: String?

    /// Distinct infected source addresses per UTC day and family (`infections`).
    public var infectedPerDay: [InfectedDay] = []
    /// Check-in events and new sessions per service (`service_hours`).
    public var services: [ServiceTotal] = []
    /// C&C names bots connected to (HTTP Host, TLS SNI), by sessions (`name_hours`).
    public var topNames: [NameCount] = []
    /// Seized names asked for over DNS, by queries (`dns_queries`), from `topQueryNamesSince`.
    public var topQueryNames: [NameCount] = []
    /// `since`, or 24 hours before the report when that is later: the DNS names are counted
    /// from `dns_queries` itself, and a day of it is what can be read in well under a second.
    public var topQueryNamesSince: UTCTime
    /// Addresses asking for seized names over DNS, by queries (`resolver_hours`).
    public var topResolvers: [ResolverCount] = []
    /// Every node's counters since the store was created (`counters`): events offered to the
    /// rings, stored, and dropped on a full ring.
    public var nodes: [NodeCounters] = []

    public init(since: UTCTime, family: String?) {
        self.since = since
        topQueryNamesSince = since
        self.family = family
    }

    public struct InfectedDay: Sendable, Equatable, Encodable {
        public var day: String
        public var family: String
        public var addresses: Int
    }

    public struct ServiceTotal: Sendable, Equatable, Encodable {
        public var service: String
        public var events: Int
        public var sessions: Int
    }

    public struct NameCount: Sendable, Equatable, Encodable {
        public var family: String
        public var name: String
        public var count: Int
    }

    public struct ResolverCount: Sendable, Equatable, Encodable {
        public var address: String
        public var queries: Int
    }

    public struct NodeCounters: Sendable, Equatable, Encodable {
        public var node: String
        public var offered: Int
        public var stored: Int
        public var dropped: Int
    }

    /// True when any node ever dropped an event: the first thing an operator must see.
    public var anyDropped: Bool { nodes.contains { $0.dropped > 0 } }

    enum CodingKeys: String, CodingKey {
        case since, family, infectedPerDay = "infected_per_day", services, topNames = "top_names",
             topQueryNames = "top_query_names", topQueryNamesSince = "top_query_names_since",
             topResolvers = "top_resolvers", nodes
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(since.description, forKey: .since)
        try c.encode(family, forKey: .family)
        try c.encode(infectedPerDay, forKey: .infectedPerDay)
        try c.encode(services, forKey: .services)
        try c.encode(topNames, forKey: .topNames)
        try c.encode(topQueryNames, forKey: .topQueryNames)
        try c.encode(topQueryNamesSince.description, forKey: .topQueryNamesSince)
        try c.encode(topResolvers, forKey: .topResolvers)
        try c.encode(nodes, forKey: .nodes)
    }

    /// One JSON object, keys sorted, ending in a newline.
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Every field is a plain string or integer: encoding cannot fail.
        let data = (try? encoder.encode(self)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Aligned plain-text tables, one section each, for a terminal.
    public func tables() -> String {
        var out = "since \(since.description)" + (family.map { ", family \($0)" } ?? "") + "\n"
        func section(_ title: String, _ header: [String], _ rows: [[String]], rightAligned: Set<Int>) {
            out += "\n\(title)\n"
            guard !rows.isEmpty else {
                out += "  (none)\n"
                return
            }
            let all = [header] + rows
            let widths = header.indices.map { i in all.map { Self.displayWidth($0[i]) }.max() ?? 0 }
            for row in all {
                let cells = row.indices.map { i in
                    let pad = String(repeating: " ", count: widths[i] - Self.displayWidth(row[i]))
                    return rightAligned.contains(i) ? pad + row[i] : row[i] + pad
                }
                out += "  " + cells.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) + "\n"
            }
        }
        section("Infected addresses per day", ["day", "family", "addresses"],
                infectedPerDay.map { [$0.day, $0.family, Self.grouped($0.addresses)] }, rightAligned: [2])
        section("Check-ins per service", ["service", "events", "sessions"],
                services.map { [$0.service, Self.grouped($0.events), Self.grouped($0.sessions)] }, rightAligned: [1, 2])
        section("Top C&C names (HTTP Host, TLS SNI)", ["family", "name", "sessions"],
                topNames.map { [$0.family, Self.printable($0.name), Self.grouped($0.count)] }, rightAligned: [2])
        section(topQueryNamesSince == since ? "Top seized names over DNS" : "Top seized names over DNS since \(topQueryNamesSince.description) (the last 24 h)",
                ["family", "qname", "queries"],
                topQueryNames.map { [$0.family, Self.printable($0.name), Self.grouped($0.count)] }, rightAligned: [2])
        section("Top querying resolvers", ["address", "queries"],
                topResolvers.map { [$0.address, Self.grouped($0.queries)] }, rightAligned: [1])
        section("Events per node since the store was created", ["node", "offered", "stored", "dropped"],
                nodes.map { [$0.node, Self.grouped($0.offered), Self.grouped($0.stored),
                             Self.grouped($0.dropped) + ($0.dropped > 0 ? "  LOST" : "")] }, rightAligned: [1, 2])
        return out
    }

    /// `1234567` → `1,234,567`.
    static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
            out.append(c)
        }
        return (value < 0 ? "-" : "") + out
    }

    /// Names come from the network: control characters (a bot's CR, LF, ESC) are shown as
    /// `\xNN` so they can neither break a table nor drive the terminal.
    static func printable(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value) || scalar == "\\" {
                out += scalar == "\\" ? "\\\\" : String(format: "\\x%02X", scalar.value)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func displayWidth(_ text: String) -> Int { text.count }
}

extension StoreStats {
    /// Reads `--since`: a UTC date (`2026-11-29`, from its midnight), a UTC time
    /// (`2026-11-29T06:00Z`, `2026-11-29T06:00:30Z`), or an age before `now` (`90m`, `24h`,
    /// `7d`). Nil when the text is none of these.
    public static func parseSince(_ text: String, now: UTCTime) -> UTCTime? {
        if let unit = text.last, let amount = Int64(text.dropLast()), amount >= 0 {
            let seconds: Int64? = switch unit {
            case "m": 60
            case "h": 3600
            case "d": 86_400
            default: nil
            }
            if let seconds {
                let (product, overflow) = amount.multipliedReportingOverflow(by: seconds * 1_000_000)
                return overflow ? nil : UTCTime(microseconds: now.microseconds - product)
            }
        }
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int64? {
            guard range.upperBound <= bytes.count, range.allSatisfy({ (0x30...0x39).contains(bytes[$0]) }) else { return nil }
            return range.reduce(Int64(0)) { $0 * 10 + Int64(bytes[$1] - 0x30) }
        }
        guard bytes.count >= 10, bytes[4] == 0x2D, bytes[7] == 0x2D,
              let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              (1...12).contains(month), (1...Self.daysIn(month: month, year: year)).contains(day) else { return nil }
        var seconds = UTCTime(year: year, month: month, day: day).seconds
        if bytes.count > 10 {
            // THH:MMZ or THH:MM:SSZ
            guard bytes[10] == 0x54 || bytes[10] == 0x20, bytes.last == 0x5A,
                  let hour = number(11..<13), hour < 24, bytes.count >= 17, bytes[13] == 0x3A,
                  let minute = number(14..<16), minute < 60 else { return nil }
            seconds += hour * 3600 + minute * 60
            if bytes.count == 20, bytes[16] == 0x3A, let second = number(17..<19), second < 60 {
                seconds += second
            } else if bytes.count != 17 {
                return nil
            }
        }
        return UTCTime(seconds: seconds)
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
