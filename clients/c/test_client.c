/* takt-client-test: scenarios of the C client against a real taktd, driven by
 * clients/tests/test_c_client.py (which starts the servers and checks the output).
 *
 *   takt-client-test HOST PORT ingest SITE         per-event codes of a batch with duplicates and invalid events
 *   takt-client-test HOST PORT metrics SITE FROM TO  prints factory and worker metrics as JSON (one line)
 *   takt-client-test HOST PORT status               call status errors: bad MetricsQuery; a batch over --max-batch 10
 *   takt-client-test HOST PORT deadline PID         SIGSTOPs the server, expects the deadline, SIGCONTs it
 *   takt-client-test HOST PORT strict SITE          strict server: UNKNOWN_ENTITY, then ACCEPTED once registered
 *
 * Prints "ok - ..." / "not ok - ..." lines; exit status 0 when every check passed.
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <dirent.h>
#include <time.h>

#include "takt_client.h"

static int failures = 0;
static const char *host, *port;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (cond) {                                                        \
            printf("ok - ");                                               \
        } else {                                                           \
            printf("not ok - ");                                           \
            failures++;                                                    \
        }                                                                  \
        printf(__VA_ARGS__);                                               \
        printf("\n");                                                      \
        fflush(stdout);                                                    \
    } while (0)

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static takt_conn *connect_or_die(void) {
    takt_conn *c;
    takt_error err;
    if (takt_connect(&c, host, port, "takt-client-test", NULL, 5000, &err) != 0) {
        printf("not ok - connect: %s\n", err.message);
        exit(1);
    }
    return c;
}

/* Events are built on the stack; strings point at literals or caller buffers. */
static Takt__V1__Event mk(int64_t t, char *worker, char *station, Takt__V1__EventKind kind, double conf, char *site) {
    Takt__V1__Event e;
    takt__v1__event__init(&e);
    e.event_time_ms = t;
    e.worker_id = worker;
    e.workstation_id = station;
    e.kind = kind;
    e.confidence = conf;
    e.site_id = site;
    return e;
}

enum { ACCEPTED = 1, DUPLICATE = 2, LOW_CONFIDENCE = 3, INVALID = 4, UNKNOWN_ENTITY = 5 };

static void expect_codes(const char *what, const Takt__V1__BatchAck *ack, const int *want, size_t n) {
    int same = ack->n_codes == n;
    for (size_t i = 0; same && i < n; i++) same = (int)ack->codes[i] == want[i];
    char got[256] = "";
    for (size_t i = 0; i < ack->n_codes && strlen(got) < 200; i++) {
        strcat(got, takt_result_code_name((int)ack->codes[i]));
        strcat(got, i + 1 < ack->n_codes ? "," : "");
    }
    CHECK(same, "%s: codes %s", what, got);
}

static int scenario_ingest(char *site) {
    takt_conn *c = connect_or_die();
    int64_t t0 = wall_ms() - 3600 * 1000;
    Takt__V1__Event ev[8];
    ev[0] = mk(t0, "CW1", "CS1", TAKT__V1__EVENT_KIND__EVENT_KIND_WORKING, 0.9, site);
    ev[1] = mk(t0 + 60000, "CW1", "CS1", TAKT__V1__EVENT_KIND__EVENT_KIND_PRODUCT_COUNT, 0.95, site);
    ev[1].count = 4;
    ev[2] = mk(t0, "CW1", "CS1", TAKT__V1__EVENT_KIND__EVENT_KIND_WORKING, 0.9, site);        /* duplicate of 0 */
    ev[3] = mk(t0 + 120000, "", "CS1", TAKT__V1__EVENT_KIND__EVENT_KIND_IDLE, 0.9, site);      /* no worker_id */
    ev[4] = mk(t0 + 130000, "CW1", "CS1", TAKT__V1__EVENT_KIND__EVENT_KIND_IDLE, 1.5, site);   /* confidence > 1 */
    ev[5] = mk(t0 + 140000, "CW1", "CS1", TAKT__V1__EVENT_KIND__EVENT_KIND_UNSPECIFIED, 0.9, site); /* no kind */
    ev[6] = mk(t0 + 150000, "CW1", "CS1", TAKT__V1__EVENT_KIND__EVENT_KIND_IDLE, 0.5, site);   /* low confidence */
    ev[7] = mk(t0 + 160000, "CW1", "CS1", TAKT__V1__EVENT_KIND__EVENT_KIND_IDLE, 0.8, site);
    ev[7].gateway_id = site; /* the idempotency key is stored with the event */
    ev[7].sequence = 1;
    Takt__V1__Event *ptrs[8];
    for (int i = 0; i < 8; i++) ptrs[i] = &ev[i];

    takt_error err;
    Takt__V1__BatchAck *ack = NULL;
    int rc = takt_submit_batch(c, ptrs, 8, NULL, 5000, &ack, &err);
    CHECK(rc == 0, "submit batch of 8%s%s", rc ? ": " : "", rc ? err.message : "");
    if (rc == 0) {
        int want[8] = {ACCEPTED, ACCEPTED, DUPLICATE, INVALID, INVALID, INVALID, LOW_CONFIDENCE, ACCEPTED};
        expect_codes("first batch", ack, want, 8);
        CHECK(ack->accepted == 3 && ack->duplicate == 1 && ack->invalid == 3 && ack->low_confidence == 1 &&
                  ack->unknown_entity == 0,
              "counts accepted=%u duplicate=%u invalid=%u low_confidence=%u", ack->accepted, ack->duplicate,
              ack->invalid, ack->low_confidence);
        CHECK(ack->n_rejections == 5 && ack->rejections[0]->index == 2 && ack->rejections[1]->index == 3 &&
                  strstr(ack->rejections[1]->message, "worker_id") != NULL,
              "rejections name index and field (\"%s\")", ack->n_rejections > 1 ? ack->rejections[1]->message : "");
        takt__v1__batch_ack__free_unpacked(ack, NULL);
    }
    /* The same batch again: every stored event is a DUPLICATE now (identity decides, spec section 1). */
    rc = takt_submit_batch(c, ptrs, 8, NULL, 5000, &ack, &err);
    CHECK(rc == 0, "resubmit%s%s", rc ? ": " : "", rc ? err.message : "");
    if (rc == 0) {
        int want[8] = {DUPLICATE, DUPLICATE, DUPLICATE, INVALID, INVALID, INVALID, LOW_CONFIDENCE, DUPLICATE};
        expect_codes("resubmitted batch", ack, want, 8);
        takt__v1__batch_ack__free_unpacked(ack, NULL);
    }
    CHECK(takt_ping(c, 2000, &err) == 0, "ping/pong");
    takt_close(c);
    return failures;
}

static int scenario_metrics(char *site, int64_t from, int64_t to) {
    takt_conn *c = connect_or_die();
    takt_error err;
    Takt__V1__MetricsQuery q;
    takt__v1__metrics_query__init(&q);
    q.scope = TAKT__V1__METRICS_SCOPE__METRICS_SCOPE_FACTORY;
    q.from_ms = from;
    q.to_ms = to;
    q.site_id = site;
    Takt__V1__MetricsResponse *f = NULL, *w = NULL;
    if (takt_query_metrics(c, &q, 5000, &f, &err) != 0) {
        printf("not ok - factory metrics: %s\n", err.message);
        takt_close(c);
        return 1;
    }
    q.scope = TAKT__V1__METRICS_SCOPE__METRICS_SCOPE_WORKERS;
    if (takt_query_metrics(c, &q, 5000, &w, &err) != 0) {
        printf("not ok - worker metrics: %s\n", err.message);
        takt__v1__metrics_response__free_unpacked(f, NULL);
        takt_close(c);
        return 1;
    }
    const Takt__V1__FactoryMetrics *fm = f->factory;
    printf("{\"from_ms\":%" PRId64 ",\"to_ms\":%" PRId64 ",\"factory\":{\"active_workers\":%" PRId64
           ",\"active_workstations\":%" PRId64 ",\"total_working_ms\":%" PRId64 ",\"total_units\":%" PRId64
           ",\"avg_utilization_pct\":%.17g,\"avg_units_per_hour\":%.17g},\"workers\":[",
           f->from_ms, f->to_ms, fm ? fm->active_workers : 0, fm ? fm->active_workstations : 0,
           fm ? fm->total_working_ms : 0, fm ? fm->total_units : 0, fm ? fm->avg_utilization_pct : 0.0,
           fm ? fm->avg_units_per_hour : 0.0);
    for (size_t i = 0; i < w->n_workers; i++) {
        const Takt__V1__WorkerMetrics *m = w->workers[i];
        printf("%s{\"site_id\":\"%s\",\"worker_id\":\"%s\",\"working_ms\":%" PRId64 ",\"idle_ms\":%" PRId64
               ",\"absent_ms\":%" PRId64 ",\"utilization_pct\":%.17g,\"units\":%" PRId64
               ",\"units_outside_working\":%" PRId64 ",\"units_per_hour\":%.17g,\"last_seen_ms\":%" PRId64 "}",
               i ? "," : "", m->site_id, m->worker_id, m->working_ms, m->idle_ms, m->absent_ms, m->utilization_pct,
               m->units, m->units_outside_working, m->units_per_hour, m->last_seen_ms);
    }
    printf("]}\n");
    takt__v1__metrics_response__free_unpacked(f, NULL);
    takt__v1__metrics_response__free_unpacked(w, NULL);
    takt_close(c);
    return 0;
}

static int scenario_status(void) {
    takt_conn *c = connect_or_die();
    takt_error err;
    /* from_ms >= to_ms: INVALID_ARGUMENT naming the field */
    Takt__V1__MetricsQuery q;
    takt__v1__metrics_query__init(&q);
    q.scope = TAKT__V1__METRICS_SCOPE__METRICS_SCOPE_WORKERS;
    q.from_ms = wall_ms() - 1000;
    q.to_ms = q.from_ms - 1000;
    Takt__V1__MetricsResponse *r = NULL;
    int rc = takt_query_metrics(c, &q, 5000, &r, &err);
    CHECK(rc != 0 && err.kind == TAKT_ERR_STATUS && err.status_code == 3 && strstr(err.message, "from_ms"),
          "bad MetricsQuery gets INVALID_ARGUMENT (%s)", rc ? err.message : "succeeded");
    if (rc == 0) takt__v1__metrics_response__free_unpacked(r, NULL);

    /* a batch of 11 events on a server run with --max-batch 10 */
    Takt__V1__Event ev[11];
    Takt__V1__Event *ptrs[11];
    int64_t t0 = wall_ms() - 60000;
    for (int i = 0; i < 11; i++) {
        ev[i] = mk(t0 + i, "CW9", "CS9", TAKT__V1__EVENT_KIND__EVENT_KIND_IDLE, 0.9, "");
        ptrs[i] = &ev[i];
    }
    Takt__V1__BatchAck *ack = NULL;
    rc = takt_submit_batch(c, ptrs, 11, NULL, 5000, &ack, &err);
    CHECK(rc != 0 && err.kind == TAKT_ERR_STATUS && err.status_code == 3,
          "batch over the limit gets INVALID_ARGUMENT (%s)", rc ? err.message : "succeeded");
    if (rc == 0) takt__v1__batch_ack__free_unpacked(ack, NULL);
    /* the connection stays usable after a call status error */
    rc = takt_submit_batch(c, ptrs, 10, NULL, 5000, &ack, &err);
    CHECK(rc == 0 && ack->accepted == 10, "batch at the limit accepted on the same connection%s%s", rc ? ": " : "",
          rc ? err.message : "");
    if (rc == 0) takt__v1__batch_ack__free_unpacked(ack, NULL);
    /* unknown method id: UNIMPLEMENTED, the connection stays */
    Takt__V1__HealthCheckRequest hreq;
    takt__v1__health_check_request__init(&hreq);
    ProtobufCMessage *resp = NULL;
    rc = takt_call(c, 999, &hreq.base, &takt__v1__health_check_response__descriptor, 5000, &resp, &err);
    CHECK(rc != 0 && err.kind == TAKT_ERR_STATUS && err.status_code == 12, "unknown method gets UNIMPLEMENTED (%s)",
          rc ? err.message : "succeeded");
    if (rc == 0) protobuf_c_message_free_unpacked(resp, NULL);
    rc = takt_call(c, TAKT_METHOD_HEALTH_CHECK, &hreq.base, &takt__v1__health_check_response__descriptor, 5000, &resp,
                   &err);
    CHECK(rc == 0 && ((Takt__V1__HealthCheckResponse *)resp)->status == 1, "health SERVING afterwards");
    if (rc == 0) protobuf_c_message_free_unpacked(resp, NULL);
    takt_close(c);
    return failures;
}

/* 1 when every thread of pid is stopped (kill() returns before the threads stop). */
static int all_threads_stopped(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d) return 0;
    int stopped = 1;
    struct dirent *de;
    while (stopped && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char stat_path[320], buf[512];
        snprintf(stat_path, sizeof stat_path, "/proc/%d/task/%s/stat", (int)pid, de->d_name);
        FILE *f = fopen(stat_path, "r");
        if (!f) continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        const char *paren = strrchr(buf, ')');
        if (!paren || (paren[2] != 'T' && paren[2] != 't')) stopped = 0;
    }
    closedir(d);
    return stopped;
}

static int sigstop_and_wait(pid_t pid) {
    if (kill(pid, SIGSTOP) != 0) return -1;
    int64_t until = mono_ms() + 5000;
    while (!all_threads_stopped(pid)) {
        if (mono_ms() > until) return -1;
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static int scenario_deadline(pid_t pid) {
    takt_conn *c = connect_or_die();
    takt_error err;
    Takt__V1__HealthCheckRequest hreq;
    takt__v1__health_check_request__init(&hreq);
    ProtobufCMessage *resp = NULL;
    if (sigstop_and_wait(pid) != 0) {
        kill(pid, SIGCONT);
        printf("not ok - SIGSTOP %d failed\n", (int)pid);
        takt_close(c);
        return 1;
    }
    int64_t start = mono_ms();
    int rc = takt_call(c, TAKT_METHOD_HEALTH_CHECK, &hreq.base, &takt__v1__health_check_response__descriptor, 300,
                       &resp, &err);
    int64_t took = mono_ms() - start;
    kill(pid, SIGCONT);
    CHECK(rc != 0 && err.kind == TAKT_ERR_TIMEOUT && err.status_code == 4,
          "call to a stopped server times out (%s)", rc ? err.message : "succeeded");
    CHECK(took >= 290 && took < 3000, "the deadline of 300 ms is kept (took %" PRId64 " ms)", took);
    if (rc == 0) protobuf_c_message_free_unpacked(resp, NULL);
    /* the server, resumed, may still answer the cancelled call; the next call skips that frame */
    rc = takt_call(c, TAKT_METHOD_HEALTH_CHECK, &hreq.base, &takt__v1__health_check_response__descriptor, 5000, &resp,
                   &err);
    CHECK(rc == 0 && ((Takt__V1__HealthCheckResponse *)resp)->status == 1,
          "the connection works after the deadline%s%s", rc ? ": " : "", rc ? err.message : "");
    if (rc == 0) protobuf_c_message_free_unpacked(resp, NULL);
    takt_close(c);
    return failures;
}

static int scenario_strict(char *site) {
    takt_conn *c = connect_or_die();
    takt_error err;
    int64_t t0 = wall_ms() - 600000;
    Takt__V1__Event ev[2];
    ev[0] = mk(t0, "CREG1", "CREGS1", TAKT__V1__EVENT_KIND__EVENT_KIND_WORKING, 0.9, site);
    ev[1] = mk(t0, "CNOBODY", "CREGS1", TAKT__V1__EVENT_KIND__EVENT_KIND_WORKING, 0.9, site);
    Takt__V1__Event *ptrs[2] = {&ev[0], &ev[1]};
    Takt__V1__BatchAck *ack = NULL;
    int rc = takt_submit_batch(c, ptrs, 2, NULL, 5000, &ack, &err);
    CHECK(rc == 0, "strict batch sent%s%s", rc ? ": " : "", rc ? err.message : "");
    if (rc == 0) {
        int want[2] = {UNKNOWN_ENTITY, UNKNOWN_ENTITY};
        expect_codes("unregistered worker and station", ack, want, 2);
        CHECK(ack->unknown_entity == 2, "unknown_entity count %u", ack->unknown_entity);
        takt__v1__batch_ack__free_unpacked(ack, NULL);
    }
    /* register CREG1 and CREGS1 */
    Takt__V1__Worker w;
    takt__v1__worker__init(&w);
    w.site_id = site;
    w.worker_id = "CREG1";
    Takt__V1__Worker *wp[1] = {&w};
    Takt__V1__UpsertWorkersRequest wr;
    takt__v1__upsert_workers_request__init(&wr);
    wr.n_workers = 1;
    wr.workers = wp;
    ProtobufCMessage *resp = NULL;
    rc = takt_call(c, TAKT_METHOD_UPSERT_WORKERS, &wr.base, &takt__v1__upsert_response__descriptor, 5000, &resp, &err);
    CHECK(rc == 0, "upsert worker%s%s", rc ? ": " : "", rc ? err.message : "");
    if (rc == 0) protobuf_c_message_free_unpacked(resp, NULL);
    Takt__V1__Workstation s;
    takt__v1__workstation__init(&s);
    s.site_id = site;
    s.workstation_id = "CREGS1";
    Takt__V1__Workstation *sp[1] = {&s};
    Takt__V1__UpsertWorkstationsRequest sr;
    takt__v1__upsert_workstations_request__init(&sr);
    sr.n_workstations = 1;
    sr.workstations = sp;
    rc = takt_call(c, TAKT_METHOD_UPSERT_WORKSTATIONS, &sr.base, &takt__v1__upsert_response__descriptor, 5000, &resp,
                   &err);
    CHECK(rc == 0, "upsert workstation%s%s", rc ? ": " : "", rc ? err.message : "");
    if (rc == 0) protobuf_c_message_free_unpacked(resp, NULL);
    rc = takt_submit_batch(c, ptrs, 2, NULL, 5000, &ack, &err);
    if (rc == 0) {
        int want[2] = {ACCEPTED, UNKNOWN_ENTITY};
        expect_codes("registered worker accepted, unregistered still unknown", ack, want, 2);
        takt__v1__batch_ack__free_unpacked(ack, NULL);
    } else {
        CHECK(0, "strict resubmit: %s", err.message);
    }
    takt_close(c);
    return failures;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: takt-client-test HOST PORT ingest SITE | metrics SITE FROM TO | status | deadline PID | strict SITE\n");
        return 2;
    }
    host = argv[1];
    port = argv[2];
    const char *what = argv[3];
    if (strcmp(what, "ingest") == 0 && argc == 5) return scenario_ingest(argv[4]) ? 1 : 0;
    if (strcmp(what, "metrics") == 0 && argc == 7)
        return scenario_metrics(argv[4], strtoll(argv[5], NULL, 10), strtoll(argv[6], NULL, 10));
    if (strcmp(what, "status") == 0) return scenario_status() ? 1 : 0;
    if (strcmp(what, "deadline") == 0 && argc == 5) return scenario_deadline((pid_t)atoi(argv[4])) ? 1 : 0;
    if (strcmp(what, "strict") == 0 && argc == 5) return scenario_strict(argv[4]) ? 1 : 0;
    fprintf(stderr, "takt-client-test: bad arguments\n");
    return 2;
}
