#ifndef TAKT_CPROTOBUFC_SHIM_H
#define TAKT_CPROTOBUFC_SHIM_H
#include <protobuf-c/protobuf-c.h>
#endif
