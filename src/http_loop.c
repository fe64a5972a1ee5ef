/* http_loop.c - one event thread per client driving a curl multi handle, so
 * that requests made by many threads at once share connections: over HTTP/2
 * as streams of one connection, over HTTP/1.1 at most LP_HTTP_HOST_CONNS
 * connections with the excess waiting in curl. Callers stay blocking: they
 * queue a handle, wake the thread and wait for their own transfer to end.
 * The easy handles live in a per-client pool and are reused.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"
#include "log.h"

#define POLL_MS 1000 /* curl_multi_poll's longest wait; curl's own timers shorten it */

/* One transfer handed to the thread; lives on the caller's stack. */
struct lp_http_job {
    struct lp_http_easy *e;
    CURLcode rc;
    bool done;
    pthread_cond_t cond;
    struct lp_http_job *next; /* in the queue, then in the active list */
};

/* Clients whose thread must not be running across a fork: fuse_daemonize
 * forks after the start-up check has made requests, and a thread does not
 * cross a fork. Guarded by clients_lock. */
static pthread_mutex_t clients_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static struct lp_http *clients;

/* Under l->lock: the job is done; its caller may return at once. */
static void finish_locked(struct lp_http_job *j, CURLcode rc)
{
    j->rc = rc;
    j->done = true;
    pthread_cond_signal(&j->cond);
}

/* Moves the queue into the multi handle. Only the thread calls this. */
static void add_queued(struct lp_http_loop *l)
{
    pthread_mutex_lock(&l->lock);
    struct lp_http_job *q = NULL;
    /* Callers push in front: turned around, the first to ask goes first. */
    for (struct lp_http_job *j = l->queue, *next; j; j = next) {
        next = j->next;
        j->next = q;
        q = j;
    }
    l->queue = NULL;
    for (struct lp_http_job *j = q, *next; j; j = next) {
        next = j->next;
        curl_easy_setopt(j->e->easy, CURLOPT_PRIVATE, (char *)j);
        if (curl_multi_add_handle(l->multi, j->e->easy) != CURLM_OK) {
            finish_locked(j, CURLE_OUT_OF_MEMORY);
            continue;
        }
        j->next = l->active;
        l->active = j;
    }
    pthread_mutex_unlock(&l->lock);
}

/* Takes every ended transfer out of the multi handle and wakes its caller. */
static void reap_done(struct lp_http_loop *l)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(l->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *easy = m->easy_handle;
        CURLcode rc = m->data.result; /* m is gone once the handle is removed */
        char *priv = NULL;
        long version = 0;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        if (rc == CURLE_OK && curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version) == CURLE_OK)
            __atomic_store_n(&l->multiplexed, version == CURL_HTTP_VERSION_2_0, __ATOMIC_RELAXED);
        curl_multi_remove_handle(l->multi, easy);
        struct lp_http_job *j = (struct lp_http_job *)priv;
        pthread_mutex_lock(&l->lock);
        for (struct lp_http_job **p = &l->active; *p; p = &(*p)->next)
            if (*p == j) {
                *p = j->next;
                break;
            }
        finish_locked(j, rc);
        pthread_mutex_unlock(&l->lock);
    }
}

static void *loop_main(void *arg)
{
    struct lp_http_loop *l = arg;
    for (;;) {
        pthread_mutex_lock(&l->lock);
        bool stop = l->stop;
        pthread_mutex_unlock(&l->lock);
        if (stop)
            break;
        add_queued(l);
        int running = 0;
        if (curl_multi_perform(l->multi, &running) != CURLM_OK)
            lp_log(LP_LOG_WARNING, "curl_multi_perform failed");
        reap_done(l);
        curl_multi_poll(l->multi, NULL, 0, POLL_MS, NULL);
    }
    return NULL;
}

/* Starts the thread; l->lock held or the client not shared yet. */
static int start_thread_locked(struct lp_http_loop *l)
{
    l->stop = false;
    if (pthread_create(&l->thread, NULL, loop_main, l) != 0)
        return -1;
    l->running = true;
    return 0;
}

/* Stops the thread, leaving transfers in the multi handle as they are. */
static void stop_thread(struct lp_http_loop *l)
{
    pthread_mutex_lock(&l->lock);
    bool running = l->running;
    l->stop = true;
    l->running = false;
    pthread_mutex_unlock(&l->lock);
    if (!running)
        return;
    curl_multi_wakeup(l->multi);
    pthread_join(l->thread, NULL);
}

/* Under l->lock: fails every queued transfer. */
static void abandon_queued_locked(struct lp_http_loop *l)
{
    for (struct lp_http_job *j = l->queue, *next; j; j = next) {
        next = j->next;
        finish_locked(j, CURLE_FAILED_INIT);
    }
    l->queue = NULL;
}

/* Around a fork: no client's thread runs while the process is copied (a
 * lock it held would stay held in the child); each starts again after, in
 * the parent and in the child. Their transfers wait meanwhile. */
static void before_fork(void)
{
    pthread_mutex_lock(&clients_lock);
    for (struct lp_http *h = clients; h; h = h->loop.next_client)
        stop_thread(&h->loop);
}

static void after_fork(void)
{
    for (struct lp_http *h = clients; h; h = h->loop.next_client) {
        struct lp_http_loop *l = &h->loop;
        pthread_mutex_lock(&l->lock);
        if (start_thread_locked(l) != 0) {
            /* Nobody would ever answer: every exchange fails from now on. */
            l->broken = true;
            abandon_queued_locked(l);
            lp_log(LP_LOG_ERR, "cannot start the HTTP thread again: %s", strerror(errno));
        }
        pthread_mutex_unlock(&l->lock);
    }
    pthread_mutex_unlock(&clients_lock);
}

static void register_atfork(void)
{
    if (pthread_atfork(before_fork, after_fork, after_fork) != 0)
        abort(); /* ENOMEM at start-up: nothing sensible remains */
}

int lp_http_loop_start(struct lp_http *h)
{
    struct lp_http_loop *l = &h->loop;
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_init(&l->lock, NULL);
    l->multi = curl_multi_init();
    if (!l->multi)
        return -1;
    /* Streams of one HTTP/2 connection where the server speaks it; over
     * HTTP/1.1 at most this many connections, further requests wait for one
     * (CURLOPT_PIPEWAIT makes them wait for HTTP/2 as well, see below). */
    curl_multi_setopt(l->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(l->multi, CURLMOPT_MAX_HOST_CONNECTIONS, LP_HTTP_HOST_CONNS);
    curl_multi_setopt(l->multi, CURLMOPT_MAXCONNECTS, LP_HTTP_MAX_CONNECTS);
    pthread_mutex_lock(&clients_lock);
    int rc = start_thread_locked(l);
    if (rc == 0) {
        l->next_client = clients;
        clients = h;
    }
    pthread_mutex_unlock(&clients_lock);
    return rc;
}

/* Ends the transfers still in the multi handle (none, when the client is
 * freed as it must be, with no request in progress) and the queued ones. */
static void abandon_all(struct lp_http_loop *l)
{
    pthread_mutex_lock(&l->lock);
    for (struct lp_http_job *j = l->active, *next; j; j = next) {
        next = j->next;
        curl_multi_remove_handle(l->multi, j->e->easy);
        finish_locked(j, CURLE_ABORTED_BY_CALLBACK);
    }
    l->active = NULL;
    abandon_queued_locked(l);
    pthread_mutex_unlock(&l->lock);
}

void lp_http_loop_stop(struct lp_http *h)
{
    struct lp_http_loop *l = &h->loop;
    pthread_mutex_lock(&clients_lock);
    for (struct lp_http **p = &clients; *p; p = &(*p)->loop.next_client)
        if (*p == h) {
            *p = l->next_client;
            break;
        }
    pthread_mutex_unlock(&clients_lock);
    if (l->multi) {
        stop_thread(l);
        abandon_all(l);
        curl_multi_cleanup(l->multi); /* closes the connections */
        l->multi = NULL;
    }
    for (struct lp_http_easy *e = l->idle, *next; e; e = next) {
        next = e->next;
        curl_easy_cleanup(e->easy);
        free(e);
    }
    l->idle = NULL;
    pthread_mutex_destroy(&l->lock);
}

struct lp_http_easy *lp_http_easy_take(struct lp_http *h)
{
    struct lp_http_loop *l = &h->loop;
    pthread_mutex_lock(&l->lock);
    struct lp_http_easy *e = l->idle;
    if (e)
        l->idle = e->next;
    pthread_mutex_unlock(&l->lock);
    if (e)
        return e;
    e = calloc(1, sizeof *e);
    if (!e || !(e->easy = lp_http_new_easy(h, e->errbuf))) {
        free(e);
        return NULL;
    }
    /* Where HTTP/2 may be spoken (https, ALPN), a transfer waits for a
     * connection being set up to say whether it multiplexes, rather than
     * opening one more: requests at once then share one connection. */
    if (h->https)
        curl_easy_setopt(e->easy, CURLOPT_PIPEWAIT, 1L);
    return e;
}

void lp_http_pool_shrink(void)
{
    pthread_mutex_lock(&clients_lock); /* keeps each client alive meanwhile */
    for (struct lp_http *h = clients; h; h = h->loop.next_client) {
        struct lp_http_loop *l = &h->loop;
        pthread_mutex_lock(&l->lock);
        struct lp_http_easy *e = l->idle && l->idle->next ? l->idle : NULL;
        if (e)
            l->idle = e->next;
        pthread_mutex_unlock(&l->lock);
        if (e) {
            curl_easy_cleanup(e->easy);
            free(e);
        }
    }
    pthread_mutex_unlock(&clients_lock);
}

void lp_http_easy_give(struct lp_http *h, struct lp_http_easy *e)
{
    struct lp_http_loop *l = &h->loop;
    pthread_mutex_lock(&l->lock);
    e->next = l->idle;
    l->idle = e;
    pthread_mutex_unlock(&l->lock);
}

CURLcode lp_http_loop_perform(struct lp_http *h, struct lp_http_easy *e)
{
    struct lp_http_loop *l = &h->loop;
    struct lp_http_job j = {.e = e};
    pthread_cond_init(&j.cond, NULL);
    pthread_mutex_lock(&l->lock);
    if (l->broken) {
        pthread_mutex_unlock(&l->lock);
        pthread_cond_destroy(&j.cond);
        return CURLE_FAILED_INIT;
    }
    j.next = l->queue;
    l->queue = &j;
    pthread_mutex_unlock(&l->lock);
    curl_multi_wakeup(l->multi);
    pthread_mutex_lock(&l->lock);
    while (!j.done)
        pthread_cond_wait(&j.cond, &l->lock);
    pthread_mutex_unlock(&l->lock);
    pthread_cond_destroy(&j.cond);
    return j.rc;
}
