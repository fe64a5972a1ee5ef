/* sweep.c - the threads behind sweep.h: a coordinator starts as many workers
 * as ops.workers says (LP_SWEEP_WORKERS without it), with small stacks, that
 * take ids in order until none is left. */
#include "sweep.h"

#include <stdlib.h>
#include <string.h>

void lp_sweep_init(struct lp_sweep *s, const struct lp_sweep_ops *ops)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->ops = *ops;
}

static void free_ids(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

static void *worker(void *arg)
{
    struct lp_sweep *s = arg;
    pthread_mutex_lock(&s->lock);
    while (!s->stop && s->next < s->n) {
        const char *id = s->ids[s->next++];
        pthread_mutex_unlock(&s->lock);
        s->ops.work(s->ops.ctx, id); /* ids stay until every worker has ended */
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    if (s->ops.thread_exit)
        s->ops.thread_exit();
    return NULL;
}

static int how_many(struct lp_sweep *s)
{
    int n = s->ops.workers ? s->ops.workers(s->ops.ctx) : LP_SWEEP_WORKERS;
    if (n < 1)
        n = 1;
    if (n > LP_SWEEP_MAX_WORKERS)
        n = LP_SWEEP_MAX_WORKERS;
    return (size_t)n < s->n ? n : (int)s->n;
}

static void *coordinator(void *arg)
{
    struct lp_sweep *s = arg;
    pthread_t threads[LP_SWEEP_MAX_WORKERS];
    pthread_attr_t attr;
    bool small = pthread_attr_init(&attr) == 0;
    /* Up to 64 threads: their stacks' address space stays small (the
     * default is 8 MiB each), whatever the limit says. */
    if (small && pthread_attr_setstacksize(&attr, LP_SWEEP_STACK) != 0) {
        pthread_attr_destroy(&attr);
        small = false;
    }
    int started = 0, want = how_many(s);
    for (int i = 0; i < want; i++)
        if (pthread_create(&threads[started], small ? &attr : NULL, worker, s) == 0)
            started++;
    if (small)
        pthread_attr_destroy(&attr);
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_lock(&s->lock);
    free_ids(s->ids, s->n);
    s->ids = NULL;
    s->n = s->next = 0;
    s->running = false;
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

bool lp_sweep_start(struct lp_sweep *s, char **ids, size_t n)
{
    pthread_mutex_lock(&s->lock);
    bool ok = !s->running && !s->stop && n > 0;
    if (ok && s->started) {
        /* The last sweep has ended (running is false): reap its thread. */
        pthread_join(s->thread, NULL);
        s->started = false;
    }
    if (ok) {
        s->ids = ids;
        s->n = n;
        s->next = 0;
        s->running = true;
        if (pthread_create(&s->thread, NULL, coordinator, s) == 0) {
            s->started = true;
        } else {
            s->ids = NULL;
            s->n = 0;
            s->running = false;
            ok = false;
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (!ok)
        free_ids(ids, n);
    return ok;
}

bool lp_sweep_running(struct lp_sweep *s)
{
    pthread_mutex_lock(&s->lock);
    bool running = s->running;
    pthread_mutex_unlock(&s->lock);
    return running;
}

void lp_sweep_stop(struct lp_sweep *s)
{
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    bool started = s->started;
    s->started = false;
    pthread_mutex_unlock(&s->lock);
    if (started)
        pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->lock);
}
