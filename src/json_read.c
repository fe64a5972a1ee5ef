/* json_read.c - whole-text JSON parsing and typed member access for API
 * answers and config text (see json_read.h).
 */
#include "json_read.h"

#include <string.h>

#include "json_exact.h"
#include "json_print.h"
#include "textutil.h"

cJSON *lp_json_parse_whole(const char *body, size_t len, const char *what, char *err, size_t errlen)
{
    size_t pos, line, col;
    cJSON *root;

    if (!body)
        len = 0;
    for (pos = 0; pos < len && lp_is_json_space((unsigned char)body[pos]); pos++)
        ;
    if (pos == len) {
        lp_set_reason(err, errlen, "%s is empty", what);
        return NULL;
    }
    root = lp_json_parse_exact(body, len, &pos);
    if (root) {
        while (pos < len && lp_is_json_space((unsigned char)body[pos]))
            pos++;
        if (pos == len)
            return root;
        cJSON_Delete(root);
        lp_line_col((const unsigned char *)body, pos, &line, &col);
        lp_set_reason(err, errlen, "%s has text after its JSON value (line %zu, column %zu)", what,
                      line, col);
        return NULL;
    }
    lp_line_col((const unsigned char *)body, pos, &line, &col);
    lp_set_reason(err, errlen, "%s is not valid JSON (line %zu, column %zu)", what, line, col);
    return NULL;
}

const cJSON *lp_json_answer_data(const cJSON *root, char *err, size_t errlen)
{
    const cJSON *data;

    if (!cJSON_IsObject(root)) {
        lp_set_reason(err, errlen, "the API's answer is not a JSON object");
        return NULL;
    }
    data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (!data)
        lp_set_reason(err, errlen, "the API's answer has no \"data\"");
    return data;
}

cJSON *lp_json_parse_answer(const char *body, size_t len, const cJSON **data, char *err,
                            size_t errlen)
{
    cJSON *root = lp_json_parse_whole(body, len, "the API's answer", err, errlen);

    *data = root ? lp_json_answer_data(root, err, errlen) : NULL;
    if (root && !*data) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

cJSON *lp_json_parse_list_answer(const char *body, size_t len, const cJSON **data, char *err,
                                 size_t errlen)
{
    cJSON *root = lp_json_parse_answer(body, len, data, err, errlen);

    if (root && !cJSON_IsArray(*data)) {
        lp_set_reason(err, errlen, "the API's \"data\" is not a list");
        cJSON_Delete(root);
        *data = NULL;
        return NULL;
    }
    return root;
}

long long lp_json_meta_total(const cJSON *root)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "meta");
    const cJSON *total =
        cJSON_IsObject(meta) ? cJSON_GetObjectItemCaseSensitive(meta, "total") : NULL;
    if (!cJSON_IsNumber(total) || total->valuedouble < 0 || total->valuedouble > 1e15 ||
        total->valuedouble != (double)(long long)total->valuedouble)
        return -1;
    return (long long)total->valuedouble;
}

int lp_json_take_string(const cJSON *obj, const char *key, bool required, char **out,
                        const char *ctx, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (!v || cJSON_IsNull(v)) {
        if (!required)
            return 0;
        lp_set_reason(err, errlen, "%s has no \"%s\"", ctx, key);
        return -1;
    }
    if (!cJSON_IsString(v) || !v->valuestring) {
        lp_set_reason(err, errlen, "%s: \"%s\" is not a string", ctx, key);
        return -1;
    }
    *out = strdup(v->valuestring);
    if (!*out) {
        lp_set_reason(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int lp_json_take_bool(const cJSON *obj, const char *key, int *out, const char *ctx, char *err,
                      size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (!v || cJSON_IsNull(v)) {
        *out = -1;
        return 0;
    }
    if (!cJSON_IsBool(v)) {
        lp_set_reason(err, errlen, "%s: \"%s\" is not true or false", ctx, key);
        return -1;
    }
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return 0;
}

int lp_json_take_count(const cJSON *obj, const char *key, long long *out, const char *ctx,
                       char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    double d;

    if (!v || cJSON_IsNull(v))
        return 0;
    d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (!(d >= 0 && d < LP_JSON_EXACT_INT_LIMIT) || d != (double)(long long)d) {
        lp_set_reason(err, errlen, "%s: \"%s\" is not a non-negative whole number", ctx, key);
        return -1;
    }
    *out = (long long)d;
    return 0;
}
