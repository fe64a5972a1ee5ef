/* run.h - one run of an audience (SPEC "Runs and results") as a struct, read
 * from the API's JSON answers (a runs list, one run, a run's stats), and the
 * name its directory shows.
 *
 * Ownership: every char * in a struct lp_run (and its fields array) is
 * malloc'd and owned by the struct; lp_run_clear frees them. Functions that
 * return char * return malloc'd memory the caller frees. Parsing never
 * crashes on hostile input: wrong types are an error, any field may be
 * missing or null.
 */
#ifndef LEADPIPEFS_RUN_H
#define LEADPIPEFS_RUN_H

#include <stddef.h>

/* A field of the run record as text, for the run directory's extended
 * attributes user.leadpipe.<key>: strings as sent, numbers as sent (integers
 * without a fraction, others in the shortest form that reads back exactly),
 * booleans "true"/"false"; null and absent fields, nested objects/arrays and
 * members with an empty key are left out. */
struct lp_run_field {
    char *key;
    char *value;
};

struct lp_run {
    char *id;         /* required */
    char *status;     /* queued | running | completed | failed | cancelled | other; NULL absent */
    char *run_type;   /* manual | daily | preview | other; NULL absent */
    char *created_at; /* ISO 8601 as sent; NULL absent */
    char *updated_at;
    char *started_at;
    char *completed_at;
    struct lp_run_field *fields; /* every scalar field, in the order sent */
    size_t nfields;
};

void lp_run_clear(struct lp_run *r);
void lp_run_array_free(struct lp_run *arr, size_t n);
/* Deep copy into an empty dst; 0 or -1 (ENOMEM). */
int lp_run_copy(struct lp_run *dst, const struct lp_run *src);

/* {"data":{run}} -> out. 0, or -1 with a reason in err. */
int lp_parse_run_response(const char *body, size_t len, struct lp_run *out, char *err,
                          size_t errlen);
/* {"data":[run, ...]} -> malloc'd array (caller: lp_run_array_free). An item
 * that cannot be read (not an object, no id) is left out, its reason in err;
 * a list with items but none readable is an error. */
int lp_parse_runs_response(const char *body, size_t len, struct lp_run **out, size_t *n, char *err,
                           size_t errlen);
/* {"data":{"run":..., "stats":{...}}} -> data.stats as pretty JSON + "\n"
 * (the style of config.json), malloc'd. */
int lp_parse_run_stats(const char *body, size_t len, char **text, size_t *text_len, char *err,
                       size_t errlen);

/* The run directory's name (SPEC "The runs tree"):
 * <createdAt as YYYY-MM-DDTHHMMSSZ>-<runType>-<first 8 chars of id>; without
 * createdAt, updatedAt, else startedAt (else "0000-00-00T000000Z"); without
 * runType "run". A timestamp counts only when it starts
 * "YYYY-MM-DDTHH:MM:SS" (the API sends UTC); the runType is cut at 64 bytes.
 * Every byte of runType and id outside [A-Za-z0-9._+~-] is replaced by '_':
 * no '/', no NUL, nothing that looks like names.h's encoding (all of it is
 * non-ASCII), and the name starts with a digit. NULL only on no memory.
 * Malloc'd. */
char *lp_run_dirname(const struct lp_run *r);

#endif
