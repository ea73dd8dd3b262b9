#include "takt_allocator.h"
#include <stdlib.h>
#include <stdint.h>

// Each allocation carries a 16-byte header: its accounted size, and whether it came from malloc
// (freed by takt_budget_free) or from the arena (freed with the arena).
#define TAKT_HEADER 16
#define TAKT_FROM_MALLOC ((size_t)1 << (sizeof(size_t) * 8 - 1))
#define TAKT_BLOCK_MIN 496
#define TAKT_BLOCK_MAX 65536

// Under AddressSanitizer (the fuzzers, scripts/sanitizers.sh) every allocation gets its own malloc, so an
// overrun or a use after free inside protobuf-c is still caught instead of landing in a shared block.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TAKT_NO_ARENA 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TAKT_NO_ARENA 1
#endif

static unsigned char *takt_arena_take(TaktBudgetAllocator *a, size_t total) {
#ifdef TAKT_NO_ARENA
    (void)a; (void)total;
    return NULL;
#endif
    if (total <= a->remaining) {
        unsigned char *p = a->next;
        a->next += total;
        a->remaining -= total;
        return p;
    }
    if (a->arena_bytes >= a->budget) return NULL;  // arena spent: the caller falls back to malloc
    // A new block of the current block size (each one doubles it, up to 64 KiB), or more when one
    // allocation needs it.
    size_t want = a->block_size;
    if (want < total) want = total;
    a->block_size = a->block_size >= TAKT_BLOCK_MAX / 2 ? TAKT_BLOCK_MAX : a->block_size * 2;
    unsigned char *block = malloc(TAKT_HEADER + want);
    if (block == NULL) return NULL;
    *(void **)block = a->arena;  // chain it
    a->arena = block;
    a->arena_bytes += want;
    a->next = block + TAKT_HEADER + total;
    a->remaining = want - total;
    return block + TAKT_HEADER;
}

static void *takt_budget_alloc(void *data, size_t size) {
    TaktBudgetAllocator *a = (TaktBudgetAllocator *)data;
    if (size > SIZE_MAX / 4) { a->exhausted = 1; return NULL; }
    size_t total = size + TAKT_HEADER;  // what the budget counts
    if (total > a->budget - a->used || a->used > a->budget) { a->exhausted = 1; return NULL; }
    // Whole 16-byte units keep every arena allocation aligned like malloc's.
    unsigned char *p = takt_arena_take(a, (total + 15) & ~(size_t)15);
    size_t tag = total;
    if (p == NULL) {
        p = malloc(total);
        if (p == NULL) { a->exhausted = 1; return NULL; }
        tag |= TAKT_FROM_MALLOC;
    }
    *(size_t *)p = tag;
    a->used += total;
    if (a->used > a->peak) a->peak = a->used;
    return p + TAKT_HEADER;
}

static void takt_budget_free(void *data, void *ptr) {
    if (ptr == NULL) return;
    TaktBudgetAllocator *a = (TaktBudgetAllocator *)data;
    unsigned char *p = (unsigned char *)ptr - TAKT_HEADER;
    size_t tag = *(size_t *)p;
    a->used -= tag & ~TAKT_FROM_MALLOC;
    if (tag & TAKT_FROM_MALLOC) free(p);
}

void takt_budget_allocator_init(TaktBudgetAllocator *a, size_t budget, size_t payload_bytes) {
    a->base.alloc = takt_budget_alloc;
    a->base.free = takt_budget_free;
    a->base.allocator_data = a;
    a->budget = budget;
    a->used = 0;
    a->peak = 0;
    a->exhausted = 0;
    a->arena = NULL;
    a->next = NULL;
    a->remaining = 0;
    a->arena_bytes = 0;
    // The first block from the payload's size (unpacked structs take a few times the wire bytes): a
    // single event's block then stays under 1 KiB, which glibc serves from its per-thread cache. A
    // larger request makes malloc consolidate its fast bins first: when every decode started with a
    // 16 KiB block, malloc's share inside single-event decodes was about 2 % of taktd in perf.
    size_t first = payload_bytes > TAKT_BLOCK_MAX / 8 ? TAKT_BLOCK_MAX : payload_bytes * 8;
    if (first < TAKT_BLOCK_MIN) first = TAKT_BLOCK_MIN;
    a->block_size = first;
}

void takt_budget_allocator_release(TaktBudgetAllocator *a) {
    void *block = a->arena;
    while (block != NULL) {
        void *older = *(void **)block;
        free(block);
        block = older;
    }
    a->arena = NULL;
    a->next = NULL;
    a->remaining = 0;
    a->arena_bytes = 0;
}
