/* takt-send: reads events from stdin (JSON Lines, or CSV with a header row; field names of
 * takt.v1.Event) and sends them to taktd in batches, then prints the count of each result code.
 *
 *   takt-send [--host H] [--port P] [--batch N] [--gateway ID] [--timeout-ms MS]
 *             [--format auto|jsonl|csv] [--retries N] [--verbose]
 *
 * Output (stdout, last line):
 *   accepted=N duplicate=N low_confidence=N invalid=N unknown_entity=N unparsed=N batches=N
 * Rejected events are listed on stderr as "line L: CODE message" with --verbose.
 * Exit status: 0 when every line was parsed and sent (whatever the server's per-event codes),
 * 1 when a batch could not be sent (after retries) or a line could not be parsed, 2 on usage errors.
 *
 * Retries: a batch that fails with a retryable status (DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED,
 * UNAVAILABLE), a timeout, a GOAWAY or a lost connection is sent again on a new connection,
 * after the server's retry_after_ms. Ingest is idempotent, so events that were already stored
 * by the failed attempt come back DUPLICATE rather than being stored twice.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event_parse.h"
#include "takt_client.h"

typedef struct {
    const char *host, *port, *gateway, *format;
    int batch, timeout_ms, retries, verbose;
} options;

typedef struct {
    unsigned long long codes[6];
    unsigned long long unparsed, batches;
} tally;

static void usage(FILE *f) {
    fprintf(f, "usage: takt-send [--host H] [--port P] [--batch N] [--gateway ID] [--timeout-ms MS]\n"
               "                 [--format auto|jsonl|csv] [--retries N] [--verbose] < events\n");
}

static void sleep_ms(unsigned ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int retryable(const takt_error *e) {
    if (e->kind == TAKT_ERR_TIMEOUT || e->kind == TAKT_ERR_GOAWAY || e->kind == TAKT_ERR_IO) return 1;
    if (e->kind == TAKT_ERR_STATUS) return e->status_code == 1 || e->status_code == 4 || e->status_code == 8 || e->status_code == 14;
    return 0;
}

/* Sends one batch, reconnecting and retrying as needed. Returns 0 or -1. */
static int send_batch(takt_conn **conn, const options *o, Takt__V1__Event **events, const long *lines, size_t n,
                      tally *t) {
    takt_error err;
    unsigned delay = 100;
    for (int attempt = 0;; attempt++) {
        if (!*conn && takt_connect(conn, o->host, o->port, "takt-send/0.1", getenv("TAKT_TOKEN"), o->timeout_ms, &err) != 0) {
            fprintf(stderr, "takt-send: %s\n", err.message);
        } else {
            Takt__V1__BatchAck *ack = NULL;
            if (takt_submit_batch(*conn, events, n, o->gateway, o->timeout_ms, &ack, &err) == 0) {
                for (size_t i = 0; i < ack->n_codes; i++) t->codes[ack->codes[i] < 6 ? ack->codes[i] : 0]++;
                if (o->verbose)
                    for (size_t i = 0; i < ack->n_rejections; i++) {
                        const Takt__V1__Rejection *r = ack->rejections[i];
                        fprintf(stderr, "line %ld: %s %s\n", r->index < n ? lines[r->index] : -1L,
                                takt_result_code_name((int)r->code), r->message ? r->message : "");
                    }
                t->batches++;
                takt__v1__batch_ack__free_unpacked(ack, NULL);
                return 0;
            }
            fprintf(stderr, "takt-send: batch of %zu events: %s\n", n, err.message);
            if (err.kind != TAKT_ERR_STATUS && err.kind != TAKT_ERR_TIMEOUT) { /* connection unusable */
                takt_close(*conn);
                *conn = NULL;
            }
            if (!retryable(&err)) return -1;
            if (err.retry_after_ms > delay) delay = err.retry_after_ms;
        }
        if (attempt >= o->retries) return -1;
        sleep_ms(delay);
        delay *= 2;
    }
}

int main(int argc, char **argv) {
    options o = {.host = "127.0.0.1", .port = "7411", .gateway = NULL, .format = "auto",
                 .batch = 500, .timeout_ms = 10000, .retries = 3, .verbose = 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) { o.verbose = 1; continue; }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(stdout); return 0; }
        if (!v) { usage(stderr); return 2; }
        if (strcmp(a, "--host") == 0) o.host = v;
        else if (strcmp(a, "--port") == 0) o.port = v;
        else if (strcmp(a, "--gateway") == 0) o.gateway = v;
        else if (strcmp(a, "--format") == 0) o.format = v;
        else if (strcmp(a, "--batch") == 0) o.batch = atoi(v);
        else if (strcmp(a, "--timeout-ms") == 0) o.timeout_ms = atoi(v);
        else if (strcmp(a, "--retries") == 0) o.retries = atoi(v);
        else { usage(stderr); return 2; }
        i++;
    }
    if (o.batch < 1 || o.timeout_ms < 0 || o.retries < 0 ||
        (strcmp(o.format, "auto") && strcmp(o.format, "jsonl") && strcmp(o.format, "csv"))) {
        usage(stderr);
        return 2;
    }

    takt_conn *conn = NULL;
    Takt__V1__Event **events = calloc((size_t)o.batch, sizeof *events);
    long *lines = calloc((size_t)o.batch, sizeof *lines);
    if (!events || !lines) { fprintf(stderr, "takt-send: out of memory\n"); return 1; }
    size_t n = 0;
    tally t;
    memset(&t, 0, sizeof t);
    int failed = 0;
    int format = 0; /* 0: undecided, 1: jsonl, 2: csv */
    if (strcmp(o.format, "jsonl") == 0) format = 1;
    csv_header header = {0, NULL};
    int have_header = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    char why[256];

    while ((len = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        const char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '\0') continue;
        if (format == 0) format = (*p == '{') ? 1 : 2;
        Takt__V1__Event *e = NULL;
        int rc;
        if (format == 2 && !have_header) {
            if (csv_parse_header(p, &header, why, sizeof why) != 0) {
                fprintf(stderr, "takt-send: line %ld: %s\n", lineno, why);
                failed = 1;
                break;
            }
            have_header = 1;
            continue;
        }
        rc = format == 1 ? event_from_json(p, &e, why, sizeof why) : event_from_csv(&header, p, &e, why, sizeof why);
        if (rc != 0) {
            fprintf(stderr, "takt-send: line %ld: %s\n", lineno, why);
            t.unparsed++;
            continue;
        }
        events[n] = e;
        lines[n] = lineno;
        n++;
        if (n == (size_t)o.batch) {
            if (send_batch(&conn, &o, events, lines, n, &t) != 0) failed = 1;
            for (size_t i = 0; i < n; i++) event_free(events[i]);
            n = 0;
            if (failed) break;
        }
    }
    if (!failed && n > 0 && send_batch(&conn, &o, events, lines, n, &t) != 0) failed = 1;
    for (size_t i = 0; i < n; i++) event_free(events[i]);
    free(line);
    free(events);
    free(lines);
    csv_header_free(&header);
    takt_close(conn);

    printf("accepted=%llu duplicate=%llu low_confidence=%llu invalid=%llu unknown_entity=%llu unparsed=%llu batches=%llu\n",
           t.codes[1], t.codes[2], t.codes[3], t.codes[4], t.codes[5], t.unparsed, t.batches);
    return failed || t.unparsed ? 1 : 0;
}
