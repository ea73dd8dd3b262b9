#ifndef TAKT_CSQLITE_SHIM_H
#define TAKT_CSQLITE_SHIM_H
#include <sqlite3.h>

// SQLITE_TRANSIENT is a cast macro Swift cannot import: TaktStore's Statement binds text through this
// (it returns the result code).
static inline int takt_sqlite3_bind_text_transient_rc(sqlite3_stmt *s, int i, const char *v, int n) {
    return sqlite3_bind_text(s, i, v, n, SQLITE_TRANSIENT);
}
// sqlite3_db_config is variadic: readers turn off the checkpoint-on-close so only the writer ever checkpoints.
static inline int takt_sqlite3_db_config_no_ckpt_on_close(sqlite3 *db, int on) {
    return sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, on, (int *)0);
}
// sqlite3_config is variadic too. Memory statistics (on by default) take a process-wide mutex on every
// sqlite3_malloc and sqlite3_free; nothing here reads them. Must run before SQLite initializes.
static inline int takt_sqlite3_disable_memstatus(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
#endif
