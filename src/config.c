/* config.c - config.json rules: the strict scan, then cJSON, then the API's
 * rules for each known key; the pretty form shown by cat; the template.
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "json_exact.h"
#include "json_print.h"
#include "json_read.h"
#include "json_scan.h"
#include "textutil.h"

/* Whole as written (json_exact.h): 70.00000000000000001 is not 70. */
static bool is_int_in(const cJSON *v, double lo, double hi)
{
    return cJSON_IsNumber(v) && lp_json_number_is_integral(v) && v->valuedouble >= lo &&
           v->valuedouble <= hi;
}

static bool all_finite(const cJSON *v)
{
    if (cJSON_IsNumber(v))
        return isfinite(v->valuedouble);
    for (const cJSON *c = v->child; c; c = c->next)
        if (!all_finite(c))
            return false;
    return true;
}

static const char *const config_keys[] = {"topicIds", "minScore", "maxScore", "minTopicOverlap",
                                          "filters"};

/* The API (JavaScript) would keep the last of two equal keys while cJSON
 * finds the first, so a repeated rule key is refused rather than guessed. */
static const char *repeated_key(const cJSON *root)
{
    for (size_t k = 0; k < sizeof(config_keys) / sizeof(config_keys[0]); k++) {
        int seen = 0;

        for (const cJSON *c = root->child; c; c = c->next)
            if (c->string && strcmp(c->string, config_keys[k]) == 0)
                seen++;
        if (seen > 1)
            return config_keys[k];
    }
    return NULL;
}

static int check_topics(const cJSON *topics, char *reason, size_t reasonlen)
{
    int n = 0;

    if (!cJSON_IsArray(topics))
        goto bad;
    for (const cJSON *c = topics->child; c; c = c->next) {
        if (!lp_json_number_is_integral(c))
            goto bad;
        n++;
    }
    if (n >= 1 && n <= 250)
        return 0;
bad:
    lp_set_reason(reason, reasonlen, "topicIds must hold 1 to 250 integers");
    return -1;
}

/* Validates a parsed config; 0, or -1 with a reason. */
static int validate_tree(const cJSON *root, char *reason, size_t reasonlen)
{
    const cJSON *v;
    const char *dup;

    if (!cJSON_IsObject(root)) {
        lp_set_reason(reason, reasonlen, "config.json must hold one JSON object");
        return -1;
    }
    if (!all_finite(root)) {
        lp_set_reason(reason, reasonlen, "config.json holds a number too large to use");
        return -1;
    }
    dup = repeated_key(root);
    if (dup) {
        lp_set_reason(reason, reasonlen, "%s must appear only once", dup);
        return -1;
    }
    if (check_topics(cJSON_GetObjectItemCaseSensitive(root, "topicIds"), reason, reasonlen) < 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(root, "minScore");
    if (v && !cJSON_IsNull(v) && !is_int_in(v, 0, 99)) {
        lp_set_reason(reason, reasonlen, "minScore must be an integer from 0 to 99, or null");
        return -1;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "maxScore");
    if (v && !is_int_in(v, 50, 99)) {
        lp_set_reason(reason, reasonlen, "maxScore must be an integer from 50 to 99");
        return -1;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "minTopicOverlap");
    if (v && !is_int_in(v, 1, 250)) {
        lp_set_reason(reason, reasonlen, "minTopicOverlap must be an integer from 1 to 250");
        return -1;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "filters");
    if (v && !cJSON_IsObject(v)) {
        lp_set_reason(reason, reasonlen, "filters must be an object");
        return -1;
    }
    return 0;
}

/* The reason for a scan that did not end in one object: s[0..len) was
 * scanned, r is the result, pos and why as lp_json_scan_object set them. */
static enum lp_config_result scan_failure(const unsigned char *s, size_t len, enum lp_scan_result r,
                                          size_t pos, const char *why, char *reason,
                                          size_t reasonlen)
{
    size_t line, col, i;

    if (r == LP_SCAN_MORE) {
        for (i = 0; i < len && lp_is_json_space(s[i]); i++)
            ;
        lp_set_reason(reason, reasonlen,
                      i == len ? "config.json is empty"
                               : "config.json ends before its JSON object is complete");
        return LP_CONFIG_INCOMPLETE;
    }
    if (!why) {
        lp_set_reason(reason, reasonlen, "config.json must hold one JSON object");
        return LP_CONFIG_BAD_JSON;
    }
    lp_line_col(s, pos, &line, &col);
    lp_set_reason(reason, reasonlen, "config.json %s (line %zu, column %zu)", why, line, col);
    return LP_CONFIG_BAD_JSON;
}

enum lp_config_result lp_config_check(const char *buf, size_t len, char **compact, char *reason,
                                      size_t reasonlen)
{
    const unsigned char *s = (const unsigned char *)buf;
    enum lp_scan_result r;
    size_t bad_pos;
    const char *why;
    size_t end = 0;
    const char *nul;
    cJSON *root;
    size_t line, col;
    char *text;

    if (compact)
        *compact = NULL;
    lp_set_reason(reason, reasonlen, "%s", "");
    if (len > LP_CONFIG_MAX) {
        lp_set_reason(reason, reasonlen, "config.json is larger than %d bytes", LP_CONFIG_MAX);
        return LP_CONFIG_TOO_BIG;
    }
    if (!buf)
        len = 0;
    nul = len ? memchr(buf, '\0', len) : NULL;
    if (nul) {
        lp_line_col(s, (size_t)(nul - buf), &line, &col);
        lp_set_reason(reason, reasonlen, "config.json contains a NUL byte (line %zu, column %zu)",
                      line, col);
        return LP_CONFIG_BAD_JSON;
    }
    if (len > 0 && len < 3 && memcmp(buf, "\xEF\xBB\xBF", len) == 0) {
        lp_set_reason(reason, reasonlen, "config.json is empty"); /* a cut byte order mark */
        return LP_CONFIG_INCOMPLETE;
    }
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
        buf += 3; /* a byte order mark some editors write */
        s += 3;
        len -= 3;
    }
    r = lp_json_scan_object(s, len, &bad_pos, &why);
    if (r != LP_SCAN_DONE)
        return scan_failure(s, len, r, bad_pos, why, reason, reasonlen);
    root = lp_json_parse_exact(buf, len, &end);
    if (!root) {
        /* Not expected after the scan; kept so cJSON has the last word. */
        lp_line_col(s, end, &line, &col);
        lp_set_reason(reason, reasonlen, "config.json is not valid JSON (line %zu, column %zu)",
                      line, col);
        return LP_CONFIG_BAD_JSON;
    }
    if (validate_tree(root, reason, reasonlen) < 0) {
        cJSON_Delete(root);
        return LP_CONFIG_INVALID;
    }
    text = lp_json_compact(root);
    cJSON_Delete(root);
    if (!text) {
        lp_set_reason(reason, reasonlen, "out of memory");
        return LP_CONFIG_INVALID;
    }
    /* Numbers such as 1e20 grow when printed; what is accepted must still
     * fit, with its "\n", when shown and written back. */
    if (strlen(text) >= LP_CONFIG_MAX) {
        free(text);
        lp_set_reason(reason, reasonlen, "config.json holds more than %d bytes of JSON",
                      LP_CONFIG_MAX - 1);
        return LP_CONFIG_TOO_BIG;
    }
    if (compact)
        *compact = text;
    else
        free(text);
    return LP_CONFIG_OK;
}

char *lp_config_pretty(const char *compact)
{
    cJSON *root;
    char *text;

    if (!compact) {
        errno = EINVAL;
        return NULL;
    }
    root = lp_json_parse_whole(compact, strlen(compact), "config", NULL, 0);
    if (!root) {
        errno = EINVAL;
        return NULL;
    }
    /* Indentation that would make it too big to write back: stays compact. */
    text = lp_json_pretty(root, LP_CONFIG_MAX);
    cJSON_Delete(root);
    return text;
}

const char *lp_config_template(void)
{
    return "{\"topicIds\":[],\"minScore\":70,\"maxScore\":99,\"minTopicOverlap\":1,"
           "\"filters\":{}}";
}
