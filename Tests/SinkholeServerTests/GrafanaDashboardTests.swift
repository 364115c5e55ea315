import Foundation
import Testing

@testable import SinkholeServer

/// Deploy/grafana-dashboard.json against `MetricCatalog`: a panel over a series /metrics does not
/// expose, or grouped by a label the series does not carry, shows "No data" on the day it is
/// needed, and nothing else would notice. The queries are read as PromQL text: metric names,
/// their `{…}` selectors and the `by (…)` clauses of aggregations.
@Suite("Deploy/grafana-dashboard.json: over the series /metrics exposes")
struct GrafanaDashboardTests {
    static let path = DeployTests.repository.appendingPathComponent("Deploy/grafana-dashboard.json")
    /// Labels Prometheus adds to every series it scrapes (the scrape target's), not the sinkhole.
    static let targetLabels: Set<String> = ["instance", "job"]
    static let histogramSuffixes = ["_bucket", "_sum", "_count"]

    static func dashboard() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: try Data(contentsOf: path))
        return try #require(object as? [String: Any], "the dashboard is a JSON object")
    }

    /// Every panel, rows' nested panels included (a collapsed row keeps its panels inside it).
    static func panels(_ dashboard: [String: Any]) -> [[String: Any]] {
        let top = dashboard["panels"] as? [[String: Any]] ?? []
        return top.flatMap { [$0] + ($0["panels"] as? [[String: Any]] ?? []) }
    }

    static func expressions(_ dashboard: [String: Any]) -> [String] {
        panels(dashboard).flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
    }

    @Test("it imports as a Grafana 10 dashboard: schema 39, uid sinkhole, a Prometheus input, instance and family variables")
    func shape() throws {
        let dashboard = try Self.dashboard()
        #expect(dashboard["schemaVersion"] as? Int == 39)
        #expect(dashboard["uid"] as? String == "sinkhole")
        #expect(dashboard["refresh"] as? String == "30s")
        let inputs = try #require(dashboard["__inputs"] as? [[String: Any]])
        #expect(inputs.map { $0["name"] as? String } == ["DS_PROMETHEUS"])
        #expect(inputs.first?["pluginId"] as? String == "prometheus")
        let variables = (dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
        #expect(variables.map { $0["name"] as? String } == ["instance", "family"])

        let rows = (dashboard["panels"] as? [[String: Any]] ?? []).filter { $0["type"] as? String == "row" }
        #expect(rows.map { $0["title"] as? String } == ["Traffic", "Loss", "Writer", "DNS", "HTTP/TLS/catch-all", "Operations"])
        let ids = Self.panels(dashboard).compactMap { $0["id"] as? Int }
        #expect(ids.count == Self.panels(dashboard).count && Set(ids).count == ids.count, "every panel has its own id")
    }

    @Test("every panel has a title and, rows aside, queries the DS_PROMETHEUS input")
    func panels() throws {
        let panels = Self.panels(try Self.dashboard())
        #expect(panels.count > 20)
        for panel in panels {
            let title = panel["title"] as? String ?? ""
            #expect(!title.isEmpty, "a panel without a title: \(panel["id"] ?? "?")")
            guard panel["type"] as? String != "row" else { continue }
            let targets = panel["targets"] as? [[String: Any]] ?? []
            #expect(!targets.isEmpty, "\(title) has no targets")
            for target in targets {
                #expect(!(target["expr"] as? String ?? "").isEmpty, "\(title): a target without expr")
                #expect((target["datasource"] as? [String: Any])?["uid"] as? String == "${DS_PROMETHEUS}", "\(title)")
            }
            #expect((panel["datasource"] as? [String: Any])?["uid"] as? String == "${DS_PROMETHEUS}", "\(title)")
        }
    }

    @Test("every sinkhole_ and process_ name queried is in MetricCatalog, with the labels its definition has")
    func namesAndLabels() throws {
        let dashboard = try Self.dashboard()
        let expressions = Self.expressions(dashboard)
        #expect(!expressions.isEmpty)
        for expression in expressions {
            let query = try PromQLText(expression)
            for name in query.metricNames where Self.definition(name) == nil {
                Issue.record("\(name) is not in MetricCatalog: \(expression)")
            }
            for (name, labels) in query.selectors {
                guard let allowed = Self.allowedLabels(name) else { continue }
                for label in labels where !allowed.contains(label) {
                    Issue.record("\(name) has no label \(label): \(expression)")
                }
            }
            for (labels, argument) in query.groupings {
                // `by (…)` may name the labels of any series inside the aggregation it belongs to.
                let inner = try PromQLText(argument).metricNames
                let allowed = inner.reduce(into: Self.targetLabels) { $0.formUnion(Self.allowedLabels($1) ?? []) }
                for label in labels where !allowed.contains(label) {
                    Issue.record("by (\(label)) over \(inner.sorted()), which have no such label: \(expression)")
                }
            }
        }

        // The variables' label_values(metric, label) queries as well.
        let variables = (dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
        for variable in variables {
            let query = ((variable["query"] as? [String: Any])?["query"] as? String) ?? (variable["query"] as? String) ?? ""
            let parts = try #require(query.wholeMatch(of: /label_values\((\w+)(\{[^}]*\})?,\s*(\w+)\)/), "\(query)")
            let allowed = Self.allowedLabels(String(parts.1)) ?? []
            #expect(allowed.contains(String(parts.3)), "\(query)")
        }
    }

    @Test("every series in MetricCatalog has a panel: one nobody charts is one nobody watches")
    func everySeriesCharted() throws {
        let queried = Set(try Self.expressions(try Self.dashboard()).flatMap { try PromQLText($0).metricNames }.map(Self.baseName))
        let uncharted = MetricCatalog.all.map(\.name).filter { !queried.contains($0) }
        #expect(uncharted.isEmpty, "no panel queries \(uncharted)")
    }

    @Test("the reader of the queries finds names, selectors and by clauses, and the checks catch a wrong label")
    func readerCatchesMistakes() throws {
        let query = try PromQLText(#"sum by (le, service) (rate(sinkhole_writer_batch_duration_seconds_bucket{instance=~"$i", le!="+Inf"}[5m])) / up"#)
        #expect(query.metricNames == ["sinkhole_writer_batch_duration_seconds_bucket"])
        #expect(query.selectors.map { $0.labels } == [["instance", "le"]])
        #expect(query.groupings.map { $0.labels } == [["le", "service"]])
        #expect(Self.allowedLabels("sinkhole_writer_batch_duration_seconds_bucket") == ["instance", "job", "le"])
        #expect(Self.allowedLabels("sinkhole_checkins_total")?.contains("family") == true)
        #expect(Self.allowedLabels("sinkhole_writer_batches_total")?.contains("family") == false)
        // The postfix form, `sum(…) by (…)`, groups the aggregation before it.
        let postfix = try PromQLText(#"sum(rate(sinkhole_dns_responses_total[5m])) by (rcode) + sum(sinkhole_seized_names)"#)
        #expect(postfix.groupings.map { $0.labels } == [["rcode"]])
        #expect(postfix.groupings.first?.argument == "rate(sinkhole_dns_responses_total[5m])")
        #expect(Self.baseName("sinkhole_writer_batch_duration_seconds_count") == "sinkhole_writer_batch_duration_seconds")
        #expect(Self.baseName("sinkhole_writer_batches_total") == "sinkhole_writer_batches_total")
    }

    /// `name` without a histogram's `_bucket`/`_sum`/`_count`, when what is left is a histogram.
    static func baseName(_ name: String) -> String {
        for suffix in histogramSuffixes where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if MetricCatalog.all.contains(where: { $0.name == base && $0.kind == .histogram }) { return base }
        }
        return name
    }

    /// The catalog's definition of `name` (a histogram's series by its base name).
    static func definition(_ name: String) -> MetricDefinition? {
        MetricCatalog.all.first { $0.name == baseName(name) }
    }

    /// The labels a selector or grouping may use on `name`: its definition's, the scrape
    /// target's, and `le` on a histogram's buckets. nil for a name outside the catalog (`up`,
    /// or a misspelt one, which the name check reports).
    static func allowedLabels(_ name: String) -> Set<String>? {
        guard let definition = definition(name) else { return nil }
        var labels = targetLabels.union(definition.labels)
        if name == definition.name + "_bucket" { labels.insert("le") }
        return labels
    }
}

/// What the dashboard's checks read from a PromQL expression. Not a PromQL parser: it knows
/// names, `{…}` label matchers, and `by`/`without` clauses with their aggregation's argument,
/// which is all the dashboard's queries use.
struct PromQLText {
    /// `sinkhole_…` and `process_…` names, in order of appearance.
    var metricNames: [String] = []
    /// Each selector's metric name and the label names its matchers use.
    var selectors: [(name: String, labels: [String])] = []
    /// Each `by (…)`/`without (…)` clause's labels and the text of the aggregation it groups.
    var groupings: [(labels: [String], argument: String)] = []

    struct Unbalanced: Error { var expression: String }

    init(_ expression: String) throws {
        let text = Array(expression)
        for match in expression.matches(of: /\b((?:sinkhole|process)_[a-z0-9_]+)\b(\s*\{([^}]*)\})?/) {
            let name = String(match.1)
            metricNames.append(name)
            if let matchers = match.3 {
                let labels = matchers.matches(of: /(\w+)\s*(?:=~|!~|!=|=)\s*"/).map { String($0.1) }
                selectors.append((name, labels))
            }
        }
        for match in expression.matches(of: /\b(?:by|without)\s*\(([^)]*)\)/) {
            let labels = match.1.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let after = expression.distance(from: expression.startIndex, to: match.range.upperBound)
            let before = expression.distance(from: expression.startIndex, to: match.range.lowerBound)
            // Prefix form `sum by (l) (arg)`: the group after; postfix `sum(arg) by (l)`: before.
            var next = after
            while next < text.count && text[next] == " " { next += 1 }
            var previous = before - 1
            while previous >= 0 && text[previous] == " " { previous -= 1 }
            let argument: Range<Int>
            if next < text.count && text[next] == "(" {
                argument = try Self.group(in: text, opening: next, expression: expression)
            } else if previous >= 0 && text[previous] == ")" {
                argument = try Self.group(in: text, closing: previous, expression: expression)
            } else {
                throw Unbalanced(expression: expression)
            }
            groupings.append((labels, String(text[argument])))
        }
    }

    /// The text inside the parentheses opening at `opening`.
    private static func group(in text: [Character], opening: Int, expression: String) throws -> Range<Int> {
        var depth = 0
        for index in opening..<text.count {
            if text[index] == "(" { depth += 1 }
            if text[index] == ")" { depth -= 1; if depth == 0 { return (opening + 1)..<index } }
        }
        throw Unbalanced(expression: expression)
    }

    /// The text inside the parentheses closing at `closing`.
    private static func group(in text: [Character], closing: Int, expression: String) throws -> Range<Int> {
        var depth = 0
        for index in stride(from: closing, through: 0, by: -1) {
            if text[index] == ")" { depth += 1 }
            if text[index] == "(" { depth -= 1; if depth == 0 { return (index + 1)..<closing } }
        }
        throw Unbalanced(expression: expression)
    }
}
