/* notify.c - a queue of kernel invalidations and the thread that sends them. */
#include "notify.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define QUEUE_MAX 100000 /* past this, drop: the kernel's timeouts still expire */

struct item {
    struct item *next;
    bool entry;
    fuse_ino_t parent, ino;
    char name[];
};

struct lp_notifier {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct item *head, *tail;
    size_t count;
    bool stop, started;
    struct fuse_session *se;
    pthread_t thread;
};

lp_notifier *lp_notifier_new(void)
{
    lp_notifier *nf = calloc(1, sizeof(*nf));
    if (!nf)
        return NULL;
    pthread_mutex_init(&nf->lock, NULL);
    pthread_cond_init(&nf->cond, NULL);
    return nf;
}

void lp_notifier_queue(void *ctx, const struct lp_change *c)
{
    lp_notifier *nf = ctx;
    size_t nlen = c->entry && c->name ? strlen(c->name) : 0;
    pthread_mutex_lock(&nf->lock);
    /* Before the mount exists the kernel knows nothing worth invalidating. */
    if (!nf->started || nf->stop || nf->count >= QUEUE_MAX) {
        pthread_mutex_unlock(&nf->lock);
        return;
    }
    struct item *it = malloc(sizeof(*it) + nlen + 1);
    if (it) {
        it->next = NULL;
        it->entry = c->entry;
        it->parent = c->parent;
        it->ino = c->ino;
        memcpy(it->name, c->entry && c->name ? c->name : "", nlen + 1);
        if (nf->tail)
            nf->tail->next = it;
        else
            nf->head = it;
        nf->tail = it;
        nf->count++;
        pthread_cond_signal(&nf->cond);
    }
    pthread_mutex_unlock(&nf->lock);
}

static void send_one(struct fuse_session *se, const struct item *it)
{
    int rc;
    if (it->entry)
        rc = fuse_lowlevel_notify_inval_entry(se, it->parent, it->name, strlen(it->name));
    else
        rc = fuse_lowlevel_notify_inval_inode(se, it->ino, 0, 0);
    /* ENOENT: the kernel had already forgotten it, which is what we wanted. */
    if (rc < 0 && rc != -ENOENT) {
        char why[128]; /* strerror's buffer is shared between threads; this one is not */
        lp_log(LP_LOG_DEBUG, "kernel invalidation failed: %s", strerror_r(-rc, why, sizeof why));
    }
}

static void *run(void *arg)
{
    lp_notifier *nf = arg;
    pthread_mutex_lock(&nf->lock);
    while (!nf->stop) {
        if (!nf->head) {
            pthread_cond_wait(&nf->cond, &nf->lock);
            continue;
        }
        struct item *it = nf->head;
        nf->head = it->next;
        if (!nf->head)
            nf->tail = NULL;
        nf->count--;
        pthread_mutex_unlock(&nf->lock);
        send_one(nf->se, it);
        free(it);
        pthread_mutex_lock(&nf->lock);
    }
    pthread_mutex_unlock(&nf->lock);
    return NULL;
}

int lp_notifier_start(lp_notifier *nf, struct fuse_session *se)
{
    nf->se = se;
    int rc = pthread_create(&nf->thread, NULL, run, nf);
    if (rc != 0)
        return -rc;
    pthread_mutex_lock(&nf->lock);
    nf->started = true;
    pthread_mutex_unlock(&nf->lock);
    return 0;
}

void lp_notifier_free(lp_notifier *nf)
{
    if (!nf)
        return;
    pthread_mutex_lock(&nf->lock);
    bool started = nf->started;
    nf->stop = true;
    pthread_cond_broadcast(&nf->cond);
    pthread_mutex_unlock(&nf->lock);
    if (started)
        pthread_join(nf->thread, NULL);
    while (nf->head) {
        struct item *it = nf->head;
        nf->head = it->next;
        free(it);
    }
    pthread_mutex_destroy(&nf->lock);
    pthread_cond_destroy(&nf->cond);
    free(nf);
}
