// Umbrella header: the protoc-c output for proto/takt/v1 plus the budgeted allocator.
#ifndef TAKT_PROTOC_H
#define TAKT_PROTOC_H
#include "takt/v1/events.pb-c.h"
#include "takt/v1/metrics.pb-c.h"
#include "takt/v1/registry.pb-c.h"
#include "takt/v1/rpc.pb-c.h"
#include "takt/v1/service.pb-c.h"
#include "takt_allocator.h"
#endif
