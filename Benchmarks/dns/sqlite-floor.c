/* What SQLite itself charges to store one DNS query row, with nothing of the sinkhole around
 * it: the floor under "every query stored" in instructions per query.
 *
 *   sqlite-floor MODE ROWS DB
 *
 * MODE upsert:  the sinkhole's dns_queries (WITHOUT ROWID, key (hour, src_ip, qname,
 *               qname_truncated, qtype)) and its INSERT … ON CONFLICT DO UPDATE;
 *       insert:  the same columns in a rowid table with no key, plain INSERT (rows append);
 *       compact: six integer columns (time, source as a blob, port, name id, type, rcode),
 *               plain INSERT: about the least a per-query row can hold.
 * Every row has a distinct name (the benchmark's query mix: 34,000 distinct rows in 42,000
 * queries), one transaction per 4096 rows, WAL and synchronous=NORMAL as the sinkhole runs.
 * sqlite-floor.sh runs it under callgrind at two row counts and prints the slope. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void check(int rc, sqlite3 *db, const char *what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
        fprintf(stderr, "sqlite-floor: %s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: sqlite-floor upsert|insert|compact ROWS DB\n"); return 2; }
    const char *mode = argv[1];
    long rows = atol(argv[2]);
    const char *path = argv[3];
    unlink(path);
    sqlite3 *db;
    check(sqlite3_open(path, &db), db, "open");
    check(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;", 0, 0, 0), db, "pragmas");
    const char *schema, *sql;
    if (strcmp(mode, "upsert") == 0) {
        schema = "CREATE TABLE q (hour INTEGER NOT NULL, src_ip TEXT NOT NULL, qname TEXT NOT NULL,"
                 " qname_truncated INTEGER NOT NULL, qtype INTEGER NOT NULL, count INTEGER NOT NULL,"
                 " first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, last_rcode INTEGER NOT NULL,"
                 " family TEXT NOT NULL, rate_limited INTEGER NOT NULL,"
                 " PRIMARY KEY (hour, src_ip, qname, qname_truncated, qtype)) WITHOUT ROWID";
        sql = "INSERT INTO q (hour, src_ip, qname, qtype, count, first_seen, last_seen, last_rcode, family,"
              " qname_truncated, rate_limited) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
              " ON CONFLICT (hour, src_ip, qname, qname_truncated, qtype) DO UPDATE SET"
              " count = count + excluded.count, rate_limited = rate_limited + excluded.rate_limited,"
              " first_seen = min(first_seen, excluded.first_seen),"
              " last_rcode = CASE WHEN excluded.last_seen >= last_seen THEN excluded.last_rcode ELSE last_rcode END,"
              " last_seen = max(last_seen, excluded.last_seen)";
    } else if (strcmp(mode, "insert") == 0) {
        schema = "CREATE TABLE q (hour INTEGER NOT NULL, src_ip TEXT NOT NULL, qname TEXT NOT NULL,"
                 " qname_truncated INTEGER NOT NULL, qtype INTEGER NOT NULL, count INTEGER NOT NULL,"
                 " first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, last_rcode INTEGER NOT NULL,"
                 " family TEXT NOT NULL, rate_limited INTEGER NOT NULL)";
        sql = "INSERT INTO q (hour, src_ip, qname, qtype, count, first_seen, last_seen, last_rcode, family,"
              " qname_truncated, rate_limited) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
    } else if (strcmp(mode, "compact") == 0) {
        schema = "CREATE TABLE q (t INTEGER NOT NULL, src BLOB NOT NULL, sport INTEGER NOT NULL,"
                 " qname_id INTEGER NOT NULL, qtype INTEGER NOT NULL, rcode INTEGER NOT NULL)";
        sql = "INSERT INTO q VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    } else {
        fprintf(stderr, "sqlite-floor: unknown mode %s\n", mode);
        return 2;
    }
    check(sqlite3_exec(db, schema, 0, 0, 0), db, "schema");
    sqlite3_stmt *s;
    check(sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, 0), db, "prepare");
    int compact = strcmp(mode, "compact") == 0;
    char name[64];
    unsigned x = 20261129;
    const long long t0 = 1764420000000000LL;
    for (long i = 0; i < rows; i++) {
        if (i % 4096 == 0) {
            if (i) check(sqlite3_exec(db, "COMMIT", 0, 0, 0), db, "commit");
            check(sqlite3_exec(db, "BEGIN IMMEDIATE", 0, 0, 0), db, "begin");
        }
        x = x * 1103515245u + 12345u;
        int length = snprintf(name, sizeof name, "q%08x.cc%ld.botnet.example", x, i % 10);
        if (compact) {
            sqlite3_bind_int64(s, 1, t0 + i);
            sqlite3_bind_blob(s, 2, "\x7f\0\0\1", 4, SQLITE_STATIC);
            sqlite3_bind_int(s, 3, 40000 + (int)(i % 20000));
            sqlite3_bind_int(s, 4, (int)(i % 10000));
            sqlite3_bind_int(s, 5, 1);
            sqlite3_bind_int(s, 6, 0);
        } else {
            sqlite3_bind_int64(s, 1, t0 / 1000000 / 3600 * 3600);
            sqlite3_bind_text(s, 2, "127.0.0.1", -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 3, name, length, SQLITE_STATIC);
            sqlite3_bind_int(s, 4, 1);
            sqlite3_bind_int(s, 5, 1);
            sqlite3_bind_int64(s, 6, t0 + i);
            sqlite3_bind_int64(s, 7, t0 + i);
            sqlite3_bind_int(s, 8, 0);
            sqlite3_bind_text(s, 9, "rustock", -1, SQLITE_STATIC);
            sqlite3_bind_int(s, 10, 0);
            sqlite3_bind_int(s, 11, 0);
        }
        check(sqlite3_step(s), db, "step");
        sqlite3_reset(s);
    }
    check(sqlite3_exec(db, "COMMIT", 0, 0, 0), db, "commit");
    sqlite3_finalize(s);
    sqlite3_close(db);
    return 0;
}
