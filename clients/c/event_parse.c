/* JSON Lines and CSV → takt.v1.Event. See event_parse.h. */
#define _POSIX_C_SOURCE 200809L
#include "event_parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void why_set(char *why, size_t len, const char *fmt, const char *a) {
    if (why && len) snprintf(why, len, fmt, a ? a : "");
}

static Takt__V1__Event *event_new(void) {
    Takt__V1__Event *e = malloc(sizeof *e);
    if (e) takt__v1__event__init(e);
    return e;
}

static void free_str(char *s) {
    if (s && s != protobuf_c_empty_string) free(s);
}

void event_free(Takt__V1__Event *e) {
    if (!e) return;
    free_str(e->worker_id);
    free_str(e->workstation_id);
    free_str(e->site_id);
    free_str(e->model_version);
    free_str(e->gateway_id);
    free(e);
}

static int parse_kind(const char *v, Takt__V1__EventKind *out) {
    static const struct { const char *name; Takt__V1__EventKind kind; } kinds[] = {
        {"unspecified", TAKT__V1__EVENT_KIND__EVENT_KIND_UNSPECIFIED},
        {"absent", TAKT__V1__EVENT_KIND__EVENT_KIND_ABSENT},
        {"idle", TAKT__V1__EVENT_KIND__EVENT_KIND_IDLE},
        {"working", TAKT__V1__EVENT_KIND__EVENT_KIND_WORKING},
        {"product_count", TAKT__V1__EVENT_KIND__EVENT_KIND_PRODUCT_COUNT},
    };
    if (*v == '\0') { *out = TAKT__V1__EVENT_KIND__EVENT_KIND_UNSPECIFIED; return 0; }
    if (isdigit((unsigned char)*v)) {
        char *end;
        long n = strtol(v, &end, 10);
        if (*end || n < 0 || n > 1000) return -1;
        *out = (Takt__V1__EventKind)n; /* out-of-range numbers are the server's to reject */
        return 0;
    }
    if (strncasecmp(v, "event_kind_", 11) == 0) v += 11;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcasecmp(v, kinds[i].name) == 0) { *out = kinds[i].kind; return 0; }
    return -1;
}

/* Sets one field from its text value. Returns 0, 1 (unknown field: ignored) or -1. */
static int set_field(Takt__V1__Event *e, const char *name, const char *v, char *why, size_t wl) {
    char *end;
    if (strcmp(name, "event_time_ms") == 0) {
        if (!*v) return 0;
        errno = 0;
        double d = strtod(v, &end); /* accepts 1.7e12 too; must be integral */
        if (*end || errno || d != floor(d) || fabs(d) > 9.2e18) { why_set(why, wl, "event_time_ms: not an integer: %s", v); return -1; }
        e->event_time_ms = (int64_t)d;
        return 0;
    }
    if (strcmp(name, "confidence") == 0) {
        if (!*v) return 0;
        errno = 0;
        double d = strtod(v, &end);
        if (*end || errno) { why_set(why, wl, "confidence: not a number: %s", v); return -1; }
        e->confidence = d;
        return 0;
    }
    if (strcmp(name, "count") == 0 || strcmp(name, "sequence") == 0) {
        if (!*v) return 0;
        if (*v == '-') { why_set(why, wl, "%s: must not be negative", name); return -1; }
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        if (*end || errno) { why_set(why, wl, "%s: not an unsigned integer", name); return -1; }
        if (name[0] == 'c') {
            if (n > UINT32_MAX) { why_set(why, wl, "count: too large: %s", v); return -1; }
            e->count = (uint32_t)n;
        } else {
            e->sequence = n;
        }
        return 0;
    }
    if (strcmp(name, "kind") == 0) {
        Takt__V1__EventKind k;
        if (parse_kind(v, &k) != 0) { why_set(why, wl, "kind: unknown kind \"%s\"", v); return -1; }
        e->kind = k;
        return 0;
    }
    char **slot = NULL;
    if (strcmp(name, "worker_id") == 0) slot = &e->worker_id;
    else if (strcmp(name, "workstation_id") == 0) slot = &e->workstation_id;
    else if (strcmp(name, "site_id") == 0) slot = &e->site_id;
    else if (strcmp(name, "model_version") == 0) slot = &e->model_version;
    else if (strcmp(name, "gateway_id") == 0) slot = &e->gateway_id;
    if (!slot) return 1;
    char *copy = strdup(v);
    if (!copy) { why_set(why, wl, "out of memory%s", ""); return -1; }
    free_str(*slot);
    *slot = copy;
    return 0;
}

/* ---- JSON (flat objects only) ---- */

typedef struct {
    const char *p;
} jcur;

static void skip_ws(jcur *c) {
    while (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n') c->p++;
}

static void put_utf8(char **o, unsigned cp) {
    char *q = *o;
    if (cp < 0x80) *q++ = (char)cp;
    else if (cp < 0x800) { *q++ = (char)(0xC0 | (cp >> 6)); *q++ = (char)(0x80 | (cp & 0x3F)); }
    else if (cp < 0x10000) {
        *q++ = (char)(0xE0 | (cp >> 12)); *q++ = (char)(0x80 | ((cp >> 6) & 0x3F)); *q++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *q++ = (char)(0xF0 | (cp >> 18)); *q++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *q++ = (char)(0x80 | ((cp >> 6) & 0x3F)); *q++ = (char)(0x80 | (cp & 0x3F));
    }
    *o = q;
}

static int hex4(const char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char ch = p[i];
        v <<= 4;
        if (ch >= '0' && ch <= '9') v |= (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f') v |= (unsigned)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F') v |= (unsigned)(ch - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

/* Parses a JSON string at c->p (which is at the opening quote) into a malloc'd UTF-8 string. */
static char *json_string(jcur *c) {
    if (*c->p != '"') return NULL;
    c->p++;
    size_t cap = strlen(c->p) + 1; /* the decoded string is never longer than the source */
    char *out = malloc(cap + 4);
    if (!out) return NULL;
    char *o = out;
    while (*c->p && *c->p != '"') {
        if ((unsigned char)*c->p < 0x20) { free(out); return NULL; }
        if (*c->p != '\\') { *o++ = *c->p++; continue; }
        c->p++;
        char esc = *c->p++;
        switch (esc) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp;
            if (hex4(c->p, &cp) != 0) { free(out); return NULL; }
            c->p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && c->p[0] == '\\' && c->p[1] == 'u') {
                unsigned lo;
                if (hex4(c->p + 2, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    c->p += 6;
                }
            }
            if (cp == 0) { free(out); return NULL; } /* NUL cannot be carried in a C string */
            put_utf8(&o, cp);
            break;
        }
        default: free(out); return NULL;
        }
    }
    if (*c->p != '"') { free(out); return NULL; }
    c->p++;
    *o = '\0';
    return out;
}

/* A scalar value (string, number, true/false/null) as text; *is_null set for null. */
static char *json_value(jcur *c, int *is_null) {
    *is_null = 0;
    if (*c->p == '"') return json_string(c);
    const char *start = c->p;
    while (*c->p && *c->p != ',' && *c->p != '}' && *c->p != ' ' && *c->p != '\t' && *c->p != '\r' && *c->p != '\n')
        c->p++;
    size_t n = (size_t)(c->p - start);
    if (n == 0) return NULL;
    if (n == 4 && strncmp(start, "null", 4) == 0) { *is_null = 1; return strdup(""); }
    if (*start == '{' || *start == '[') return NULL; /* nested values are not part of an Event */
    char *s = malloc(n + 1);
    if (!s) return NULL;
    memcpy(s, start, n);
    s[n] = '\0';
    if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) return s;
    /* must look like a JSON number */
    char *end;
    strtod(s, &end);
    if (*end) { free(s); return NULL; }
    return s;
}

int event_from_json(const char *line, Takt__V1__Event **out, char *why, size_t wl) {
    *out = NULL;
    Takt__V1__Event *e = event_new();
    if (!e) { why_set(why, wl, "out of memory%s", ""); return -1; }
    jcur c = {line};
    skip_ws(&c);
    if (*c.p != '{') { why_set(why, wl, "not a JSON object%s", ""); event_free(e); return -1; }
    c.p++;
    skip_ws(&c);
    if (*c.p == '}') c.p++;
    else {
        for (;;) {
            skip_ws(&c);
            char *key = json_string(&c);
            if (!key) { why_set(why, wl, "bad JSON: expected a field name%s", ""); event_free(e); return -1; }
            skip_ws(&c);
            if (*c.p != ':') { why_set(why, wl, "bad JSON: expected ':' after \"%s\"", key); free(key); event_free(e); return -1; }
            c.p++;
            skip_ws(&c);
            int is_null;
            char *val = json_value(&c, &is_null);
            if (!val) { why_set(why, wl, "bad JSON value for \"%s\"", key); free(key); event_free(e); return -1; }
            int rc = set_field(e, key, val, why, wl);
            free(key);
            free(val);
            if (rc < 0) { event_free(e); return -1; }
            skip_ws(&c);
            if (*c.p == ',') { c.p++; continue; }
            if (*c.p == '}') { c.p++; break; }
            why_set(why, wl, "bad JSON: expected ',' or '}'%s", "");
            event_free(e);
            return -1;
        }
    }
    skip_ws(&c);
    if (*c.p) { why_set(why, wl, "bad JSON: trailing characters%s", ""); event_free(e); return -1; }
    *out = e;
    return 0;
}

/* ---- CSV (RFC 4180 quoting, one record per line) ---- */

/* Splits a line into malloc'd cells. Returns the count, or -1. */
static int csv_split(const char *line, char ***cells_out) {
    int n = 0, cap = 8;
    char **cells = malloc((size_t)cap * sizeof *cells);
    if (!cells) return -1;
    const char *p = line;
    size_t L = strlen(line);
    for (;;) {
        char *cell = malloc(L + 1);
        if (!cell) goto fail;
        char *o = cell;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '\0') { free(cell); goto fail; }
                if (*p == '"') {
                    if (p[1] == '"') { *o++ = '"'; p += 2; continue; }
                    p++;
                    break;
                }
                *o++ = *p++;
            }
            if (*p && *p != ',') { free(cell); goto fail; }
        } else {
            while (*p && *p != ',') *o++ = *p++;
            while (o > cell && (o[-1] == ' ' || o[-1] == '\t')) o--;
        }
        *o = '\0';
        if (n == cap) {
            cap *= 2;
            char **nc = realloc(cells, (size_t)cap * sizeof *cells);
            if (!nc) { free(cell); goto fail; }
            cells = nc;
        }
        cells[n++] = cell;
        if (*p == ',') { p++; while (*p == ' ' || *p == '\t') p++; continue; }
        break;
    }
    *cells_out = cells;
    return n;
fail:
    for (int i = 0; i < n; i++) free(cells[i]);
    free(cells);
    return -1;
}

static void cells_free(char **cells, int n) {
    for (int i = 0; i < n; i++) free(cells[i]);
    free(cells);
}

int csv_parse_header(const char *line, csv_header *h, char *why, size_t wl) {
    h->n = csv_split(line, &h->names);
    if (h->n < 0) { h->n = 0; h->names = NULL; why_set(why, wl, "bad CSV header%s", ""); return -1; }
    int has_time = 0;
    for (int i = 0; i < h->n; i++)
        if (strcmp(h->names[i], "event_time_ms") == 0) has_time = 1;
    if (!has_time) { why_set(why, wl, "CSV header has no event_time_ms column%s", ""); csv_header_free(h); return -1; }
    return 0;
}

void csv_header_free(csv_header *h) {
    if (h->names) cells_free(h->names, h->n);
    h->names = NULL;
    h->n = 0;
}

int event_from_csv(const csv_header *h, const char *line, Takt__V1__Event **out, char *why, size_t wl) {
    *out = NULL;
    char **cells;
    int n = csv_split(line, &cells);
    if (n < 0) { why_set(why, wl, "bad CSV line (unbalanced quotes)%s", ""); return -1; }
    if (n != h->n) {
        char msg[64];
        snprintf(msg, sizeof msg, "%d cells, the header has %d", n, h->n);
        why_set(why, wl, "bad CSV line: %s", msg);
        cells_free(cells, n);
        return -1;
    }
    Takt__V1__Event *e = event_new();
    if (!e) { cells_free(cells, n); why_set(why, wl, "out of memory%s", ""); return -1; }
    for (int i = 0; i < n; i++) {
        if (set_field(e, h->names[i], cells[i], why, wl) < 0) {
            cells_free(cells, n);
            event_free(e);
            return -1;
        }
    }
    cells_free(cells, n);
    *out = e;
    return 0;
}
