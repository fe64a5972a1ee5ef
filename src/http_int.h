/* http_int.h - what http.c and http_stream.c share: the client, its
 * per-thread handles, the answer buffer and a streamed GET in progress. Not
 * for other files. */
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
#define LP_HTTP_MAX_BODY ((size_t)64 << 20) /* one answer; a 100-item page is ~50 KiB */

struct lp_http_handle;

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
};

/* One easy handle, owned by one thread, made for one client. The thread frees
 * the struct (at exit or lp_http_thread_cleanup); the client frees the easy
 * handle when it goes first, leaving owner NULL. Links are guarded by registry_lock. */
struct lp_http_handle {
    CURL *easy;
    lp_http *owner;
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
