/* Parsing events from text lines for takt-send: JSON Lines (one flat JSON object per line) and
 * CSV with a header row, both with the field names of takt.v1.Event (event_time_ms, worker_id,
 * workstation_id, kind, confidence, count, site_id, model_version, gateway_id, sequence).
 * `kind` is a spec name ("working", "idle", "absent", "product_count"), an enum name
 * ("EVENT_KIND_WORKING") or its number. Missing fields stay unset (the server judges them). */
#ifndef TAKT_EVENT_PARSE_H
#define TAKT_EVENT_PARSE_H

#include <stddef.h>

#include "takt/v1/events.pb-c.h"

/* Allocates *out (free with event_free). Returns 0, or -1 with a reason in why. */
int event_from_json(const char *line, Takt__V1__Event **out, char *why, size_t why_len);

typedef struct {
    int n;          /* columns */
    char **names;   /* header names */
} csv_header;

int csv_parse_header(const char *line, csv_header *h, char *why, size_t why_len);
void csv_header_free(csv_header *h);
int event_from_csv(const csv_header *h, const char *line, Takt__V1__Event **out, char *why, size_t why_len);

void event_free(Takt__V1__Event *e);

#endif
