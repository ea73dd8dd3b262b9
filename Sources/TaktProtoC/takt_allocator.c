#include "takt_allocator.h"
#include <stdlib.h>
#include <stdint.h>

// Each block carries its size in a 16-byte header so frees can give the budget back.
#define TAKT_HEADER 16

static void *takt_budget_alloc(void *data, size_t size) {
    TaktBudgetAllocator *a = (TaktBudgetAllocator *)data;
    if (size > SIZE_MAX - TAKT_HEADER) { a->exhausted = 1; return NULL; }
    size_t total = size + TAKT_HEADER;
    if (total > a->budget - a->used || a->used > a->budget) { a->exhausted = 1; return NULL; }
    unsigned char *p = malloc(total);
    if (p == NULL) { a->exhausted = 1; return NULL; }
    *(size_t *)p = total;
    a->used += total;
    if (a->used > a->peak) a->peak = a->used;
    return p + TAKT_HEADER;
}

static void takt_budget_free(void *data, void *ptr) {
    if (ptr == NULL) return;
    TaktBudgetAllocator *a = (TaktBudgetAllocator *)data;
    unsigned char *p = (unsigned char *)ptr - TAKT_HEADER;
    a->used -= *(size_t *)p;
    free(p);
}

void takt_budget_allocator_init(TaktBudgetAllocator *a, size_t budget) {
    a->base.alloc = takt_budget_alloc;
    a->base.free = takt_budget_free;
    a->base.allocator_data = a;
    a->budget = budget;
    a->used = 0;
    a->peak = 0;
    a->exhausted = 0;
}
