// A ProtobufCAllocator with a byte budget: protobuf-c's unpack has no depth or size limit of its
// own, so every decode goes through one of these and fails cleanly once the budget is spent.
//
// Memory comes from a bump arena (one malloc for a whole batch instead of one per field, and no
// cross-thread frees later); `free` only gives the budget back. Once the arena has handed out a
// budget's worth of bytes, further blocks come from malloc and are freed one by one, so the bytes
// held stay bounded by twice the budget even if unpack frees and reallocates (merged fields). Under
// AddressSanitizer every allocation is its own malloc, so the fuzzers still see overruns.
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
    void *arena;               // first arena block (blocks are chained through their first word)
    unsigned char *next;       // bump pointer in the current block
    size_t remaining;          // bytes left after `next`
    size_t arena_bytes;        // bytes of all arena blocks
    size_t block_size;         // size of the next arena block
} TaktBudgetAllocator;

/// `payload_bytes` (the wire size) sizes the first arena block; later blocks double, up to 64 KiB.
void takt_budget_allocator_init(TaktBudgetAllocator *a, size_t budget, size_t payload_bytes);
/// Frees the arena blocks. Call once the unpacked message is freed (or was never made).
void takt_budget_allocator_release(TaktBudgetAllocator *a);
#endif
