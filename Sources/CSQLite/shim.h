#include <sqlite3.h>

// sqlite3_config is variadic, which Swift cannot call; these wrap the calls the store needs.

/// Turns off SQLite's memory statistics: with them on, every allocation takes a global mutex
/// (measured: ~5% of the writer's time). Must run before the first connection is opened.
static inline int sinkhole_sqlite3_disable_memstatus(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
