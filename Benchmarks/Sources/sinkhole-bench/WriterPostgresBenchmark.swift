import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import PostgresTestSupport
import SinkholeCore
import SinkholeStore

/// The writer into PostgreSQL: the same workloads as into SQLite, through the real `Writer`
/// and `PostgresStore`, against a throwaway cluster this run starts itself (the tests'
/// `PostgresCluster`: initdb into a temporary directory, a unix socket only, fsync off,
/// stopped and removed at the end). The anchor is the naive way: one `INSERT` per row, each
/// waited for, in transactions of 4096 rows, on the same socket in the same run.
enum PostgresWriterBenchmark {
    struct Result {
        var workload: WriterWorkload
        var run: WriterRun
        var anchorRowsPerSecond: Double
        var target: Double
        var metric: String
    }

    /// Rows the anchor inserts: enough for a steady rate (it runs at one round trip per row).
    static let anchorRows = 32_768

    static func run(uniqueCount: Int, dnsKeys: Int, only: String?, anchors: Bool) async throws -> [Result] {
        let cluster = try PostgresCluster.makePrivate()
        defer { cluster.destroy() }
        var logger = Logger(label: "sinkhole-bench")
        logger.logLevel = .warning
        let workloads: [(WriterWorkload, anchor: Anchor, target: Double, metric: String)] = [
            (WriterWorkload(name: "1:1 sessions (tcp, 8 per bot)", count: uniqueCount, table: "checkins",
                            event: { Fixtures.uniqueSession($0, ratePerSecond: WorkloadRates.unique) }),
             .sessions, 50_000, "unique rows/s"),
            (WriterWorkload(name: "100:1 DNS, repeats clustered", count: dnsKeys * DNSWorkload.repeats, table: "dns_queries",
                            event: { DNSWorkload.event($0, keys: dnsKeys, spread: false) }),
             .dnsQueries, 200_000, "events/s"),
            (WriterWorkload(name: "100:1 DNS, repeats spread over the run", count: dnsKeys * DNSWorkload.repeats, table: "dns_queries",
                            event: { DNSWorkload.event($0, keys: dnsKeys, spread: true) }),
             .dnsQueries, 200_000, "events/s"),
            (WriterWorkload(name: "100:1 DNS, repeats spread over the run, dns_batch_size 32768", count: dnsKeys * DNSWorkload.repeats,
                            table: "dns_queries", event: { DNSWorkload.event($0, keys: dnsKeys, spread: true) }, dnsBatchSize: 32_768),
             .dnsQueries, 200_000, "events/s"),
        ]
        var results: [Result] = []
        for (workload, anchor, target, metric) in workloads where only.map({ workload.name.contains($0) }) ?? true {
            log("writer into PostgreSQL: \(workload.name), \(workload.count) events")
            let database = try cluster.makeDatabase()
            let location = try PostgresLocation(url: cluster.url(database: database))
            let store = try PostgresStore(location: location, logger: logger)
            let run = try await runWriter(workload, store: store, timeLimit: .seconds(120)) {
                Int(try cluster.psql(database: database, "SELECT count(*) FROM \(workload.table)")
                    .trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
            }
            store.close()
            var anchorRate = Double.nan
            if anchors {
                log("one-row INSERT anchor into PostgreSQL: \(workload.name)")
                let anchorDatabase = try cluster.makeDatabase()
                // The schema, as the writer's store made it.
                try PostgresStore(location: PostgresLocation(url: cluster.url(database: anchorDatabase)), logger: logger).close()
                let (rows, seconds) = try await insertOneRowPerStatement(anchor, count: min(anchorRows, anchor == .sessions ? uniqueCount : dnsKeys),
                                                                         cluster: cluster, database: anchorDatabase)
                anchorRate = Double(rows) / seconds
            }
            results.append(Result(workload: workload, run: run, anchorRowsPerSecond: anchorRate, target: target, metric: metric))
        }
        return results
    }

    enum Anchor { case sessions, dnsQueries }

    /// The anchor's rows as the SQLite anchor writes them (`RawAnchor`): for sessions one
    /// `checkins` row per event and one `infections` row per 8; for DNS one `dns_queries` row
    /// per key. Each statement is sent and its answer awaited before the next.
    static func insertOneRowPerStatement(_ anchor: Anchor, count: Int, cluster: PostgresCluster,
                                         database: String) async throws -> (rows: Int, seconds: Double) {
        let configuration = PostgresConnection.Configuration(unixSocketPath: "\(cluster.directory)/.s.PGSQL.\(cluster.port)",
                                                             username: cluster.user, password: nil, database: database)
        var quiet = Logger(label: "sinkhole-bench")
        quiet.logLevel = .critical
        let connection = try await PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.next(),
                                                              configuration: configuration, id: 1, logger: quiet)
        let day = Fixtures.hour.dayStart.seconds
        try await connection.query(PostgresQuery(unsafeSQL: """
            CREATE TABLE IF NOT EXISTS checkins_bench PARTITION OF checkins
            FOR VALUES FROM (\(day * 1_000_000)) TO (\((day + 86_400) * 1_000_000))
            """), logger: quiet)
        let clock = ContinuousClock()
        let start = clock.now
        var rows = 0
        for first in stride(from: 0, to: count, by: RawAnchor.batch) {
            try await connection.query("BEGIN", logger: quiet)
            for i in first..<min(first + RawAnchor.batch, count) {
                switch anchor {
                case .sessions:
                    let e = Fixtures.uniqueSession(i, ratePerSecond: WorkloadRates.unique)
                    let eventID = "\(e.time.microseconds)-tcp-\(e.source)-\(e.sourcePort)-\(e.destination)-\(e.destinationPort)"
                    let (time, source, port, destination, destinationPort) =
                        (e.time.microseconds, e.source.description, Int64(e.sourcePort), e.destination.description, Int64(e.destinationPort))
                    try await connection.query("""
                        INSERT INTO checkins (node, event_id, session_start, first_seen, last_seen, count, transport, service, family,
                                              src_ip, src_port, dst_ip, dst_port, name, name_truncated, dns_type, dns_rcode)
                        VALUES ('bench', \(eventID), \(time), \(time), \(time), 1, 'tcp', 'tcp', 'rustock',
                                \(source), \(port), \(destination), \(destinationPort), '', 0, 0, 0)
                        """, logger: quiet)
                    rows += 1
                    if i & 7 == 0 {
                        try await connection.query("""
                            INSERT INTO infections (day, src_ip, family, first_seen, last_seen, count, last_src_port)
                            VALUES (\(e.time.dayString), \(source), 'rustock', \(time), \(time), 8, \(port))
                            """, logger: quiet)
                    }
                case .dnsQueries:
                    let e = DNSWorkload.event(key: i, time: Fixtures.hour, mixedCase: false)
                    let (hour, source, qname, qtype, time) =
                        (e.time.hourStart.seconds, e.source.description, ByteBuffer(string: e.name.text), Int64(e.dnsType), e.time.microseconds)
                    try await connection.query("""
                        INSERT INTO dns_queries (hour, src_ip, qname, qtype, count, first_seen, last_seen, last_rcode, family, qname_truncated)
                        VALUES (\(hour), \(source), \(qname), \(qtype), 100, \(time), \(time), 0, 'conficker', 0)
                        """, logger: quiet)
                    rows += 1
                }
            }
            try await connection.query("COMMIT", logger: quiet)
        }
        let elapsed = clock.now - start
        try await connection.close()
        let (s, atto) = elapsed.components
        return (rows, Double(s) + Double(atto) / 1e18)
    }
}
