/* rcache_live.c - a results file still being downloaded (rcache_live.h):
 * its readers wait on a condition the writer signals as bytes reach the disk,
 * woken only when the bytes one of them needs are there (a download of
 * 200 MB is some 12,000 writes; its readers ask for a few hundred reads).
 */
#include "rcache_live.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "deadline.h"

enum live_state { LIVE_RUNNING, LIVE_WHOLE, LIVE_FAILED };

struct lp_rcache_live {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* on CLOCK_MONOTONIC */
    unsigned refs;
    int fd;         /* the part, read-only; fixed, so read without the lock */
    uint64_t avail; /* bytes of the current try on disk */
    uint64_t size;  /* the length announced (or, once whole, the length) */
    bool sized;     /* size is known */
    uint64_t want;  /* the least avail a waiting reader needs; UINT64_MAX: none */
    enum live_state state;
};

lp_rcache_live *lp_rcache_live_new(int fd)
{
    lp_rcache_live *l = calloc(1, sizeof *l);
    pthread_condattr_t attr;
    if (!l) {
        close(fd);
        return NULL;
    }
    pthread_mutex_init(&l->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cond, &attr);
    pthread_condattr_destroy(&attr);
    l->refs = 1;
    l->fd = fd;
    l->want = UINT64_MAX;
    return l;
}

void lp_rcache_live_get(lp_rcache_live *l)
{
    pthread_mutex_lock(&l->lock);
    l->refs++;
    pthread_mutex_unlock(&l->lock);
}

void lp_rcache_live_put(lp_rcache_live *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    bool last = --l->refs == 0;
    pthread_mutex_unlock(&l->lock);
    if (!last)
        return;
    close(l->fd);
    pthread_cond_destroy(&l->cond);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

int lp_rcache_live_dup(lp_rcache_live *l)
{
    int fd = fcntl(l->fd, F_DUPFD_CLOEXEC, 0);
    return fd < 0 ? -EIO : fd;
}

bool lp_rcache_live_size(lp_rcache_live *l, uint64_t *size)
{
    pthread_mutex_lock(&l->lock);
    bool known = l->sized;
    *size = known ? l->size : 0;
    pthread_mutex_unlock(&l->lock);
    return known;
}

ssize_t lp_rcache_live_wait(lp_rcache_live *l, uint64_t off, size_t len, int ms, uint64_t *size)
{
    struct timespec until = lp_deadline_ms(ms);
    uint64_t end = off + len;
    ssize_t rc;
    int waited = 0;
    pthread_mutex_lock(&l->lock);
    for (;;) {
        if (l->state == LIVE_WHOLE) {
            rc = off >= l->size ? 0 : (ssize_t)(l->size - off < len ? l->size - off : len);
            break;
        }
        if (l->state == LIVE_FAILED) {
            rc = -EIO;
            break;
        }
        /* Short of the announced end: served as soon as its bytes are on
         * disk. The read that would show where the file ends waits for the
         * verdict on the whole download. */
        bool inside = l->sized && end < l->size;
        if (inside && l->avail >= end) {
            rc = (ssize_t)len;
            break;
        }
        if (waited == ETIMEDOUT) {
            rc = -EAGAIN;
            break;
        }
        if (inside && end < l->want)
            l->want = end;
        waited = pthread_cond_timedwait(&l->cond, &l->lock, &until);
    }
    *size = l->sized ? l->size : 0;
    pthread_mutex_unlock(&l->lock);
    return rc;
}

void lp_rcache_live_restart(lp_rcache_live *l)
{
    pthread_mutex_lock(&l->lock);
    l->avail = 0;
    l->sized = false;
    pthread_mutex_unlock(&l->lock);
}

void lp_rcache_live_announce(lp_rcache_live *l, int64_t len)
{
    pthread_mutex_lock(&l->lock);
    l->sized = len >= 0;
    l->size = len >= 0 ? (uint64_t)len : 0;
    pthread_cond_broadcast(&l->cond); /* an end read may now be inside */
    pthread_mutex_unlock(&l->lock);
}

void lp_rcache_live_written(lp_rcache_live *l, uint64_t avail)
{
    pthread_mutex_lock(&l->lock);
    l->avail = avail;
    if (avail >= l->want) {
        l->want = UINT64_MAX; /* those still short say so again */
        pthread_cond_broadcast(&l->cond);
    }
    pthread_mutex_unlock(&l->lock);
}

void lp_rcache_live_whole(lp_rcache_live *l, uint64_t len)
{
    pthread_mutex_lock(&l->lock);
    l->state = LIVE_WHOLE;
    l->avail = l->size = len;
    l->sized = true;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->lock);
}

void lp_rcache_live_fail(lp_rcache_live *l)
{
    pthread_mutex_lock(&l->lock);
    if (l->state != LIVE_WHOLE)
        l->state = LIVE_FAILED;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->lock);
}
