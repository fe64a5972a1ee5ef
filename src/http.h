/* http.h - libcurl plumbing for leadpipefs: one exchange, nothing more.
 *
 * Exchanges run on one event thread per client driving a curl multi handle
 * (callers block until theirs ends): requests from many threads share its
 * connections, over HTTP/2 as streams of one connection. A streamed GET runs
 * in the calling thread on a handle of its own. DNS cache and TLS sessions
 * are shared by all. TLS peer and host verification stay on.
 * No retries and no knowledge of the Leadpipe API live here (see api.h).
 */
#ifndef LEADPIPEFS_HTTP_H
#define LEADPIPEFS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cert_problem.h"

typedef struct lp_http lp_http;

struct lp_http_options {
    const char *base_url;    /* e.g. LP_DEFAULT_BASE_URL (defaults.h); trailing slash optional */
    const char *api_key;     /* sent as x-api-key; copied */
    long connect_timeout_ms; /* 0: LP_DEFAULT_CONNECT_MS */
    long timeout_ms;         /* whole exchange; 0: LP_DEFAULT_TIMEOUT_S */
    const char *ca_file;     /* PEM file of the CAs to trust; NULL: the system's; copied */
};

struct lp_http_response {
    long status; /* HTTP status, 0 when no answer arrived */
    char *body;  /* NUL-terminated, owned; free with lp_http_response_clear */
    size_t body_len;
    long retry_after_s;        /* Retry-After in seconds, -1 when absent */
    bool transport_error;      /* no complete HTTP answer (connect, timeout, reset) */
    bool maybe_sent;           /* transport error after the request may have reached the server */
    char error[256];           /* curl's description of a transport error */
    enum lp_cert_problem cert; /* the transport error was the server's certificate */
};

/* Returns a new client or NULL (errno set). Caller frees with lp_http_free. */
lp_http *lp_http_new(const struct lp_http_options *opts);
void lp_http_free(lp_http *h);

/* One exchange. method: "GET", "POST", "PATCH", "DELETE". path: "/v1/...?q" appended
 * to the base URL. body: JSON text or NULL (content-type set only with a body).
 * Returns 0 when an HTTP answer arrived (any status), -1 on transport failure.
 * Either way *resp is filled and must be cleared by the caller. Thread-safe. */
int lp_http_request(lp_http *h, const char *method, const char *path, const char *body,
                    struct lp_http_response *resp);
/* lp_http_request with one more request header line, "Name: value" (no CR
 * or LF, else a local failure), for this exchange only; NULL: none. */
int lp_http_request_hdr(lp_http *h, const char *method, const char *path, const char *body,
                        const char *header, struct lp_http_response *resp);

/* Where a streamed GET's body goes. */
struct lp_http_stream {
    int (*write)(void *ctx, const char *buf, size_t n); /* 0, or -errno: stops the exchange */
    /* May be NULL. The 200 answer's Content-Length (-1: none), before its
     * first body byte (an empty body is not announced). */
    void (*announce)(void *ctx, int64_t length);
    /* May be NULL. Asked at least once a second: true ends the exchange
     * (write_error -ECANCELED). */
    bool (*stop)(void *ctx);
    void *ctx;
    uint64_t received; /* out: body bytes handed to write */
    int write_error;   /* out: write's -errno when it stopped the exchange, else 0 */
};

/* GET path, streamed: a 200 answer's body is handed to s->write as it
 * arrives, never held (resp->body is then ""); any other status's body lands
 * in resp->body as with lp_http_request (accept: text/csv, then JSON).
 * No limit on the whole exchange: it ends only when no body byte arrives for
 * the client's timeout (a stall), and no Accept-Encoding is sent, so the
 * bytes are those sent. Returns -1 (a transport error, maybe_sent) also for
 * a 200 body shorter or longer than its Content-Length, a stall, a dropped
 * connection and a write that failed (s->write_error). The thread's handle
 * gets its usual options (the total timeout...) back afterwards. */
int lp_http_get_stream(lp_http *h, const char *path, struct lp_http_stream *s,
                       struct lp_http_response *resp);

void lp_http_response_clear(struct lp_http_response *resp);

/* A few words on a certificate problem ("it has expired"), static text; "" for none. */
const char *lp_http_cert_words(enum lp_cert_problem p);

/* How many requests are worth having in flight at once: 8 (the connections
 * used at most) over HTTP/1.x, 64 once an answer came over HTTP/2, whose
 * streams share one connection. A hint for callers that fan out. */
int lp_http_parallelism(lp_http *h);

/* Frees the calling thread's easy handle (streamed GETs) and one idle handle
 * of each client's pool, so that the pool follows the threads that use it
 * (call before a worker thread that made requests exits). */
void lp_http_thread_cleanup(void);

#endif
