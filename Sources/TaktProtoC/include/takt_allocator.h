// A ProtobufCAllocator with a byte budget: protobuf-c's unpack has no depth or size limit of its
// own, so every decode goes through one of these and fails cleanly once the budget is spent.
#ifndef TAKT_ALLOCATOR_H
#define TAKT_ALLOCATOR_H
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

typedef struct {
    ProtobufCAllocator base;   // handed to ..._unpack / ..._free_unpacked
    size_t budget;             // most bytes that may be live at once
    size_t used;               // bytes live now (including bookkeeping)
    size_t peak;               // most bytes live at any time
    int exhausted;             // 1 once an allocation was refused
} TaktBudgetAllocator;

void takt_budget_allocator_init(TaktBudgetAllocator *a, size_t budget);
#endif
