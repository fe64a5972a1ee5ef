/* sync_types.h - the state of the sync layer (sync.h), shared by its files
 * sync.c, sync_runs.c and sync_answers.c, each of which has its own header. */
#ifndef LEADPIPEFS_SYNC_TYPES_H
#define LEADPIPEFS_SYNC_TYPES_H

#include "api.h"
#include "records.h"
#include "sweep.h"

struct lp_download;

/* A cached answer that is not a record: the account, the filter and topic
 * catalogs (.leadpipe/). Protected by the records lock. */
struct lp_answer {
    char *text; /* the last good answer, NULL until one came */
    size_t len;
    double fetched; /* monotonic time text came; 0: stale */
    double ttl;     /* seconds it is trusted */
    bool fetching;  /* a request is in flight */
    int metric;     /* enum lp_metric_cache */
    int (*fetch)(lp_api *api, char **text, size_t *len, struct lp_api_error *err);
};

struct lp_sync {
    struct lp_records *r;
    lp_api *api;
    struct lp_answer account, filters, topics;
    /* Protected by r->lock: */
    bool listing;                  /* a list request is in flight */
    bool loaded;                   /* a listing has ever succeeded */
    double list_time;              /* monotonic time of the last list attempt */
    double last_miss;              /* when a config fetch last missed the cache */
    double refreshed;              /* when .leadpipe/refresh was last written */
    struct lp_sweep sweep;         /* configs; its own lock */
    struct lp_sweep runs_sweep;    /* runs lists; its own lock */
    double last_runs_miss;         /* when a runs list last missed the cache */
    struct lp_rcache *rcache;      /* results.csv files; NULL: none could be opened */
    struct lp_download *downloads; /* results.csv downloads running (sync_results.c) */
    bool downloads_stopped;        /* unmounting: no new download starts */
};

#endif
