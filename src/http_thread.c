/* http_thread.c - the easy handle each thread owns for a streamed GET
 * (http_stream.c), which runs in the calling thread, on a connection of its
 * own, with its callbacks writing where that thread wants; every other
 * exchange goes through http_loop.c. Kept in thread-local storage, one per
 * (thread, client), freed when the thread ends or its client goes.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>

#include "http_int.h"

static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static pthread_key_t tls_key;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

static void free_thread_handles(void *head);

static void create_tls_key(void)
{
    if (pthread_key_create(&tls_key, free_thread_handles) != 0)
        abort(); /* only on EAGAIN/ENOMEM at start-up: nothing sensible remains */
}

/* Frees the calling thread's handle structs whose client is gone. Registry lock held. */
static void prune_thread_locked(void)
{
    struct lp_http_handle *head = pthread_getspecific(tls_key), **link = &head;
    while (*link) {
        struct lp_http_handle *e = *link;
        if (e->owner) {
            link = &e->thread_next;
        } else {
            *link = e->thread_next;
            free(e);
        }
    }
    pthread_setspecific(tls_key, head);
}

void lp_http_thread_handles_release(struct lp_http *h)
{
    pthread_once(&tls_once, create_tls_key);
    pthread_mutex_lock(&registry_lock);
    /* Easy handles must leave the share before it can be cleaned up. Other
     * threads keep their (now empty) structs until they exit or look again. */
    for (struct lp_http_handle *e = h->handles; e; e = e->owner_next) {
        curl_easy_cleanup(e->easy);
        e->easy = NULL;
        e->owner = NULL;
    }
    h->handles = NULL;
    prune_thread_locked();
    pthread_mutex_unlock(&registry_lock);
}

/* Registry lock held: takes e out of its client's list and frees its easy handle. */
static void detach_locked(struct lp_http_handle *e)
{
    struct lp_http *h = e->owner;
    if (!h)
        return;
    if (e->owner_prev)
        e->owner_prev->owner_next = e->owner_next;
    else
        h->handles = e->owner_next;
    if (e->owner_next)
        e->owner_next->owner_prev = e->owner_prev;
    curl_easy_cleanup(e->easy);
    e->easy = NULL;
    e->owner = NULL;
}

/* TLS destructor, and lp_http_thread_cleanup: head is the thread's list. */
static void free_thread_handles(void *head)
{
    pthread_mutex_lock(&registry_lock);
    for (struct lp_http_handle *e = head, *next; e; e = next) {
        next = e->thread_next;
        detach_locked(e);
        free(e);
    }
    pthread_mutex_unlock(&registry_lock);
}

void lp_http_thread_cleanup(void)
{
    pthread_once(&tls_once, create_tls_key);
    void *head = pthread_getspecific(tls_key);
    pthread_setspecific(tls_key, NULL);
    free_thread_handles(head);
    lp_http_pool_shrink();
}

struct lp_http_handle *lp_http_thread_handle(struct lp_http *h)
{
    struct lp_http_handle *e;

    pthread_once(&tls_once, create_tls_key);
    pthread_mutex_lock(&registry_lock);
    prune_thread_locked();
    for (e = pthread_getspecific(tls_key); e; e = e->thread_next)
        if (e->owner == h)
            break;
    pthread_mutex_unlock(&registry_lock);
    if (e)
        return e;

    e = calloc(1, sizeof *e);
    if (!e || !(e->easy = lp_http_new_easy(h, e->errbuf))) {
        free(e);
        return NULL;
    }
    pthread_mutex_lock(&registry_lock);
    e->owner = h;
    e->owner_next = h->handles;
    if (h->handles)
        h->handles->owner_prev = e;
    h->handles = e;
    e->thread_next = pthread_getspecific(tls_key);
    pthread_setspecific(tls_key, e);
    pthread_mutex_unlock(&registry_lock);
    return e;
}

