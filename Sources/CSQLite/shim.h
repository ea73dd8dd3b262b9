#ifndef TAKT_CSQLITE_SHIM_H
#define TAKT_CSQLITE_SHIM_H
#include <sqlite3.h>

// SQLITE_TRANSIENT is a cast macro Swift cannot import: bind calls use this instead.
static inline void takt_sqlite3_bind_text_transient(sqlite3_stmt *s, int i, const char *v, int n) {
    sqlite3_bind_text(s, i, v, n, SQLITE_TRANSIENT);
}
static inline void takt_sqlite3_bind_blob_transient(sqlite3_stmt *s, int i, const void *v, int n) {
    sqlite3_bind_blob(s, i, v, n, SQLITE_TRANSIENT);
}
// sqlite3_config is variadic: wrap the one use we have.
static inline int takt_sqlite3_config_multithread(void) {
    return sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
}
#endif
