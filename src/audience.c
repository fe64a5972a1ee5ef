/* audience.c - struct lp_audience: reading it from the API's JSON answers,
 * copying and freeing it, and the create/update request body (see audience.h).
 */
#include "audience.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_exact.h"
#include "json_print.h"
#include "json_read.h"
#include "textutil.h"

static int take_config(const cJSON *obj, struct lp_audience *a, const char *ctx, char *err,
                       size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "config");

    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsObject(v)) {
        lp_set_reason(err, errlen, "%s: \"config\" is not an object", ctx);
        return -1;
    }
    a->config = lp_json_compact(v);
    if (!a->config) {
        lp_set_reason(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Fills *a (zeroed by the caller) from one audience object. On failure *a
 * may hold some fields: the caller clears it. */
static int audience_from_json(const cJSON *obj, struct lp_audience *a, const char *ctx, char *err,
                              size_t errlen)
{
    a->daily_refresh = -1;
    a->audience_size = 0;
    if (!cJSON_IsObject(obj)) {
        lp_set_reason(err, errlen, "%s is not a JSON object", ctx);
        return -1;
    }
    if (lp_json_take_string(obj, "id", true, &a->id, ctx, err, errlen) < 0 ||
        lp_json_take_string(obj, "name", true, &a->name, ctx, err, errlen) < 0 ||
        lp_json_take_string(obj, "status", true, &a->status, ctx, err, errlen) < 0)
        return -1;
    if (a->id[0] == '\0') {
        lp_set_reason(err, errlen, "%s: \"id\" is empty", ctx);
        return -1;
    }
    if (lp_json_take_string(obj, "accessType", false, &a->access_type, ctx, err, errlen) < 0 ||
        lp_json_take_bool(obj, "dailyRefreshEnabled", &a->daily_refresh, ctx, err, errlen) < 0 ||
        lp_json_take_count(obj, "audienceSize", &a->audience_size, ctx, err, errlen) < 0 ||
        lp_json_take_string(obj, "createdAt", false, &a->created_at, ctx, err, errlen) < 0 ||
        lp_json_take_string(obj, "updatedAt", false, &a->updated_at, ctx, err, errlen) < 0 ||
        lp_json_take_string(obj, "lastRefreshedAt", false, &a->last_refreshed_at, ctx, err,
                            errlen) < 0 ||
        take_config(obj, a, ctx, err, errlen) < 0)
        return -1;
    return 0;
}

void lp_audience_clear(struct lp_audience *a)
{
    if (!a)
        return;
    free(a->id);
    free(a->name);
    free(a->status);
    free(a->access_type);
    free(a->created_at);
    free(a->updated_at);
    free(a->last_refreshed_at);
    free(a->config);
    memset(a, 0, sizeof(*a));
    a->daily_refresh = -1;
}

void lp_audience_array_free(struct lp_audience *arr, size_t n)
{
    if (!arr)
        return;
    for (size_t i = 0; i < n; i++)
        lp_audience_clear(&arr[i]);
    free(arr);
}

int lp_parse_audience_response(const char *body, size_t len, struct lp_audience *out, char *err,
                               size_t errlen)
{
    cJSON *root = lp_json_parse_whole(body, len, "the API's answer", err, errlen);
    const cJSON *data;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    out->daily_refresh = -1;
    if (!root)
        return -1;
    data = lp_json_answer_data(root, err, errlen);
    if (data && cJSON_IsObject(data))
        rc = audience_from_json(data, out, "the audience", err, errlen);
    else if (data)
        lp_set_reason(err, errlen, "the API's \"data\" is not an object");
    if (rc < 0)
        lp_audience_clear(out);
    cJSON_Delete(root);
    return rc;
}

/* Converts each element of the "data" array; *out owns n entries. */
static int list_from_json(const cJSON *data, struct lp_audience **out, size_t *n, char *err,
                          size_t errlen)
{
    size_t count = 0, i = 0;
    struct lp_audience *arr;
    char ctx[64];

    for (const cJSON *c = data->child; c; c = c->next)
        count++;
    if (count == 0)
        return 0;
    arr = calloc(count, sizeof(*arr));
    if (!arr) {
        lp_set_reason(err, errlen, "out of memory");
        return -1;
    }
    /* An item the model cannot read (a missing status, a wrong type) is left
     * out, not the whole page: one bad record must not hide every other
     * audience. The first reason stays in err for the caller to log. */
    size_t kept = 0, k = 0;
    for (const cJSON *c = data->child; c; c = c->next, k++) {
        snprintf(ctx, sizeof(ctx), "audience %zu of the list", k + 1);
        char why[256];
        if (audience_from_json(c, &arr[i], ctx, why, sizeof(why)) < 0) {
            lp_audience_clear(&arr[i]);
            if (err && errlen && !err[0])
                snprintf(err, errlen, "%s", why);
            continue;
        }
        i++;
        kept++;
    }
    if (kept == 0) {
        /* Nothing readable at all: the answer is unusable, not an empty list
         * (which would read as "every audience was deleted"). */
        free(arr);
        return -1;
    }
    *out = arr;
    *n = kept;
    return 0;
}

int lp_parse_list_page(const char *body, size_t len, struct lp_audience **out, size_t *n,
                       size_t *listed, long long *total, char *err, size_t errlen)
{
    cJSON *root = lp_json_parse_whole(body, len, "the API's answer", err, errlen);
    const cJSON *data;
    int rc = -1;

    *out = NULL;
    *n = 0;
    if (total)
        *total = -1;
    if (!root)
        return -1;
    data = lp_json_answer_data(root, err, errlen);
    if (data && cJSON_IsArray(data))
        rc = list_from_json(data, out, n, err, errlen);
    else if (data)
        lp_set_reason(err, errlen, "the API's \"data\" is not a list");
    if (rc == 0 && total)
        *total = lp_json_meta_total(root);
    if (rc == 0 && listed)
        *listed = (size_t)cJSON_GetArraySize(data);
    cJSON_Delete(root);
    return rc;
}

static bool says_not_deleted(const cJSON *obj)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "deleted");

    return cJSON_IsFalse(v);
}

int lp_parse_delete_response(const char *body, size_t len, char *err, size_t errlen)
{
    cJSON *root;
    int rc = 0;

    lp_set_reason(err, errlen, "%s", "");
    /* Any 2xx body means deleted, so unreadable or empty answers are fine. */
    root = lp_json_parse_whole(body, len, "the API's answer", NULL, 0);
    if (!root)
        return 0;
    if (cJSON_IsObject(root) &&
        (says_not_deleted(root) ||
         says_not_deleted(cJSON_GetObjectItemCaseSensitive(root, "data")))) {
        lp_set_reason(err, errlen, "the API answered that the audience was not deleted");
        rc = -1;
    }
    cJSON_Delete(root);
    return rc;
}

char *lp_build_body(const char *name, const char *status, const char *config)
{
    cJSON *root = cJSON_CreateObject();
    char *text = NULL;

    if (!root)
        return NULL;
    if (name && !cJSON_AddStringToObject(root, "name", name))
        goto out;
    if (status && !cJSON_AddStringToObject(root, "status", status))
        goto out;
    if (config) {
        /* compact JSON of ours: its numbers and NULs kept as they are */
        cJSON *cfg = lp_json_parse_exact(config, strlen(config), NULL);

        if (!cJSON_IsObject(cfg)) {
            cJSON_Delete(cfg);
            errno = EINVAL;
            goto out;
        }
        cJSON_AddItemToObject(root, "config", cfg);
    }
    text = lp_json_compact(root);
out:
    cJSON_Delete(root);
    return text;
}
