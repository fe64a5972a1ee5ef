/* model.h - the Leadpipe audience model: JSON <-> struct, config validation,
 * error bodies and their errno, and directory-name encoding.
 *
 * Pure functions, no I/O, no FUSE, no curl. Ownership: every char * in a
 * struct lp_audience is malloc'd and owned by the struct; lp_audience_clear
 * frees them. Functions that return char * return malloc'd memory the caller
 * frees. Parsing never crashes on hostile input: wrong types are an error.
 */
#ifndef LEADPIPEFS_MODEL_H
#define LEADPIPEFS_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#define LP_NAME_MAX_CHARS 255   /* API limit on name, in characters */
#define LP_FILENAME_MAX 255     /* bytes in one path component */
#define LP_CONFIG_MAX (1 << 20) /* largest config.json accepted, bytes */

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
/* Deep copy; returns 0 or -1 (ENOMEM). dst must be cleared/empty. */
int lp_audience_copy(struct lp_audience *dst, const struct lp_audience *src);
void lp_audience_array_free(struct lp_audience *arr, size_t n);

/* {"data":{...}} (a "meta" beside "data" and unknown fields ignored).
 * Returns 0, or -1 with a reason in err. */
int lp_parse_audience_response(const char *body, size_t len, struct lp_audience *out, char *err,
                               size_t errlen);
/* {"data":[...]} -> malloc'd array of n audiences (caller: lp_audience_array_free). */
int lp_parse_list_response(const char *body, size_t len, struct lp_audience **out, size_t *n,
                           char *err, size_t errlen);
/* The same, also giving meta.total when the answer carries a whole number
 * there (else -1): paging can then stop without asking for an empty page;
 * and *listed, the items the page held. An item that cannot be read is left
 * out of *out (so *n may be smaller), its reason in err: one bad record must
 * not hide the others. A page with items but none readable is an error. */
int lp_parse_list_page(const char *body, size_t len, struct lp_audience **out, size_t *n,
                       size_t *listed, long long *total, char *err, size_t errlen);
/* {"data":{"deleted":true}} or any 2xx body: returns 0 unless it says deleted:false. */
int lp_parse_delete_response(const char *body, size_t len, char *err, size_t errlen);

/* Lenient error body: {"error":{"code":..,"message":..}}, else a top-level
 * "message" / "error" / "detail" string, else the raw text (trimmed, cut).
 * Writes NUL-terminated strings (possibly empty) into code and msg. */
void lp_parse_error_body(const char *body, size_t len, char *code, size_t codelen, char *msg,
                         size_t msglen);
/* errno for an API answer per SPEC: 0 for 2xx, EINVAL 400/422, EDQUOT 403 SLOTS_FULL,
 * EACCES 401/403, ENOENT 404, EEXIST 409, EAGAIN 429, EIO 5xx and anything else. */
int lp_errno_for_status(long http_status, const char *code);

/* Request body for create/update: {"name":..,"status":..,"config":{..}};
 * NULL fields are omitted; config is compact JSON text. Returns malloc'd JSON or NULL. */
char *lp_build_body(const char *name, const char *status, const char *config);

/* Status words written to the status file. */
bool lp_status_valid(const char *word);
/* Trims ASCII whitespace from buf[0..len) and copies the word into out (outlen bytes).
 * Returns 1 when the word is draft/active/paused, 0 when empty, -1 otherwise. */
int lp_status_parse(const char *buf, size_t len, char *out, size_t outlen);

enum lp_config_result {
    LP_CONFIG_OK = 0,     /* valid: *compact holds the canonical compact JSON */
    LP_CONFIG_INCOMPLETE, /* not (yet) one complete JSON value: more bytes may fix it */
    LP_CONFIG_BAD_JSON,   /* can never become valid by appending (e.g. trailing garbage, NUL) */
    LP_CONFIG_INVALID,    /* one JSON value, but the API would refuse it (reason set) */
    LP_CONFIG_TOO_BIG,    /* longer than LP_CONFIG_MAX */
};
/* Checks bytes written to config.json. buf need not be NUL-terminated.
 * On LP_CONFIG_OK *compact is malloc'd (caller frees); else NULL and reason
 * holds a sentence a person can read ("topicIds must hold 1 to 250 integers"). */
enum lp_config_result lp_config_check(const char *buf, size_t len, char **compact, char *reason,
                                      size_t reasonlen);
/* Validates a parsed config given as compact JSON text; 0 or -1 with reason. */
int lp_config_validate_json(const char *compact, char *reason, size_t reasonlen);
/* Name rule: 1 to 255 characters (UTF-8 code points), valid UTF-8, no NUL. */
int lp_name_validate(const char *name, char *reason, size_t reasonlen);

/* config.json as shown to users: 2-space indented, "key": value, trailing "\n".
 * Input compact JSON; returns malloc'd text or NULL. */
char *lp_config_pretty(const char *compact);
/* The config a new (mkdir'd) audience shows: compact JSON, static storage. */
const char *lp_config_template(void);

/* Directory names (see the man page, NAME ENCODING):
 * - a valid, unique name is shown as is;
 * - "/" shows as U+2215 (DIVISION SLASH); "" shows as U+2205 (EMPTY SET);
 *   "." and ".." show with U+2024 (ONE DOT LEADER) for each dot;
 * - a literal U+2215, U+2205, U+2024, U+2053, U+201B in a name is preceded by
 *   the escape U+201B (SINGLE HIGH-REVERSED-9 QUOTATION MARK);
 * - a name shared with an earlier audience, or longer than 255 bytes once
 *   encoded, gets the suffix U+2053 (SWUNG DASH) + the first 8 characters of
 *   its id (the encoded name cut at a character boundary to make room).
 * lp_name_encode returns malloc'd text; `suffix_id` NULL means no suffix. */
char *lp_name_encode(const char *name, const char *suffix_id);
/* True when name cannot be shown as is (independent of duplicates). */
bool lp_name_needs_encoding(const char *name);
/* Inverse for mkdir/rename: undoes escapes and drops a U+2053 suffix.
 * Returns malloc'd name, or NULL with errno=EINVAL for a malformed escape. */
char *lp_name_decode(const char *dirname);

#endif
