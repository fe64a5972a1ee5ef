/* runs.c - the runs records of runs.h. */
#include "runs.h"

#include <stdlib.h>
#include <string.h>

struct lp_runs *lp_runs_of(struct lp_runs **slot)
{
    if (!*slot)
        *slot = calloc(1, sizeof(**slot));
    return *slot;
}

static void rec_free(struct lp_run_rec *r)
{
    lp_run_clear(&r->run);
    free(r->stats);
    free(r);
}

void lp_runs_free(struct lp_runs *runs)
{
    if (!runs)
        return;
    for (size_t i = 0; i < runs->n; i++)
        rec_free(runs->items[i]);
    free(runs->items);
    free(runs);
}

struct lp_run_rec *lp_runs_find(struct lp_runs *runs, const char *id)
{
    for (size_t i = 0; runs && id && i < runs->n; i++)
        if (runs->items[i]->run.id && strcmp(runs->items[i]->run.id, id) == 0)
            return runs->items[i];
    return NULL;
}

static bool streq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* Replaces r's run with got (taken over); true when what is shown changed. */
static bool update(struct lp_run_rec *r, struct lp_run *got)
{
    bool changed = r->gone || !streq(r->run.status, got->status) ||
                   !streq(r->run.updated_at, got->updated_at) ||
                   !streq(r->run.completed_at, got->completed_at) || r->run.nfields != got->nfields;
    lp_run_clear(&r->run);
    r->run = *got;
    memset(got, 0, sizeof(*got));
    r->gone = false;
    return changed;
}

/* Inserts a new record at position pos (0: newest). NULL on no memory. */
static struct lp_run_rec *insert(struct lp_runs *runs, size_t pos, struct lp_run *got)
{
    if (runs->n == runs->cap) {
        size_t cap = runs->cap ? runs->cap * 2 : 8;
        struct lp_run_rec **items = realloc(runs->items, cap * sizeof(*items));
        if (!items)
            return NULL;
        runs->items = items;
        runs->cap = cap;
    }
    struct lp_run_rec *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->run = *got;
    memset(got, 0, sizeof(*got));
    memmove(runs->items + pos + 1, runs->items + pos, (runs->n - pos) * sizeof(*runs->items));
    runs->items[pos] = r;
    runs->n++;
    return r;
}

struct lp_run_rec *lp_runs_put(struct lp_runs *runs, struct lp_run *run, uint64_t seq)
{
    struct lp_run_rec *r = lp_runs_find(runs, run->id);
    if (r) {
        update(r, run);
        return r;
    }
    r = insert(runs, 0, run);
    if (r)
        r->added_seq = seq;
    return r;
}

bool lp_runs_merge(struct lp_runs *runs, struct lp_run *arr, size_t n, uint64_t start_seq)
{
    bool changed = false;
    uint64_t gen = ++runs->gen;
    for (size_t i = 0; i < n; i++) {
        if (!arr[i].id)
            continue;
        struct lp_run_rec *r = lp_runs_find(runs, arr[i].id);
        if (r)
            changed |= update(r, &arr[i]);
        else if ((r = insert(runs, 0, &arr[i])))
            changed = true;
        if (r)
            r->seen_gen = gen;
    }
    /* A run missing from the answer is gone, unless it was queued here after
     * the list was asked for (the list could not know it yet). */
    for (size_t k = 0; k < runs->n; k++) {
        struct lp_run_rec *r = runs->items[k];
        if (r->seen_gen != gen && !r->gone && (r->added_seq == 0 || r->added_seq <= start_seq)) {
            r->gone = true;
            changed = true;
        }
    }
    lp_run_array_free(arr, n);
    return changed;
}

struct lp_run_rec *lp_runs_latest(struct lp_runs *runs)
{
    struct lp_run_rec *best = NULL;
    for (size_t i = 0; runs && i < runs->n; i++) {
        struct lp_run_rec *r = runs->items[i];
        if (r->gone || !streq(r->run.status, "completed"))
            continue;
        const char *t = r->run.created_at ? r->run.created_at : "";
        const char *b = best && best->run.created_at ? best->run.created_at : "";
        if (!best || strcmp(t, b) > 0)
            best = r;
    }
    return best;
}
