/* api.h - the Leadpipe Intent audiences API as typed calls.
 *
 * Knows HTTP paths, retries and the error -> errno map; knows nothing of FUSE.
 * Retries: 429, 5xx and transport errors, with exponential backoff and jitter,
 * honouring Retry-After (capped), at most max_tries tries. A POST is retried
 * only when it cannot have reached the server (connect failure) or on 429.
 * Every call is thread-safe and returns 0 or a negative errno; on failure
 * *err (when not NULL) says what the API answered.
 */
#ifndef LEADPIPEFS_API_H
#define LEADPIPEFS_API_H

#include <stddef.h>

#include "model.h"

typedef struct lp_api lp_api;

struct lp_api_options {
    const char *base_url;    /* NULL: LP_DEFAULT_BASE_URL (defaults.h) */
    const char *api_key;     /* copied */
    long timeout_ms;         /* one HTTP exchange; 0: LP_DEFAULT_TIMEOUT_S */
    long connect_timeout_ms; /* 0: min(timeout, LP_DEFAULT_CONNECT_MS) */
    int max_tries;           /* 0: LP_DEFAULT_TRIES */
    long backoff_ms;         /* first backoff; doubles each try; default 250 */
    long max_retry_after_ms; /* cap on a honoured Retry-After; default = timeout */
};

struct lp_api_error {
    long http_status;  /* 0 when no HTTP answer arrived */
    int err;           /* positive errno per SPEC */
    char code[64];     /* the API's error code, e.g. "SLOTS_FULL"; may be empty */
    char message[512]; /* the API's message, or a transport/parse description */
};

/* Returns a new client or NULL. Caller frees with lp_api_free. */
lp_api *lp_api_new(const struct lp_api_options *opts);
void lp_api_free(lp_api *api);

/* GET /v1/intent/audiences?limit=100&offset=K for every page; stops at a short
 * page or a page with no new id. *out is a malloc'd array (lp_audience_array_free);
 * list entries carry no config. */
int lp_api_list(lp_api *api, struct lp_audience **out, size_t *n, struct lp_api_error *err);
/* GET /v1/intent/audiences/{id}: one audience with its config. out must be empty. */
int lp_api_get(lp_api *api, const char *id, struct lp_audience *out, struct lp_api_error *err);
/* POST; name and config required, status NULL for the API's default.
 * out receives the API's answer; if the answer carries no config, out->config
 * is set to the config that was sent. */
int lp_api_create(lp_api *api, const char *name, const char *status, const char *config,
                  struct lp_audience *out, struct lp_api_error *err);
/* PATCH with any of name/status/config (NULL: left out). out as for create
 * (fields missing from the answer are filled from what was sent). */
int lp_api_update(lp_api *api, const char *id, const char *name, const char *status,
                  const char *config, struct lp_audience *out, struct lp_api_error *err);
/* DELETE; a 404 on a retry (the first try went through) counts as success. */
int lp_api_delete(lp_api *api, const char *id, struct lp_api_error *err);

/* The control directory's files (SPEC "The control directory"). Each returns
 * 0 with *text (or *tsv) malloc'd, NUL-terminated and *len bytes long (the
 * caller frees it), or -errno with *text NULL, *len 0 and *err filled; an
 * answer that cannot be read is EIO (logged). */

/* GET /v1/data/account: its "data" (organization, plan, credits, slots) as
 * pretty JSON ending in "\n", as account.json shows it. */
int lp_api_account(lp_api *api, char **text, size_t *len, struct lp_api_error *err);
/* GET /v1/intent/audiences/filters: its "data" (the filter catalog) as pretty
 * JSON ending in "\n", as filters.json shows it. */
int lp_api_filters(lp_api *api, char **text, size_t *len, struct lp_api_error *err);
/* GET /v1/intent/topics: topics.tsv, the header line then one line per topic
 * (control_text.h says how fields are written). When the first answer's
 * meta.total is more than the topics it held, the rest is fetched with
 * ?limit=L&offset=K, L the first page's size, until a short or empty page,
 * meta.total, or 1000 pages; a failed page fails the whole call. */
int lp_api_topics(lp_api *api, char **tsv, size_t *len, struct lp_api_error *err);

/* Frees the calling thread's connection handle (call before a worker thread
 * that made requests exits). */
void lp_api_thread_cleanup(void);

/* Number of HTTP exchanges this client has attempted (tests; main logs it with -d). */
unsigned long lp_api_request_count(lp_api *api);

#endif
