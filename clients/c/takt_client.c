/* takt_client: blocking C11 client of the Takt wire protocol v1. See takt_client.h. */
#define _POSIX_C_SOURCE 200809L
#include "takt_client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
    FRAME_HELLO = 1,
    FRAME_HELLO_ACK = 2,
    FRAME_REQUEST = 3,
    FRAME_RESPONSE = 4,
    FRAME_STREAM_MESSAGE = 5,
    FRAME_STATUS = 6,
    FRAME_CANCEL = 7,
    FRAME_PING = 8,
    FRAME_PONG = 9,
    FRAME_GOAWAY = 10
};

#define HEADER_SIZE 16
#define PREFACE_SIZE 8
#define CLIENT_MAX_FRAME (4u * 1024u * 1024u) /* largest payload we accept (advertised in HELLO) */
#define DEFAULT_SERVER_MAX_FRAME (4u * 1024u * 1024u)

static const uint8_t PREFACE[PREFACE_SIZE] = {'T', 'A', 'K', 'T', 0, 1, 0, 0};

struct takt_conn {
    int fd;
    int broken;            /* stream desynchronized or closed: every call fails */
    uint32_t next_id;
    Takt__V1__ServerHello *hello;
    int goaway;            /* a GOAWAY arrived */
    uint32_t goaway_last;  /* its last_call_id */
    int goaway_code;
    char goaway_reason[160];
};

typedef struct {
    uint32_t length;
    uint8_t type;
    uint8_t flags;
    uint16_t method;
    uint32_t call_id;
    uint32_t param;
} frame_header;

/* ---- errors ---- */

static void set_err(takt_error *err, takt_error_kind kind, int status, const char *fmt, ...) {
    if (!err) return;
    err->kind = kind;
    err->status_code = status;
    err->retry_after_ms = 0;
    err->processed = -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

static void clear_err(takt_error *err) {
    if (!err) return;
    memset(err, 0, sizeof *err);
    err->processed = 1;
}

/* ---- time ---- */

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* deadline: absolute monotonic ms, or -1 for none. Returns the poll timeout (-1: infinite). */
static int remaining_ms(int64_t deadline) {
    if (deadline < 0) return -1;
    int64_t r = deadline - now_ms();
    if (r <= 0) return 0;
    return r > 0x7fffffff ? 0x7fffffff : (int)r;
}

/* ---- byte order ---- */

static void put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static void put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static uint32_t get_u32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}
static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(((uint16_t)p[0] << 8) | p[1]); }

static void put_header(uint8_t *p, uint32_t length, uint8_t type, uint16_t method, uint32_t call_id, uint32_t param) {
    put_u32(p, length);
    p[4] = type;
    p[5] = 0;
    put_u16(p + 6, method);
    put_u32(p + 8, call_id);
    put_u32(p + 12, param);
}

/* ---- socket I/O with deadlines (the descriptor is non-blocking; poll() does the waiting) ---- */

/* Returns 0, or -1 (timeout: errno ETIMEDOUT; EOF: errno EPIPE/ECONNRESET). *done counts bytes. */
static int write_all(int fd, const uint8_t *buf, size_t len, int64_t deadline, size_t *done) {
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
        if (n > 0) { off += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int t = remaining_ms(deadline);
            if (t == 0) { errno = ETIMEDOUT; break; }
            int r = poll(&p, 1, t);
            if (r < 0 && errno != EINTR) break;
            if (r == 0) { errno = ETIMEDOUT; break; }
            continue;
        }
        break;
    }
    if (done) *done = off;
    return off == len ? 0 : -1;
}

/* Returns 0, or -1 (errno ETIMEDOUT on timeout, ECONNRESET on EOF). *done counts bytes read. */
static int read_full(int fd, uint8_t *buf, size_t len, int64_t deadline, size_t *done) {
    size_t off = 0;
    int rc = 0;
    while (off < len) {
        ssize_t n = recv(fd, buf + off, len - off, 0);
        if (n > 0) { off += (size_t)n; continue; }
        if (n == 0) { errno = ECONNRESET; rc = -1; break; }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            int t = remaining_ms(deadline);
            if (t == 0) { errno = ETIMEDOUT; rc = -1; break; }
            int r = poll(&p, 1, t);
            if (r < 0 && errno != EINTR) { rc = -1; break; }
            if (r == 0) { errno = ETIMEDOUT; rc = -1; break; }
            continue;
        }
        rc = -1;
        break;
    }
    if (done) *done = off;
    return rc;
}

static void mark_broken(takt_conn *c) {
    c->broken = 1;
}

/* Sends one frame. A partial write (timeout mid-frame) breaks the connection. */
static int send_frame(takt_conn *c, uint8_t type, uint16_t method, uint32_t call_id, uint32_t param,
                      const uint8_t *payload, size_t len, int64_t deadline, takt_error *err) {
    uint8_t header[HEADER_SIZE];
    put_header(header, (uint32_t)len, type, method, call_id, param);
    size_t done = 0;
    if (write_all(c->fd, header, HEADER_SIZE, deadline, &done) != 0 ||
        (len > 0 && write_all(c->fd, payload, len, deadline, &done) != 0)) {
        int e = errno;
        mark_broken(c);
        if (e == ETIMEDOUT) set_err(err, TAKT_ERR_TIMEOUT, 4, "timed out sending a frame");
        else set_err(err, TAKT_ERR_IO, 14, "send failed: %s", strerror(e));
        return -1;
    }
    return 0;
}

/* Reads one frame; *payload is malloc'd (NULL when empty). Returns 0; -1 with *err. On a timeout
 * before any byte of the frame, the connection stays usable (*timed_out = 1). */
static int read_frame(takt_conn *c, int64_t deadline, frame_header *h, uint8_t **payload, int *timed_out,
                      takt_error *err) {
    uint8_t buf[HEADER_SIZE];
    size_t done = 0;
    *payload = NULL;
    *timed_out = 0;
    if (read_full(c->fd, buf, HEADER_SIZE, deadline, &done) != 0) {
        int e = errno;
        if (e == ETIMEDOUT && done == 0) {
            *timed_out = 1;
            set_err(err, TAKT_ERR_TIMEOUT, 4, "deadline exceeded");
            return -1;
        }
        mark_broken(c);
        if (e == ETIMEDOUT) set_err(err, TAKT_ERR_TIMEOUT, 4, "deadline exceeded in the middle of a frame");
        else if (e == ECONNRESET && c->goaway)
            set_err(err, TAKT_ERR_IO, c->goaway_code, "connection closed after GOAWAY: %s", c->goaway_reason);
        else if (e == ECONNRESET) set_err(err, TAKT_ERR_IO, 14, "connection closed by the server");
        else set_err(err, TAKT_ERR_IO, 14, "receive failed: %s", strerror(e));
        return -1;
    }
    h->length = get_u32(buf);
    h->type = buf[4];
    h->flags = buf[5];
    h->method = get_u16(buf + 6);
    h->call_id = get_u32(buf + 8);
    h->param = get_u32(buf + 12);
    if (h->length > CLIENT_MAX_FRAME) {
        mark_broken(c);
        set_err(err, TAKT_ERR_PROTOCOL, 0, "server frame of %u bytes exceeds our limit", h->length);
        return -1;
    }
    if (h->length > 0) {
        uint8_t *p = malloc(h->length);
        if (!p) {
            mark_broken(c);
            set_err(err, TAKT_ERR_MEMORY, 0, "out of memory for a %u-byte frame", h->length);
            return -1;
        }
        if (read_full(c->fd, p, h->length, deadline, &done) != 0) {
            int e = errno;
            free(p);
            mark_broken(c);
            if (e == ETIMEDOUT) set_err(err, TAKT_ERR_TIMEOUT, 4, "deadline exceeded in the middle of a frame");
            else set_err(err, TAKT_ERR_IO, 14, "connection closed in the middle of a frame");
            return -1;
        }
        *payload = p;
    }
    return 0;
}

/* Handles a connection-level frame (PING, PONG, GOAWAY). Returns 1 if handled, 0 if not
 * connection-level, -1 on error. */
static int handle_connection_frame(takt_conn *c, const frame_header *h, const uint8_t *payload, takt_error *err) {
    switch (h->type) {
    case FRAME_PING:
        return send_frame(c, FRAME_PONG, 0, 0, h->param, NULL, 0, now_ms() + 1000, err) == 0 ? 1 : -1;
    case FRAME_PONG:
        return 1;
    case FRAME_GOAWAY: {
        Takt__V1__Goaway *g = takt__v1__goaway__unpack(NULL, h->length, payload);
        c->goaway = 1;
        c->goaway_last = g ? g->last_call_id : 0;
        c->goaway_code = g ? (int)g->code : 14;
        snprintf(c->goaway_reason, sizeof c->goaway_reason, "%s", g && g->reason ? g->reason : "");
        if (g) takt__v1__goaway__free_unpacked(g, NULL);
        return 1;
    }
    default:
        return 0;
    }
}

/* ---- connect ---- */

static int connect_fd(const char *host, const char *port, int64_t deadline, takt_error *err) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        set_err(err, TAKT_ERR_IO, 14, "cannot resolve %s:%s: %s", host, port, gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    int last = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) { last = errno; continue; }
        int flags = fcntl(fd, F_GETFL, 0);
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        if (errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int r;
            do { r = poll(&p, 1, remaining_ms(deadline)); } while (r < 0 && errno == EINTR);
            if (r == 1) {
                int soerr = 0;
                socklen_t sl = sizeof soerr;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
                if (soerr == 0) break;
                last = soerr;
            } else {
                last = r == 0 ? ETIMEDOUT : errno;
            }
        } else {
            last = errno;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        set_err(err, last == ETIMEDOUT ? TAKT_ERR_TIMEOUT : TAKT_ERR_IO, last == ETIMEDOUT ? 4 : 14,
                "cannot connect to %s:%s: %s", host, port, strerror(last));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

int takt_connect(takt_conn **out, const char *host, const char *port, const char *client_name,
                 const char *auth_token, int timeout_ms, takt_error *err) {
    clear_err(err);
    if (!out || !host || !port) {
        set_err(err, TAKT_ERR_ARGUMENT, 3, "takt_connect: NULL argument");
        return -1;
    }
    *out = NULL;
    int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : -1;
    takt_conn *c = calloc(1, sizeof *c);
    if (!c) {
        set_err(err, TAKT_ERR_MEMORY, 0, "out of memory");
        return -1;
    }
    c->next_id = 1;
    c->fd = connect_fd(host, port, deadline, err);
    if (c->fd < 0) {
        free(c);
        return -1;
    }

    /* preface + HELLO */
    Takt__V1__ClientHello hello;
    takt__v1__client_hello__init(&hello);
    hello.protocol_version = 1;
    hello.client_name = (char *)(client_name ? client_name : "takt-c/0.1");
    if (auth_token) hello.auth_token = (char *)auth_token;
    hello.max_frame_size = CLIENT_MAX_FRAME;
    size_t hlen = takt__v1__client_hello__get_packed_size(&hello);
    uint8_t *buf = malloc(PREFACE_SIZE + HEADER_SIZE + hlen);
    if (!buf) {
        set_err(err, TAKT_ERR_MEMORY, 0, "out of memory");
        takt_close(c);
        return -1;
    }
    memcpy(buf, PREFACE, PREFACE_SIZE);
    put_header(buf + PREFACE_SIZE, (uint32_t)hlen, FRAME_HELLO, 0, 0, 0);
    takt__v1__client_hello__pack(&hello, buf + PREFACE_SIZE + HEADER_SIZE);
    size_t done;
    int wr = write_all(c->fd, buf, PREFACE_SIZE + HEADER_SIZE + hlen, deadline, &done);
    int we = errno;
    free(buf);
    if (wr != 0) {
        set_err(err, we == ETIMEDOUT ? TAKT_ERR_TIMEOUT : TAKT_ERR_IO, we == ETIMEDOUT ? 4 : 14,
                "sending HELLO failed: %s", strerror(we));
        takt_close(c);
        return -1;
    }

    /* server preface */
    uint8_t pre[PREFACE_SIZE];
    if (read_full(c->fd, pre, PREFACE_SIZE, deadline, &done) != 0) {
        int e = errno;
        set_err(err, e == ETIMEDOUT ? TAKT_ERR_TIMEOUT : TAKT_ERR_IO, e == ETIMEDOUT ? 4 : 14,
                "no server preface: %s", e == ECONNRESET ? "connection closed" : strerror(e));
        takt_close(c);
        return -1;
    }
    if (memcmp(pre, PREFACE, 4) != 0 || get_u16(pre + 4) != 1 || get_u16(pre + 6) != 0) {
        set_err(err, TAKT_ERR_PROTOCOL, 0, "bad server preface");
        takt_close(c);
        return -1;
    }

    /* HELLO_ACK (or GOAWAY when the server refuses the connection) */
    for (;;) {
        frame_header h;
        uint8_t *payload = NULL;
        int timed_out;
        if (read_frame(c, deadline, &h, &payload, &timed_out, err) != 0) {
            if (timed_out) set_err(err, TAKT_ERR_TIMEOUT, 4, "no HELLO_ACK within %d ms", timeout_ms);
            takt_close(c);
            return -1;
        }
        if (h.type == FRAME_HELLO_ACK) {
            c->hello = takt__v1__server_hello__unpack(NULL, h.length, payload);
            free(payload);
            if (!c->hello) {
                set_err(err, TAKT_ERR_PROTOCOL, 0, "undecodable HELLO_ACK");
                takt_close(c);
                return -1;
            }
            *out = c;
            return 0;
        }
        int handled = handle_connection_frame(c, &h, payload, err);
        free(payload);
        if (handled < 0) {
            takt_close(c);
            return -1;
        }
        if (h.type == FRAME_GOAWAY) {
            set_err(err, TAKT_ERR_GOAWAY, c->goaway_code, "server refused the connection: %s", c->goaway_reason);
            if (err) err->processed = 0;
            takt_close(c);
            return -1;
        }
        if (!handled) {
            set_err(err, TAKT_ERR_PROTOCOL, 0, "expected HELLO_ACK, got frame type %u", h.type);
            takt_close(c);
            return -1;
        }
    }
}

const Takt__V1__ServerHello *takt_server_hello(const takt_conn *c) { return c ? c->hello : NULL; }

/* ---- calls ---- */

static uint32_t server_max_frame(const takt_conn *c) {
    return c->hello && c->hello->max_frame_size ? c->hello->max_frame_size : DEFAULT_SERVER_MAX_FRAME;
}

static int usable(takt_conn *c, takt_error *err) {
    if (c->broken) {
        set_err(err, TAKT_ERR_IO, 14, "connection is closed or broken; reconnect");
        return 0;
    }
    if (c->goaway) {
        set_err(err, TAKT_ERR_GOAWAY, c->goaway_code, "server sent GOAWAY: %s", c->goaway_reason);
        if (err) err->processed = 0;
        return 0;
    }
    return 1;
}

int takt_call(takt_conn *c, uint16_t method, const ProtobufCMessage *request,
              const ProtobufCMessageDescriptor *response_desc, int timeout_ms,
              ProtobufCMessage **response, takt_error *err) {
    clear_err(err);
    if (!c || !request || !response_desc || !response) {
        set_err(err, TAKT_ERR_ARGUMENT, 3, "takt_call: NULL argument");
        return -1;
    }
    *response = NULL;
    if (!usable(c, err)) return -1;
    size_t len = protobuf_c_message_get_packed_size(request);
    if (len > server_max_frame(c)) {
        set_err(err, TAKT_ERR_ARGUMENT, 3, "request of %zu bytes exceeds the server's max_frame_size %u", len,
                server_max_frame(c));
        return -1;
    }
    uint8_t *payload = len ? malloc(len) : NULL;
    if (len && !payload) {
        set_err(err, TAKT_ERR_MEMORY, 0, "out of memory");
        return -1;
    }
    if (len) protobuf_c_message_pack(request, payload);

    uint32_t id = c->next_id++;
    if (c->next_id == 0) c->next_id = 1;
    int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : -1;
    int rc = send_frame(c, FRAME_REQUEST, method, id, timeout_ms > 0 ? (uint32_t)timeout_ms : 0, payload, len,
                        deadline, err);
    free(payload);
    if (rc != 0) return -1;

    for (;;) {
        frame_header h;
        uint8_t *in = NULL;
        int timed_out;
        if (read_frame(c, deadline, &h, &in, &timed_out, err) != 0) {
            if (timed_out) {
                takt_error ignored;
                send_frame(c, FRAME_CANCEL, 0, id, 0, NULL, 0, now_ms() + 1000, &ignored);
                set_err(err, TAKT_ERR_TIMEOUT, 4, "no answer within the deadline of %d ms (call cancelled)", timeout_ms);
                return -1;
            }
            if (c->goaway && id > c->goaway_last && err) err->processed = 0;
            return -1;
        }
        int handled = handle_connection_frame(c, &h, in, err);
        if (handled < 0) { free(in); return -1; }
        if (handled) {
            free(in);
            if (h.type == FRAME_GOAWAY && id > c->goaway_last) {
                set_err(err, TAKT_ERR_GOAWAY, c->goaway_code, "server sent GOAWAY (%s); call %u not processed",
                        c->goaway_reason, id);
                if (err) err->processed = 0;
                return -1;
            }
            continue;
        }
        if (h.type != FRAME_RESPONSE && h.type != FRAME_STATUS && h.type != FRAME_STREAM_MESSAGE) {
            free(in);
            mark_broken(c);
            set_err(err, TAKT_ERR_PROTOCOL, 0, "unexpected frame type %u from the server", h.type);
            return -1;
        }
        if (h.call_id != id) { /* a late answer to an earlier, cancelled call */
            free(in);
            continue;
        }
        if (h.type == FRAME_RESPONSE) {
            *response = protobuf_c_message_unpack(response_desc, NULL, h.length, in);
            free(in);
            if (!*response) {
                set_err(err, TAKT_ERR_PROTOCOL, 0, "undecodable %s", response_desc->name);
                return -1;
            }
            return 0;
        }
        if (h.type == FRAME_STATUS) {
            Takt__V1__RpcStatus *st = takt__v1__rpc_status__unpack(NULL, h.length, in);
            free(in);
            if (!st) {
                set_err(err, TAKT_ERR_PROTOCOL, 0, "undecodable RpcStatus");
                return -1;
            }
            if (st->code == 0) {
                set_err(err, TAKT_ERR_PROTOCOL, 0, "unary call ended with STATUS OK and no RESPONSE");
            } else {
                set_err(err, TAKT_ERR_STATUS, (int)st->code, "%s: %s", takt_status_code_name((int)st->code),
                        st->message ? st->message : "");
                if (err) {
                    err->retry_after_ms = st->retry_after_ms;
                    /* DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED and UNAVAILABLE are answered before work starts */
                    err->processed = (st->code == 4 || st->code == 8 || st->code == 14) ? 0 : -1;
                }
            }
            takt__v1__rpc_status__free_unpacked(st, NULL);
            return -1;
        }
        free(in); /* STREAM_MESSAGE for a unary call: ignore */
    }
}

int takt_submit_batch(takt_conn *c, Takt__V1__Event *const *events, size_t n, const char *gateway_id,
                      int timeout_ms, Takt__V1__BatchAck **ack, takt_error *err) {
    Takt__V1__Batch batch;
    takt__v1__batch__init(&batch);
    batch.n_events = n;
    batch.events = (Takt__V1__Event **)events;
    if (gateway_id) batch.gateway_id = (char *)gateway_id;
    ProtobufCMessage *resp = NULL;
    int rc = takt_call(c, TAKT_METHOD_SUBMIT_BATCH, &batch.base, &takt__v1__batch_ack__descriptor, timeout_ms, &resp,
                       err);
    if (ack) *ack = (Takt__V1__BatchAck *)resp;
    else if (resp) protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

int takt_query_metrics(takt_conn *c, const Takt__V1__MetricsQuery *query, int timeout_ms,
                       Takt__V1__MetricsResponse **resp, takt_error *err) {
    ProtobufCMessage *r = NULL;
    int rc = takt_call(c, TAKT_METHOD_QUERY_METRICS, &query->base, &takt__v1__metrics_response__descriptor,
                       timeout_ms, &r, err);
    *resp = (Takt__V1__MetricsResponse *)r;
    return rc;
}

int takt_ping(takt_conn *c, int timeout_ms, takt_error *err) {
    clear_err(err);
    if (!c || !usable(c, err)) return -1;
    int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : -1;
    uint32_t value = (uint32_t)now_ms();
    if (send_frame(c, FRAME_PING, 0, 0, value, NULL, 0, deadline, err) != 0) return -1;
    for (;;) {
        frame_header h;
        uint8_t *in = NULL;
        int timed_out;
        if (read_frame(c, deadline, &h, &in, &timed_out, err) != 0) return -1;
        int pong = h.type == FRAME_PONG && h.param == value;
        int handled = handle_connection_frame(c, &h, in, err);
        free(in);
        if (handled < 0) return -1;
        if (pong) return 0;
        if (h.type == FRAME_GOAWAY) return usable(c, err) ? 0 : -1;
        if (!handled && h.type != FRAME_RESPONSE && h.type != FRAME_STATUS && h.type != FRAME_STREAM_MESSAGE) {
            mark_broken(c);
            set_err(err, TAKT_ERR_PROTOCOL, 0, "unexpected frame type %u from the server", h.type);
            return -1;
        }
    }
}

void takt_close(takt_conn *c) {
    if (!c) return;
    if (c->fd >= 0) {
        if (!c->broken && c->hello) {
            Takt__V1__Goaway g;
            takt__v1__goaway__init(&g);
            g.last_call_id = 0;
            g.code = TAKT__V1__STATUS_CODE__STATUS_CODE_OK;
            g.reason = "client closing";
            uint8_t buf[64];
            size_t len = takt__v1__goaway__get_packed_size(&g);
            if (len <= sizeof buf) {
                takt__v1__goaway__pack(&g, buf);
                takt_error ignored;
                send_frame(c, FRAME_GOAWAY, 0, 0, 0, buf, len, now_ms() + 200, &ignored);
            }
        }
        close(c->fd);
    }
    if (c->hello) takt__v1__server_hello__free_unpacked(c->hello, NULL);
    free(c);
}

const char *takt_result_code_name(int code) {
    switch (code) {
    case 1: return "ACCEPTED";
    case 2: return "DUPLICATE";
    case 3: return "LOW_CONFIDENCE";
    case 4: return "INVALID";
    case 5: return "UNKNOWN_ENTITY";
    default: return "UNSPECIFIED";
    }
}

const char *takt_status_code_name(int code) {
    static const char *const names[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
                                        "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                        "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
                                        "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
    if (code >= 0 && code < (int)(sizeof names / sizeof names[0])) return names[code];
    return "UNKNOWN_CODE";
}
