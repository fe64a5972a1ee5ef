/* http_int.h - what the http*.c files share: the client, its event thread
 * and pool, the per-thread handles, the answer buffer and a streamed GET in
 * progress. Not for other files. */
#ifndef LEADPIPEFS_HTTP_INT_H
#define LEADPIPEFS_HTTP_INT_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "http.h"

/* Idle connections kept, more than the threads that make requests at once
 * (the sweep's, FUSE's). */
#define LP_HTTP_MAX_CONNECTS 32L
/* Connections to the API at once, and so requests at once over HTTP/1.1;
 * over HTTP/2 the requests worth having in flight on its one connection. */
#define LP_HTTP_HOST_CONNS 8L
#define LP_HTTP_STREAMS 64
#define LP_HTTP_MAX_BODY ((size_t)64 << 20) /* one answer; a 100-item page is ~50 KiB */

struct lp_http_handle;
struct lp_http_job;

/* An easy handle of a client's pool (http_loop.c), for every exchange but a
 * streamed GET; set up once (lp_http_new_easy) and reused. */
struct lp_http_easy {
    CURL *easy;
    struct lp_http_easy *next; /* among the idle ones */
    char errbuf[CURL_ERROR_SIZE];
};

/* The event thread of a client and what it drives (http_loop.c). */
struct lp_http_loop {
    CURLM *multi;
    pthread_mutex_t lock;        /* guards the fields below and the jobs' done flags */
    pthread_t thread;
    bool running;                /* the thread exists and must be joined */
    bool stop;                   /* asks the thread to return */
    bool broken;                 /* no thread after a fork: exchanges fail at once */
    struct lp_http_job *queue;   /* waiting to be added to multi, newest first */
    struct lp_http_job *active;  /* in multi */
    struct lp_http_easy *idle;   /* the pool */
    bool multiplexed;            /* the last transfer went over HTTP/2 (atomic) */
    struct lp_http *next_client;        /* http_loop.c's list, for fork */
};

struct lp_http {
    char *base_url; /* without trailing slashes */
    char *api_key;
    char *ca_file; /* NULL: the TLS library's default CAs */
    long connect_timeout_ms;
    long timeout_ms;
    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    struct curl_slist *headers_plain;  /* requests without a body */
    struct curl_slist *headers_body;   /* requests with a JSON body */
    struct curl_slist *headers_stream; /* streamed downloads (CSV or a JSON error) */
    struct lp_http_handle *handles;    /* every easy handle made for this client */
    bool https;                        /* may speak HTTP/2 (ALPN), so transfers wait for it */
    bool loop_made;                    /* lp_http_loop_stop has something to free */
    struct lp_http_loop loop;
};

/* One easy handle, owned by one thread, made for one client. The thread frees
 * the struct (at exit or lp_http_thread_cleanup); the client frees the easy
 * handle when it goes first, leaving owner NULL. Links are guarded by registry_lock. */
struct lp_http_handle {
    CURL *easy;
    struct lp_http *owner;
    struct lp_http_handle *thread_next;
    struct lp_http_handle *owner_next, *owner_prev;
    char errbuf[CURL_ERROR_SIZE];
};

/* The answer being received: grows up to LP_HTTP_MAX_BODY. */
struct lp_http_body {
    char *data;
    size_t len, cap;
    bool too_large;
    bool no_memory;
};

/* One streamed GET in progress. A 200's body goes to s->write; any other
 * status's body to buf, as for lp_http_request. */
struct lp_http_xfer {
    struct lp_http_stream *s;
    struct lp_http_body *buf;
    CURL *easy;
    int mode;             /* 0: status not looked at yet, 1: to the sink, 2: to buf */
    long stall_ms;        /* no body byte for this long ends the exchange */
    curl_off_t last_now;  /* bytes at the last progress call */
    struct timespec last; /* when a byte last arrived (or the exchange began) */
    bool excess;          /* bytes past Content-Length were seen */
    curl_socket_t sock;   /* the socket curl opened for this exchange */
    int sockets;          /* how many it opened */
    char why[160];        /* what went wrong, when curl's words would mislead */
};

/* A new easy handle with the options every handle of h gets once, or NULL
 * (no memory); errbuf: its error buffer (CURL_ERROR_SIZE). http_easy.c. */
CURL *lp_http_new_easy(struct lp_http *h, char *errbuf);

/* http_thread.c. The calling thread's own handle for h, for a streamed GET,
 * made on first use (NULL on no memory); release: frees every thread's handle
 * for h, as h goes (before its share). */
struct lp_http_handle *lp_http_thread_handle(struct lp_http *h);
void lp_http_thread_handles_release(struct lp_http *h);

/* http_loop.c. start: makes the multi handle and starts the thread (0, or
 * -1: lp_http_loop_stop still frees what was made). stop: ends the thread
 * and frees the multi handle, its connections and the pool; h->loop must
 * have been zeroed before start. */
int lp_http_loop_start(struct lp_http *h);
void lp_http_loop_stop(struct lp_http *h);
/* An idle easy handle of the pool, or a new one; NULL on no memory. Give it
 * back with lp_http_easy_give once its answer has been read. */
struct lp_http_easy *lp_http_easy_take(struct lp_http *h);
void lp_http_easy_give(struct lp_http *h, struct lp_http_easy *e);
/* A thread that made requests is ending (lp_http_thread_cleanup): each
 * client's pool frees one idle handle, keeping one. The pool then holds about
 * as many handles as threads that use it, as when each thread had its own:
 * a handle, with its receive buffer, is some 20 KiB, and a burst of threads
 * (a listing's pages, a sweep) would otherwise leave them all behind. */
void lp_http_pool_shrink(void);
/* Runs e's transfer on the event thread and returns its result, as
 * curl_easy_perform would. */
CURLcode lp_http_loop_perform(struct lp_http *h, struct lp_http_easy *e);

/* curl's write callback filling a struct lp_http_body (userdata). */
size_t lp_http_write_body(char *ptr, size_t size, size_t nmemb, void *userdata);
double lp_http_elapsed_ms(const struct timespec *start);

/* Which certificate problem, if any, ended an exchange with rc; errbuf is
 * curl's error buffer, whose text tells expired, host name and issuer apart
 * (curl gives them all one code). http_tls.c. */
enum lp_cert_problem lp_http_cert_problem(CURLcode rc, const char *errbuf);

/* A streamed GET on c (http_stream.c): begin sets the options it needs
 * before curl_easy_perform; end judges the body (rc may become an error),
 * restores the handle's usual options and returns the result. */
void lp_http_stream_begin(lp_http *h, CURL *c, struct lp_http_xfer *st, struct lp_http_body *buf);
CURLcode lp_http_stream_end(lp_http *h, CURL *c, struct lp_http_xfer *st, CURLcode rc);

#endif
