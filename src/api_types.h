/* api_types.h - the types of the API client (api.h) that its own files
 * share through api_int.h: kept apart so that api_int.h never includes
 * api.h, the header of the file that includes it. */
#ifndef LEADPIPEFS_API_TYPES_H
#define LEADPIPEFS_API_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cert_problem.h"

typedef struct lp_api lp_api;

struct lp_api_options {
    const char *base_url;    /* NULL: LP_DEFAULT_BASE_URL (defaults.h) */
    const char *api_key;     /* copied */
    long timeout_ms;         /* one HTTP exchange; 0: LP_DEFAULT_TIMEOUT_S */
    long connect_timeout_ms; /* 0: min(timeout, LP_DEFAULT_CONNECT_MS) */
    const char *ca_file;     /* PEM file of the CAs to trust; NULL: the system's */
    int max_tries;           /* 0: LP_DEFAULT_TRIES */
    long backoff_ms;         /* first backoff; doubles each try; default 250 */
    long max_retry_after_ms; /* cap on a honoured Retry-After; default = timeout */
};

struct lp_api_error {
    long http_status;          /* 0 when no HTTP answer arrived */
    int err;                   /* positive errno per SPEC */
    bool answer_lost;          /* the request may have been carried out but its answer is
                                * lost: none came after it was sent (timeout, dropped
                                * connection), or a 2xx one could not be read */
    enum lp_cert_problem cert; /* no answer because the server's TLS certificate was refused */
    char code[64];             /* the API's error code, e.g. "SLOTS_FULL"; may be empty */
    char message[512];         /* the API's message, or a transport/parse description */
};

/* Where a download goes. write: 0 or -errno (stops the download); reset:
 * start over (before a retry); announce (may be NULL): the length the answer
 * announced, -1 when it did not, before the first byte of each try; stop
 * (may be NULL): true ends the download at once (-ECANCELED, no retry),
 * asked about at least once a second even while no byte comes. */
struct lp_api_sink {
    int (*write)(void *ctx, const char *buf, size_t n);
    int (*reset)(void *ctx);
    void (*announce)(void *ctx, int64_t length);
    bool (*stop)(void *ctx);
    void *ctx;
};

#endif
