/* runs.h - the runs of one audience as this mount knows them (records layer):
 * the list as last fetched, each run's stats once fetched, and where its
 * results stand. Owned by the audience record (struct lp_aud.runs) and freed
 * with it, so a run record lives as long as anything can point to it: a run
 * that leaves the list is only marked gone. Every field is protected by the
 * records lock.
 */
#ifndef LEADPIPEFS_RUNS_H
#define LEADPIPEFS_RUNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "run.h"

struct lp_run_rec {
    struct lp_run run;  /* as last listed or answered */
    bool gone;          /* no longer in the list (or the list is gone) */
    uint64_t added_seq; /* records' mutation counter when queued here; 0: listed */
    uint64_t seen_gen;  /* the last list that carried it */
    char *stats;        /* stats.json's text once fetched (a completed run never changes) */
    size_t stats_len;
    bool stats_fetching;
    bool csv_fetching; /* a download of results.csv is in flight */
    bool csv_known;    /* csv_size is the cached file's size */
    uint64_t csv_size;
    int csv_err; /* the last download's failure */
    void *view;  /* the view's object for this run; records never look */
};

struct lp_runs {
    struct lp_run_rec **items; /* newest first; gone ones kept */
    size_t n, cap;
    uint64_t gen;   /* lists merged so far */
    double fetched; /* monotonic time of the last list; 0: stale */
    bool fetching;  /* a list request is in flight */
};

/* The runs of an audience, made empty on first use; NULL on no memory. */
struct lp_runs *lp_runs_of(struct lp_runs **slot);
void lp_runs_free(struct lp_runs *runs);

/* Merges a fetched list (runs taken over, arr freed): known ids are updated,
 * new ones added, ids missing are marked gone unless queued here after
 * start_seq. Returns true when anything a listing shows changed. */
bool lp_runs_merge(struct lp_runs *runs, struct lp_run *arr, size_t n, uint64_t start_seq);
/* Adds (or updates) one run as answered by the API (taken over); returns it. */
struct lp_run_rec *lp_runs_put(struct lp_runs *runs, struct lp_run *run, uint64_t seq);
struct lp_run_rec *lp_runs_find(struct lp_runs *runs, const char *id);
/* The newest completed run not gone, or NULL. */
struct lp_run_rec *lp_runs_latest(struct lp_runs *runs);

#endif
