/* run.c - struct lp_run: reading runs from the API's JSON answers (a runs
 * list, one run, a run's stats), copying and freeing them, and the name a
 * run's directory shows (see run.h).
 */
#include "run.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control_text.h"
#include "json_print.h"
#include "json_read.h"
#include "sbuf.h"
#include "textutil.h"

#define LP_RUN_ID_PREFIX 8 /* bytes of the id in a directory name */
#define LP_RUN_TYPE_MAX 64 /* bytes of the runType in a directory name */
#define LP_RUN_NO_TIME "0000-00-00T000000Z"

void lp_run_clear(struct lp_run *r)
{
    if (!r)
        return;
    free(r->id);
    free(r->status);
    free(r->run_type);
    free(r->created_at);
    free(r->updated_at);
    free(r->started_at);
    free(r->completed_at);
    for (size_t i = 0; i < r->nfields; i++) {
        free(r->fields[i].key);
        free(r->fields[i].value);
    }
    free(r->fields);
    memset(r, 0, sizeof(*r));
}

void lp_run_array_free(struct lp_run *arr, size_t n)
{
    if (!arr)
        return;
    for (size_t i = 0; i < n; i++)
        lp_run_clear(&arr[i]);
    free(arr);
}

/* *dst = a copy of src (NULL stays NULL); 0 or -1. */
static int copy_str(char **dst, const char *src)
{
    *dst = NULL;
    if (!src)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : -1;
}

int lp_run_copy(struct lp_run *dst, const struct lp_run *src)
{
    memset(dst, 0, sizeof(*dst));
    if (copy_str(&dst->id, src->id) || copy_str(&dst->status, src->status) ||
        copy_str(&dst->run_type, src->run_type) || copy_str(&dst->created_at, src->created_at) ||
        copy_str(&dst->updated_at, src->updated_at) ||
        copy_str(&dst->started_at, src->started_at) ||
        copy_str(&dst->completed_at, src->completed_at))
        goto fail;
    if (src->nfields) {
        dst->fields = calloc(src->nfields, sizeof(*dst->fields));
        if (!dst->fields)
            goto fail;
        for (; dst->nfields < src->nfields; dst->nfields++) {
            const struct lp_run_field *f = &src->fields[dst->nfields];
            struct lp_run_field *g = &dst->fields[dst->nfields];
            if (copy_str(&g->key, f->key) || copy_str(&g->value, f->value)) {
                dst->nfields++; /* so that clear frees what was copied */
                goto fail;
            }
        }
    }
    return 0;
fail:
    lp_run_clear(dst);
    return -1;
}

/* A scalar member's value as the xattr shows it; NULL for what is left out
 * (null, objects, arrays). *oom set when memory ran out. */
static char *field_text(const cJSON *v, bool *oom)
{
    char *s = NULL;

    if (cJSON_IsString(v) && v->valuestring)
        s = strdup(v->valuestring);
    else if (cJSON_IsTrue(v))
        s = strdup("true");
    else if (cJSON_IsFalse(v))
        s = strdup("false");
    else if (cJSON_IsNumber(v))
        s = lp_json_compact(v); /* 1234, not 1234.0; the shortest exact form */
    else
        return NULL;
    if (!s)
        *oom = true;
    return s;
}

/* Every scalar member of obj with a non-empty key, in order, into r->fields. */
static int take_fields(const cJSON *obj, struct lp_run *r, char *err, size_t errlen)
{
    size_t count = 0;

    for (const cJSON *c = obj->child; c; c = c->next)
        count++;
    if (count == 0)
        return 0;
    r->fields = calloc(count, sizeof(*r->fields));
    if (!r->fields)
        goto oom;
    for (const cJSON *c = obj->child; c; c = c->next) {
        bool oom = false;
        if (!c->string || !c->string[0])
            continue;
        char *value = field_text(c, &oom);
        if (oom)
            goto oom;
        if (!value)
            continue;
        struct lp_run_field *f = &r->fields[r->nfields];
        f->value = value;
        r->nfields++;
        f->key = strdup(c->string);
        if (!f->key)
            goto oom;
    }
    return 0;
oom:
    lp_set_reason(err, errlen, "out of memory");
    return -1;
}

/* Fills *r (zeroed) from one run object. On failure the caller clears *r. */
static int run_from_json(const cJSON *obj, struct lp_run *r, const char *ctx, char *err,
                         size_t errlen)
{
    if (!cJSON_IsObject(obj)) {
        lp_set_reason(err, errlen, "%s is not a JSON object", ctx);
        return -1;
    }
    if (lp_json_take_string(obj, "id", true, &r->id, ctx, err, errlen) < 0)
        return -1;
    if (r->id[0] == '\0') {
        lp_set_reason(err, errlen, "%s: \"id\" is empty", ctx);
        return -1;
    }
    if (lp_json_take_string(obj, "status", false, &r->status, ctx, err, errlen) < 0 ||
        lp_json_take_string(obj, "runType", false, &r->run_type, ctx, err, errlen) < 0 ||
        lp_json_take_string(obj, "createdAt", false, &r->created_at, ctx, err, errlen) < 0 ||
        lp_json_take_string(obj, "updatedAt", false, &r->updated_at, ctx, err, errlen) < 0 ||
        lp_json_take_string(obj, "startedAt", false, &r->started_at, ctx, err, errlen) < 0 ||
        lp_json_take_string(obj, "completedAt", false, &r->completed_at, ctx, err, errlen) < 0)
        return -1;
    return take_fields(obj, r, err, errlen);
}

int lp_parse_run_response(const char *body, size_t len, struct lp_run *out, char *err,
                          size_t errlen)
{
    const cJSON *data;
    cJSON *root = lp_json_parse_answer(body, len, &data, err, errlen);
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (!root)
        return -1;
    if (cJSON_IsObject(data))
        rc = run_from_json(data, out, "the run", err, errlen);
    else
        lp_set_reason(err, errlen, "the API's \"data\" is not an object");
    if (rc < 0)
        lp_run_clear(out);
    cJSON_Delete(root);
    return rc;
}

int lp_parse_runs_response(const char *body, size_t len, struct lp_run **out, size_t *n, char *err,
                           size_t errlen)
{
    const cJSON *data;
    cJSON *root = lp_json_parse_list_answer(body, len, &data, err, errlen);
    int count, kept = 0, k = 0;

    *out = NULL;
    *n = 0;
    if (!root)
        return -1;
    count = cJSON_GetArraySize(data);
    /* An empty list still gets an array, so that callers never see NULL. */
    struct lp_run *arr = calloc(count > 0 ? (size_t)count : 1, sizeof(*arr));
    if (!arr) {
        lp_set_reason(err, errlen, "out of memory");
        cJSON_Delete(root);
        return -1;
    }
    /* An unreadable run is left out, not the whole list; the first reason
     * stays in err for the caller to log. */
    for (const cJSON *c = data->child; c; c = c->next) {
        char ctx[64], why[256] = "";
        snprintf(ctx, sizeof(ctx), "run %d of the list", ++k);
        if (run_from_json(c, &arr[kept], ctx, why, sizeof(why)) < 0) {
            lp_run_clear(&arr[kept]);
            if (err && errlen && !err[0])
                snprintf(err, errlen, "%s", why);
            continue;
        }
        kept++;
    }
    cJSON_Delete(root);
    if (count > 0 && kept == 0) {
        free(arr);
        return -1;
    }
    *out = arr;
    *n = (size_t)kept;
    return 0;
}

int lp_parse_run_stats(const char *body, size_t len, char **text, size_t *text_len, char *err,
                       size_t errlen)
{
    return lp_parse_pretty_at(body, len, "stats", text, text_len, err, errlen);
}

/* --- the directory name ------------------------------------------------------ */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* "YYYY-MM-DDTHH:MM:SS..." -> "YYYY-MM-DDTHHMMSSZ" in out (19 bytes with
 * the NUL); false when s does not start that way. */
static bool compact_time(const char *s, char out[19])
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";

    if (!s)
        return false;
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd'   ? !is_digit(s[i])
            : shape[i] == 'T' ? s[i] != 'T' && s[i] != 't'
                              : s[i] != shape[i])
            return false;
    }
    memcpy(out, s, 10);
    out[10] = 'T';
    memcpy(out + 11, s + 11, 2);
    memcpy(out + 13, s + 14, 2);
    memcpy(out + 15, s + 17, 2);
    out[17] = 'Z';
    out[18] = '\0';
    return true;
}

/* Appends at most max bytes of s, each byte outside [A-Za-z0-9._+~-] as '_'
 * (no '/', no NUL, nothing of names.h's encoding: it is all non-ASCII). */
static void add_safe(struct lp_sbuf *b, const char *s, size_t max)
{
    for (size_t i = 0; s[i] && i < max; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' ||
                  c == '_' || c == '+' || c == '~' || c == '-';
        lp_sb_addc(b, ok ? c : '_');
    }
}

char *lp_run_dirname(const struct lp_run *r)
{
    char when[19];
    struct lp_sbuf b = {0};

    if (!compact_time(r->created_at, when) && !compact_time(r->updated_at, when) &&
        !compact_time(r->started_at, when))
        memcpy(when, LP_RUN_NO_TIME, sizeof(when));
    lp_sb_adds(&b, when); /* starts with a digit: never "." or ".." */
    lp_sb_addc(&b, '-');
    if (r->run_type && r->run_type[0])
        add_safe(&b, r->run_type, LP_RUN_TYPE_MAX);
    else
        lp_sb_adds(&b, "run");
    lp_sb_addc(&b, '-');
    add_safe(&b, r->id ? r->id : "", LP_RUN_ID_PREFIX);
    return lp_sb_finish(&b);
}
