/* json_read.h - reading JSON text into a cJSON tree and taking typed members
 * out of it, with a reason a person can read when something is off. Shared by
 * every parser of API answers ({"data": ..., "meta": ...}) and by config.c.
 *
 * Ownership: lp_json_parse_whole returns a tree the caller cJSON_Deletes;
 * lp_json_take_string stores a malloc'd copy the caller frees. err/errlen
 * may be NULL/0 when no reason is wanted. Wrong types are errors, never crashes.
 */
#ifndef LEADPIPEFS_JSON_READ_H
#define LEADPIPEFS_JSON_READ_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* Parses the whole of body[0..len) as one JSON value (trailing whitespace
 * allowed), numbers and NULs kept exactly (json_exact.h). Returns the tree
 * or NULL with a reason naming `what` and, for broken text, the line and
 * column. */
cJSON *lp_json_parse_whole(const char *body, size_t len, const char *what, char *err,
                           size_t errlen);

/* The "data" member of a {"data": ...} answer, or NULL with a reason. */
const cJSON *lp_json_answer_data(const cJSON *root, char *err, size_t errlen);
/* Both at once: the parsed answer (caller: cJSON_Delete) with its "data" in
 * *data, or NULL (and *data NULL) with a reason. */
cJSON *lp_json_parse_answer(const char *body, size_t len, const cJSON **data, char *err,
                            size_t errlen);
/* The same, when "data" must be a list (else NULL with that reason). */
cJSON *lp_json_parse_list_answer(const char *body, size_t len, const cJSON **data, char *err,
                                 size_t errlen);

/* meta.total when it is a whole number from 0 to 1e15, else -1 (the field is
 * optional). */
long long lp_json_meta_total(const cJSON *root);

/* The members below: absent or null is fine unless required (take_string);
 * a wrong type is -1 with a reason "<ctx>: "<key>" is not ...". */

/* A string member: *out gets a malloc'd copy; absent or null leaves *out as it was. */
int lp_json_take_string(const cJSON *obj, const char *key, bool required, char **out,
                        const char *ctx, char *err, size_t errlen);
/* A true/false member: *out = 1 or 0, or -1 when absent or null. */
int lp_json_take_bool(const cJSON *obj, const char *key, int *out, const char *ctx, char *err,
                      size_t errlen);
/* A non-negative whole number below 2^53: *out set; absent or null leaves *out as it was. */
int lp_json_take_count(const cJSON *obj, const char *key, long long *out, const char *ctx,
                       char *err, size_t errlen);

#endif
