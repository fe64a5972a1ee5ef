/* audience.h - one Leadpipe audience as a struct, read from the API's JSON
 * answers (one audience, a list page, a delete) and written as the request
 * body for create/update.
 *
 * Ownership: every char * in a struct lp_audience is malloc'd and owned by the
 * struct; lp_audience_clear frees them. Functions that return char * return
 * malloc'd memory the caller frees. Parsing never crashes on hostile input:
 * wrong types are an error.
 */
#ifndef LEADPIPEFS_AUDIENCE_H
#define LEADPIPEFS_AUDIENCE_H

#include <stddef.h>

struct lp_audience {
    char *id;                /* required */
    char *name;              /* required */
    char *status;            /* "draft" | "active" | "paused" | other API word; required */
    char *access_type;       /* NULL when absent */
    int daily_refresh;       /* 1, 0, or -1 when absent */
    long long audience_size; /* 0 when absent */
    char *created_at;        /* ISO 8601 as sent, NULL when absent */
    char *updated_at;
    char *last_refreshed_at;
    char *config; /* compact JSON of the config object, NULL when not carried */
};

void lp_audience_clear(struct lp_audience *a);
void lp_audience_array_free(struct lp_audience *arr, size_t n);

/* {"data":{...}} (a "meta" beside "data" and unknown fields ignored).
 * Returns 0, or -1 with a reason in err. */
int lp_parse_audience_response(const char *body, size_t len, struct lp_audience *out, char *err,
                               size_t errlen);
/* {"data":[...]} -> malloc'd array of n audiences (caller: lp_audience_array_free).
 * *total (total may be NULL) is meta.total when the answer carries a whole
 * number there (else -1): paging can then stop without asking for an empty
 * page; *listed (listed may be NULL) is the items the page held. An item that
 * cannot be read is left out of *out (so *n may be smaller), its reason in
 * err: one bad record must not hide the others. A page with items but none
 * readable is an error. */
int lp_parse_list_page(const char *body, size_t len, struct lp_audience **out, size_t *n,
                       size_t *listed, long long *total, char *err, size_t errlen);
/* {"data":{"deleted":true}} or any 2xx body: returns 0 unless it says deleted:false. */
int lp_parse_delete_response(const char *body, size_t len, char *err, size_t errlen);

/* Request body for create/update: {"name":..,"status":..,"config":{..}};
 * NULL fields are omitted; config is compact JSON text. Returns malloc'd JSON or NULL. */
char *lp_build_body(const char *name, const char *status, const char *config);

#endif
