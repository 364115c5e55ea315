/// The batch statements: one `INSERT … SELECT … ON CONFLICT DO UPDATE` per table (from
/// `unnest(…)` of the batch's arrays, or for check-ins from the rows copied into
/// `checkins_incoming`), merging exactly as SQLiteStore's statements do.
extension PostgresStore {
    /// A connection's own table of the delta rows a batch merges: the columns of `checkins`,
    /// emptied by every commit (and by a rollback).
    static let createIncomingCheckIns = """
        CREATE TEMPORARY TABLE IF NOT EXISTS checkins_incoming (LIKE checkins INCLUDING DEFAULTS) ON COMMIT DELETE ROWS
        """

    /// Same merge as SQLiteStore's check-in upsert: counts add, first/last seen widen, and a
    /// stored row's empty detail is filled from the new one (the richer detail is kept); a
    /// responder's HTTP detail replaces what the capture parsed from a first segment.
    static let mergeCheckIns = """
        INSERT INTO checkins AS c (\(PostgresCopyRows.checkInColumns.joined(separator: ", ")))
        SELECT \(PostgresCopyRows.checkInColumns.joined(separator: ", ")) FROM checkins_incoming
        ON CONFLICT (node, event_id, session_start) DO UPDATE SET
            first_seen = least(c.first_seen, excluded.first_seen),
            last_seen = greatest(c.last_seen, excluded.last_seen),
            count = c.count + excluded.count,
            service = CASE WHEN c.service = 'packet' THEN excluded.service ELSE c.service END,
            family = CASE WHEN c.family = '' THEN excluded.family ELSE c.family END,
            name = CASE WHEN c.name = '' THEN excluded.name ELSE c.name END,
            name_truncated = CASE WHEN c.name = '' THEN excluded.name_truncated ELSE c.name_truncated END,
            dns_type = CASE WHEN c.dns_type = 0 THEN excluded.dns_type ELSE c.dns_type END,
            http_method = CASE WHEN c.http_method = '' OR (c.service = 'packet' AND excluded.service <> 'packet' AND excluded.http_method <> '') THEN excluded.http_method ELSE c.http_method END,
            http_path = CASE WHEN c.http_method = '' OR (c.service = 'packet' AND excluded.service <> 'packet' AND excluded.http_method <> '') THEN excluded.http_path ELSE c.http_path END,
            http_version = CASE WHEN c.http_method = '' OR (c.service = 'packet' AND excluded.service <> 'packet' AND excluded.http_method <> '') THEN excluded.http_version ELSE c.http_version END,
            http_user_agent = CASE WHEN c.http_method = '' OR (c.service = 'packet' AND excluded.service <> 'packet' AND excluded.http_method <> '') THEN excluded.http_user_agent ELSE c.http_user_agent END,
            http_referer = CASE WHEN c.http_method = '' OR (c.service = 'packet' AND excluded.service <> 'packet' AND excluded.http_method <> '') THEN excluded.http_referer ELSE c.http_referer END,
            http_forwarded_for = CASE WHEN c.http_method = '' OR (c.service = 'packet' AND excluded.service <> 'packet' AND excluded.http_method <> '') THEN excluded.http_forwarded_for ELSE c.http_forwarded_for END,
            http_content_length = CASE WHEN c.http_method = '' OR (c.service = 'packet' AND excluded.service <> 'packet' AND excluded.http_method <> '') THEN excluded.http_content_length ELSE c.http_content_length END,
            http_body_bytes = CASE WHEN c.http_method = '' OR (c.service = 'packet' AND excluded.service <> 'packet' AND excluded.http_method <> '') THEN excluded.http_body_bytes ELSE c.http_body_bytes END,
            http_body_sha256 = CASE WHEN c.http_method = '' OR (c.service = 'packet' AND excluded.service <> 'packet' AND excluded.http_method <> '') THEN excluded.http_body_sha256 ELSE c.http_body_sha256 END,
            http_header_count = CASE WHEN c.http_method = '' OR (c.service = 'packet' AND excluded.service <> 'packet' AND excluded.http_method <> '') THEN excluded.http_header_count ELSE c.http_header_count END,
            http_status = CASE WHEN c.http_method = '' OR (c.service = 'packet' AND excluded.service <> 'packet' AND excluded.http_method <> '') THEN excluded.http_status ELSE c.http_status END,
            first_bytes = CASE WHEN c.first_bytes = '' THEN excluded.first_bytes ELSE c.first_bytes END,
            truncated = CASE WHEN c.truncated = '' THEN excluded.truncated ELSE c.truncated END,
            redirected = CASE WHEN c.listener_port = 0 THEN excluded.redirected ELSE c.redirected END,
            listener_port = CASE WHEN c.listener_port = 0 THEN excluded.listener_port ELSE c.listener_port END,
            tls_sni = CASE WHEN c.tls_offered_version = '' THEN excluded.tls_sni ELSE c.tls_sni END,
            tls_offered_cipher = CASE WHEN c.tls_offered_version = '' THEN excluded.tls_offered_cipher ELSE c.tls_offered_cipher END,
            tls_offered_cipher_count = CASE WHEN c.tls_offered_version = '' THEN excluded.tls_offered_cipher_count ELSE c.tls_offered_cipher_count END,
            tls_version = CASE WHEN c.tls_offered_version = '' THEN excluded.tls_version ELSE c.tls_version END,
            tls_cipher = CASE WHEN c.tls_offered_version = '' THEN excluded.tls_cipher ELSE c.tls_cipher END,
            tls_completed = CASE WHEN c.tls_offered_version = '' THEN excluded.tls_completed ELSE c.tls_completed END,
            tls_offered_version = CASE WHEN c.tls_offered_version = '' THEN excluded.tls_offered_version ELSE c.tls_offered_version END,
            tcp_flags = c.tcp_flags | excluded.tcp_flags,
            icmp_code = CASE WHEN c.icmp_type = 0 THEN excluded.icmp_code ELSE c.icmp_code END,
            icmp_type = CASE WHEN c.icmp_type = 0 THEN excluded.icmp_type ELSE c.icmp_type END
        """

    /// The infections upsert, and `infection_days` raised by the rows it inserted: an address
    /// new to a day and family, whichever node saw it first. Several nodes upserting one row
    /// at once are serialised by its key (the second waits for the first to commit, then takes
    /// the update path), so exactly one of them inserts it and counts the address. The rows
    /// an upsert inserted are those it returns with `xmax = 0`: an updated row version carries
    /// the updating transaction's id there (PostgreSQL's documented row header; the usual test
    /// for "inserted, not updated" since `ON CONFLICT` has no other way to say). Days and
    /// families are grouped before the second upsert, which must not meet a key twice, and
    /// both take their rows in key order so two nodes lock them in the same order.
    static let upsertInfections = """
        WITH upserted AS (
            INSERT INTO infections AS i (day, src_ip, family, first_seen, last_seen, count, last_src_port)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::int8[], $7::int8[])
                AS u(day, src_ip, family, first_seen, last_seen, count, last_src_port)
            ORDER BY day, src_ip, family
            ON CONFLICT (day, src_ip, family) DO UPDATE SET
                first_seen = least(i.first_seen, excluded.first_seen),
                last_src_port = CASE WHEN excluded.last_seen >= i.last_seen THEN excluded.last_src_port ELSE i.last_src_port END,
                last_seen = greatest(i.last_seen, excluded.last_seen),
                count = i.count + excluded.count
            RETURNING i.day, i.family, i.xmax = 0 AS inserted
        )
        INSERT INTO infection_days AS d (day, family, addresses)
        SELECT day, family, count(*) FROM upserted WHERE inserted GROUP BY day, family ORDER BY day, family
        ON CONFLICT (day, family) DO UPDATE SET addresses = d.addresses + excluded.addresses
        """

    /// The hourly summaries: their keys are unique in a batch (dictionary keys, see
    /// `PostgresRows`), and sorted so that nodes lock shared rows in one order.
    static let addServiceHours = """
        INSERT INTO service_hours AS s (hour, service, family, events, sessions)
        SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::int8[], $5::int8[])
            AS u(hour, service, family, events, sessions)
        ORDER BY hour, service, family
        ON CONFLICT (hour, service, family) DO UPDATE SET
            events = s.events + excluded.events, sessions = s.sessions + excluded.sessions
        """

    static let addNameHours = """
        INSERT INTO name_hours AS n (hour, family, name, sessions)
        SELECT * FROM unnest($1::int8[], $2::text[], $3::bytea[], $4::int8[]) AS u(hour, family, name, sessions)
        ORDER BY hour, family, name
        ON CONFLICT (hour, family, name) DO UPDATE SET sessions = n.sessions + excluded.sessions
        """

    static let addResolverHours = """
        INSERT INTO resolver_hours AS r (hour, src_ip, queries)
        SELECT * FROM unnest($1::int8[], $2::text[], $3::int8[]) AS u(hour, src_ip, queries)
        ORDER BY hour, src_ip
        ON CONFLICT (hour, src_ip) DO UPDATE SET queries = r.queries + excluded.queries
        """

    static let upsertDNSQueries = """
        INSERT INTO dns_queries AS q (hour, src_ip, qname, qtype, count, first_seen, last_seen, last_rcode, family,
                                      qname_truncated, rate_limited, last_src_port)
        SELECT * FROM unnest($1::int8[], $2::text[], $3::bytea[], $4::int8[], $5::int8[], $6::int8[], $7::int8[],
                             $8::int8[], $9::text[], $10::int8[], $11::int8[], $12::int8[])
        ON CONFLICT (hour, src_ip, qname, qname_truncated, qtype) DO UPDATE SET
            count = q.count + excluded.count,
            rate_limited = q.rate_limited + excluded.rate_limited,
            first_seen = least(q.first_seen, excluded.first_seen),
            last_rcode = CASE WHEN excluded.last_seen >= q.last_seen THEN excluded.last_rcode ELSE q.last_rcode END,
            last_src_port = CASE WHEN excluded.last_seen >= q.last_seen THEN excluded.last_src_port ELSE q.last_src_port END,
            last_seen = greatest(q.last_seen, excluded.last_seen)
        """
}
