/// The SQLite schema as numbered migrations, applied in order inside one transaction each and
/// recorded in `schema_migrations`. A released migration is never edited: changes are new
/// entries, so any earlier database upgrades in place. Versions need not be consecutive: each
/// one missing from a file's `schema_migrations` is applied, whatever its highest.
///
/// `checkins` is clustered on its key (WITHOUT ROWID): event ids start with the session's start
/// time, so a node's inserts append at the right edge of one B-tree instead of updating a rowid
/// table and a separate key index. Indexes for the feeds' lookups arrive with the feeds.
///
/// Times are integers in microseconds since the Unix epoch, UTC (`datetime(t / 1000000,
/// 'unixepoch')` renders them); addresses are their canonical text (RFC 5952 for IPv6).
enum SQLiteSchema {
    static let migrations: [(version: Int, sql: String)] = [
        (1, """
        CREATE TABLE checkins (
            node TEXT NOT NULL,
            event_id TEXT NOT NULL,
            first_seen INTEGER NOT NULL,
            last_seen INTEGER NOT NULL,
            count INTEGER NOT NULL,
            transport TEXT NOT NULL,
            service TEXT NOT NULL,
            family TEXT NOT NULL,
            src_ip TEXT NOT NULL,
            src_port INTEGER NOT NULL,
            dst_ip TEXT NOT NULL,
            dst_port INTEGER NOT NULL,
            name TEXT NOT NULL,
            name_truncated INTEGER NOT NULL,
            dns_type INTEGER NOT NULL,
            dns_rcode INTEGER NOT NULL,
            PRIMARY KEY (node, event_id)
        ) WITHOUT ROWID;
        CREATE INDEX checkins_first_seen ON checkins (first_seen);

        CREATE TABLE infections (
            day TEXT NOT NULL,
            src_ip TEXT NOT NULL,
            family TEXT NOT NULL,
            first_seen INTEGER NOT NULL,
            last_seen INTEGER NOT NULL,
            count INTEGER NOT NULL,
            last_src_port INTEGER NOT NULL,
            PRIMARY KEY (day, src_ip, family)
        ) WITHOUT ROWID;

        CREATE TABLE dns_queries (
            hour INTEGER NOT NULL,
            src_ip TEXT NOT NULL,
            qname TEXT NOT NULL,
            qname_truncated INTEGER NOT NULL,
            qtype INTEGER NOT NULL,
            count INTEGER NOT NULL,
            first_seen INTEGER NOT NULL,
            last_seen INTEGER NOT NULL,
            last_rcode INTEGER NOT NULL,
            family TEXT NOT NULL,
            PRIMARY KEY (hour, src_ip, qname, qname_truncated, qtype)
        ) WITHOUT ROWID;

        CREATE TABLE counters (
            node TEXT NOT NULL,
            name TEXT NOT NULL,
            value INTEGER NOT NULL,
            PRIMARY KEY (node, name)
        ) WITHOUT ROWID;

        CREATE TABLE runs (
            run_id INTEGER PRIMARY KEY,
            node TEXT NOT NULL,
            started_at INTEGER NOT NULL,
            stopped_at INTEGER,
            offered INTEGER NOT NULL DEFAULT 0,
            stored INTEGER NOT NULL DEFAULT 0,
            dropped INTEGER NOT NULL DEFAULT 0
        );
        """),
        // Response rate limiting: how many of a row's queries got a truncated reply or none.
        (2, """
        ALTER TABLE dns_queries ADD COLUMN rate_limited INTEGER NOT NULL DEFAULT 0;
        """),
        // The HTTP responder's detail, and the first bytes of connections that were not the
        // listener's protocol. Network bytes are stored as received: TEXT when valid UTF-8,
        // else BLOB. `truncated` lists the fields cut at their bound (`http_path,first_bytes`).
        (3, """
        ALTER TABLE checkins ADD COLUMN http_method TEXT NOT NULL DEFAULT '';
        ALTER TABLE checkins ADD COLUMN http_path TEXT NOT NULL DEFAULT '';
        ALTER TABLE checkins ADD COLUMN http_version TEXT NOT NULL DEFAULT '';
        ALTER TABLE checkins ADD COLUMN http_user_agent TEXT NOT NULL DEFAULT '';
        ALTER TABLE checkins ADD COLUMN http_referer TEXT NOT NULL DEFAULT '';
        ALTER TABLE checkins ADD COLUMN http_forwarded_for TEXT NOT NULL DEFAULT '';
        ALTER TABLE checkins ADD COLUMN http_content_length INTEGER;
        ALTER TABLE checkins ADD COLUMN http_body_bytes INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE checkins ADD COLUMN http_body_sha256 TEXT NOT NULL DEFAULT '';
        ALTER TABLE checkins ADD COLUMN http_header_count INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE checkins ADD COLUMN http_status INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE checkins ADD COLUMN first_bytes TEXT NOT NULL DEFAULT '';
        ALTER TABLE checkins ADD COLUMN truncated TEXT NOT NULL DEFAULT '';
        """),
        // The TLS responder's detail: the client's hello (SNI as received, the highest version
        // and the preferred cipher suite it offered, how many suites), what the sinkhole's hello
        // chose and whether the handshake completed. Versions and suites are names (`TLSv1.3`,
        // IANA `TLS_AES_128_GCM_SHA256`), hex (`0x00c4`) for code points without one; empty when
        // not TLS. `truncated` may now name `tls_sni`.
        (4, """
        ALTER TABLE checkins ADD COLUMN tls_sni TEXT NOT NULL DEFAULT '';
        ALTER TABLE checkins ADD COLUMN tls_offered_version TEXT NOT NULL DEFAULT '';
        ALTER TABLE checkins ADD COLUMN tls_offered_cipher TEXT NOT NULL DEFAULT '';
        ALTER TABLE checkins ADD COLUMN tls_offered_cipher_count INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE checkins ADD COLUMN tls_version TEXT NOT NULL DEFAULT '';
        ALTER TABLE checkins ADD COLUMN tls_cipher TEXT NOT NULL DEFAULT '';
        ALTER TABLE checkins ADD COLUMN tls_completed INTEGER NOT NULL DEFAULT 0;
        """),
        // The catch-all: `dst_ip`/`dst_port` are what the bot dialled (the original destination
        // of a redirected connection or tproxied datagram); `listener_port` is the catch-all
        // listener that took it (0 for the other services) and `redirected` says the kernel
        // reported a destination other than the listener's own.
        (5, """
        ALTER TABLE checkins ADD COLUMN listener_port INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE checkins ADD COLUMN redirected INTEGER NOT NULL DEFAULT 0;
        """),
        // The capture engine: `tcp_flags` ORs the flags of every packet of the session (0x02
        // alone: a SYN that never completed); `icmp_type`/`icmp_code` of an ICMP echo.
        (6, """
        ALTER TABLE checkins ADD COLUMN tcp_flags INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE checkins ADD COLUMN icmp_type INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE checkins ADD COLUMN icmp_code INTEGER NOT NULL DEFAULT 0;
        """),
        // Hourly summaries for `sinkhole stats`, kept by the writer in each batch's
        // transaction and filled here from what an older database already holds, so that
        // stats never scan `checkins` (millions of rows) to answer. Hours are seconds since
        // the epoch of the hour's start, as in `dns_queries`.
        (8, """
        CREATE TABLE service_hours (
            hour INTEGER NOT NULL,
            service TEXT NOT NULL,
            family TEXT NOT NULL,
            events INTEGER NOT NULL,
            sessions INTEGER NOT NULL,
            PRIMARY KEY (hour, service, family)
        ) WITHOUT ROWID;
        CREATE TABLE name_hours (
            hour INTEGER NOT NULL,
            family TEXT NOT NULL,
            name TEXT NOT NULL,
            sessions INTEGER NOT NULL,
            PRIMARY KEY (hour, family, name)
        ) WITHOUT ROWID;
        CREATE TABLE infection_days (
            day TEXT NOT NULL,
            family TEXT NOT NULL,
            addresses INTEGER NOT NULL,
            PRIMARY KEY (day, family)
        ) WITHOUT ROWID;
        CREATE TABLE resolver_hours (
            hour INTEGER NOT NULL,
            src_ip TEXT NOT NULL,
            queries INTEGER NOT NULL,
            PRIMARY KEY (hour, src_ip)
        ) WITHOUT ROWID;
        INSERT INTO service_hours
            SELECT first_seen / 3600000000 * 3600, service, family, sum(count), count(*) FROM checkins GROUP BY 1, 2, 3;
        INSERT INTO service_hours
            SELECT hour, 'dns', family, sum(count), 0 FROM dns_queries GROUP BY 1, 3;
        INSERT INTO name_hours
            SELECT first_seen / 3600000000 * 3600, family, lower(name), count(*) FROM checkins WHERE name != '' GROUP BY 1, 2, 3;
        INSERT INTO resolver_hours
            SELECT hour, src_ip, sum(count) FROM dns_queries GROUP BY 1, 2;
        INSERT INTO infection_days
            SELECT day, family, count(*) FROM infections GROUP BY 1, 2;
        """),
        // The source port of each DNS row's last query, for the feeds (`src_port`).
        (9, """
        ALTER TABLE dns_queries ADD COLUMN last_src_port INTEGER NOT NULL DEFAULT 0;
        """),
    ]

    static var latestVersion: Int { migrations.last?.version ?? 0 }

    /// Brings the database to the latest version. Refuses a database written by a newer
    /// sinkhole rather than guessing at its schema.
    static func migrate(_ db: SQLiteConnection) throws {
        try db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
        let applied = Set(try db.integers("SELECT version FROM schema_migrations"))
        let current = applied.max() ?? 0
        if current > Int64(latestVersion) {
            throw SQLiteError(code: 0, message: "schema version \(current) is newer than this sinkhole (\(latestVersion))",
                              context: "opening \(db.path)")
        }
        // Every migration the file has not had, not only those above its highest: branches
        // take their own numbers and land in any order, so a file at 8 may still lack 6.
        for migration in migrations where !applied.contains(Int64(migration.version)) {
            try db.execute("BEGIN IMMEDIATE")
            do {
                try db.execute(migration.sql)
                try db.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (\(migration.version), strftime('%s','now'))")
                try db.execute("COMMIT")
            } catch {
                try? db.execute("ROLLBACK")
                throw error
            }
        }
    }
}
