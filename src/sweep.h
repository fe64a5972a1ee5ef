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

#define LP_SWEEP_WORKERS 8

struct lp_sweep_ops {
    /* Does the work for one id; called without any lock of the sweep's held. */
    void (*work)(void *ctx, const char *id);
    /* Called by each worker thread as it ends (per-thread clean-up); may be NULL. */
    void (*thread_exit)(void);
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
