/* sweep.h - a few threads working through a list of ids in the background.
 *
 * `cat M/X/config.json` over a glob of every X reads one config after another;
 * paying their latencies one after another is what makes REST file systems
 * slow. sync.c starts a sweep when reads look like that, and the readers find
 * the answers waiting. Generic: the work per id is the caller's callback.
 */
#ifndef LEADPIPEFS_SWEEP_H
#define LEADPIPEFS_SWEEP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define LP_SWEEP_WORKERS 8      /* when ops.workers says nothing */
#define LP_SWEEP_MAX_WORKERS 64 /* the most ops.workers may ask for */
/* A worker's stack, a quarter of the usual 8 MiB: up to 64 workers. It holds
 * a fetch and its JSON, never curl (which runs on the HTTP thread): a config
 * nested 950 deep (cJSON takes 1000) needs under 512 KiB, but between 512 KiB
 * and 1 MiB under AddressSanitizer (test_connections). Only pages touched
 * count towards RSS. */
#define LP_SWEEP_STACK ((size_t)2 << 20)

struct lp_sweep_ops {
    /* Does the work for one id; called without any lock of the sweep's held. */
    void (*work)(void *ctx, const char *id);
    /* Called by each worker thread as it ends (per-thread clean-up); may be NULL. */
    void (*thread_exit)(void);
    /* May be NULL. How many workers a sweep starting now should have (as
     * many as requests worth having in flight at once), 1 to
     * LP_SWEEP_MAX_WORKERS; asked once per sweep. */
    int (*workers)(void *ctx);
    void *ctx;
};

/* Every field is the sweep's own, protected by its lock. */
struct lp_sweep {
    pthread_mutex_t lock;
    pthread_t thread; /* the coordinator of the current or last sweep */
    bool started;     /* thread exists and must be joined */
    bool running;     /* still working */
    bool stop;
    char **ids;
    size_t n, next;
    struct lp_sweep_ops ops;
};

void lp_sweep_init(struct lp_sweep *s, const struct lp_sweep_ops *ops);
/* Starts working through ids (taken over: malloc'd array of malloc'd strings)
 * unless a sweep is still running or the sweep is stopped; then ids are freed.
 * Returns true when a sweep started. */
bool lp_sweep_start(struct lp_sweep *s, char **ids, size_t n);
bool lp_sweep_running(struct lp_sweep *s);
/* Stops taking new ids, waits for the workers and frees what is left. */
void lp_sweep_stop(struct lp_sweep *s);

#endif
