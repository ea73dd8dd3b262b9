/*
 * takt_client: a small blocking C11 client of the Takt wire protocol v1 (docs/PROTOCOL.md) for
 * camera gateways. Depends on libprotobuf-c only.
 *
 * One connection runs one call at a time: takt_call() sends a REQUEST and reads frames until
 * that call's RESPONSE or STATUS, answering PING with PONG and skipping late frames of earlier
 * (cancelled) calls. Every wait is bounded by poll() with the call's timeout; when it expires
 * the call is cancelled (CANCEL frame) and TAKT_ERR_TIMEOUT returned; the connection stays
 * usable. Not thread-safe: use one connection per thread.
 *
 *   takt_conn *c; takt_error err;
 *   if (takt_connect(&c, "127.0.0.1", "7411", "gateway-7", NULL, 5000, &err) != 0) ...
 *   Takt__V1__BatchAck *ack;
 *   if (takt_submit_batch(c, events, n, "gateway-7", 10000, &ack, &err) == 0) {
 *       ... ack->codes[i] ...
 *       takt__v1__batch_ack__free_unpacked(ack, NULL);
 *   }
 *   takt_close(c);
 */
#ifndef TAKT_CLIENT_H
#define TAKT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "takt/v1/events.pb-c.h"
#include "takt/v1/metrics.pb-c.h"
#include "takt/v1/registry.pb-c.h"
#include "takt/v1/rpc.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct takt_conn takt_conn;

/* What went wrong (takt_error.kind). */
typedef enum {
    TAKT_OK = 0,
    TAKT_ERR_IO = 1,       /* connect/send/receive failed or the server closed the connection */
    TAKT_ERR_TIMEOUT = 2,  /* the call's (or connect's) timeout passed; the call was cancelled */
    TAKT_ERR_STATUS = 3,   /* the call ended with a STATUS error: see status_code, retry_after_ms */
    TAKT_ERR_GOAWAY = 4,   /* the server sent GOAWAY; the call was not processed (see processed) */
    TAKT_ERR_PROTOCOL = 5, /* the server broke the protocol (bad preface, oversized frame, ...) */
    TAKT_ERR_ARGUMENT = 6, /* bad argument, or a request larger than the server's max_frame_size */
    TAKT_ERR_MEMORY = 7
} takt_error_kind;

typedef struct {
    takt_error_kind kind;
    int status_code;         /* TAKT_ERR_STATUS/GOAWAY: RpcStatus/Goaway code (gRPC code); TIMEOUT: 4 */
    uint32_t retry_after_ms; /* TAKT_ERR_STATUS: the server's back-off hint (0: none) */
    int processed;           /* 0: the server did not process the call (safe to retry on a new
                                connection); 1: it did; -1: unknown. Every method is idempotent. */
    char message[256];
} takt_error;

/* Stable method ids (enum MethodId in proto/takt/v1/rpc.proto). */
enum {
    TAKT_METHOD_HEALTH_CHECK = 1,
    TAKT_METHOD_STATS = 2,
    TAKT_METHOD_SUBMIT_EVENT = 10,
    TAKT_METHOD_SUBMIT_BATCH = 11,
    TAKT_METHOD_QUERY_METRICS = 20,
    TAKT_METHOD_LIST_EVENTS = 21,
    TAKT_METHOD_UPSERT_WORKERS = 30,
    TAKT_METHOD_LIST_WORKERS = 31,
    TAKT_METHOD_UPSERT_WORKSTATIONS = 32,
    TAKT_METHOD_LIST_WORKSTATIONS = 33,
    TAKT_METHOD_LIST_SITES = 34
};

/* Connects to host:port, sends the preface and HELLO, reads the server preface and HELLO_ACK.
 * auth_token may be NULL. Returns 0, or -1 with *err filled (err may be NULL). */
int takt_connect(takt_conn **out, const char *host, const char *port, const char *client_name,
                 const char *auth_token, int timeout_ms, takt_error *err);

/* The server's HELLO_ACK (valid until takt_close). */
const Takt__V1__ServerHello *takt_server_hello(const takt_conn *c);

/* A unary call: packs `request`, sends a REQUEST of `method` with timeout_ms as its deadline
 * (0: none, waits forever), and on RESPONSE unpacks it as `response_desc` into *response (free
 * with protobuf_c_message_free_unpacked(*response, NULL)). Returns 0 or -1 with *err. */
int takt_call(takt_conn *c, uint16_t method, const ProtobufCMessage *request,
              const ProtobufCMessageDescriptor *response_desc, int timeout_ms,
              ProtobufCMessage **response, takt_error *err);

/* Ingest.SubmitBatch of n events (gateway_id may be NULL). On success *ack has one code per
 * event; free it with takt__v1__batch_ack__free_unpacked(*ack, NULL). */
int takt_submit_batch(takt_conn *c, Takt__V1__Event *const *events, size_t n, const char *gateway_id,
                      int timeout_ms, Takt__V1__BatchAck **ack, takt_error *err);

/* Query.QueryMetrics. Free *resp with takt__v1__metrics_response__free_unpacked(*resp, NULL). */
int takt_query_metrics(takt_conn *c, const Takt__V1__MetricsQuery *query, int timeout_ms,
                       Takt__V1__MetricsResponse **resp, takt_error *err);

/* Sends a PING and waits for its PONG (keepalive for gateways that are silent for longer than
 * half the server's keepalive_interval_ms). Returns 0 or -1. */
int takt_ping(takt_conn *c, int timeout_ms, takt_error *err);

/* Sends GOAWAY (best effort) and closes the socket; frees c. NULL is accepted. */
void takt_close(takt_conn *c);

/* "ACCEPTED", "DUPLICATE", "LOW_CONFIDENCE", "INVALID", "UNKNOWN_ENTITY", or "UNSPECIFIED". */
const char *takt_result_code_name(int code);
/* "OK", "CANCELLED", "INVALID_ARGUMENT", ... (gRPC names). */
const char *takt_status_code_name(int code);

#ifdef __cplusplus
}
#endif
#endif
