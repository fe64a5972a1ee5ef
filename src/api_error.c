/* api_error.c - error bodies of API answers and their errno (see api_error.h).
 * What comes out is meant for a log line: cleaned of control characters.
 */
#include "api_error.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "json_read.h"
#include "textutil.h"

/* Copies s[0..len) into out (outlen bytes) for a log line: leading and
 * trailing whitespace dropped, each run of whitespace or control characters
 * turned into one space, invalid UTF-8 bytes into '?', cut at a character
 * boundary when out is too small. */
static void copy_clean(const char *s, size_t len, char *out, size_t outlen)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0;
    bool pending_space = false;

    if (!out || outlen == 0)
        return;
    out[0] = '\0';
    if (!s)
        return;
    while (i < len) {
        int n = lp_utf8_len(u + i, len - i);

        if (u[i] < 0x20 || u[i] == 0x7f || u[i] == ' ') {
            pending_space = o > 0;
            i++;
            continue;
        }
        if (n <= 0)
            n = 1;
        if (o + (size_t)pending_space + (size_t)n >= outlen)
            break;
        if (pending_space)
            out[o++] = ' ';
        pending_space = false;
        if (lp_utf8_len(u + i, len - i) <= 0) {
            out[o++] = '?';
        } else {
            memcpy(out + o, u + i, (size_t)n);
            o += (size_t)n;
        }
        i += (size_t)n;
    }
    out[o] = '\0';
}

static const char *member_string(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

/* A code given as a string or (some APIs do) as a number. */
static void copy_code(const cJSON *v, char *code, size_t codelen)
{
    char num[32];

    if (cJSON_IsString(v) && v->valuestring) {
        copy_clean(v->valuestring, strlen(v->valuestring), code, codelen);
    } else if (cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble > -1e15 &&
               v->valuedouble < 1e15) {
        snprintf(num, sizeof(num), "%.0f", v->valuedouble);
        copy_clean(num, strlen(num), code, codelen);
    }
}

static void copy_message(const char *s, char *msg, size_t msglen)
{
    if (s)
        copy_clean(s, strlen(s), msg, msglen);
}

/* Fills code and msg from a JSON error body; true when it found either. */
static bool error_from_json(const cJSON *root, char *code, size_t codelen, char *msg, size_t msglen)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");

    if (cJSON_IsObject(e)) {
        copy_code(cJSON_GetObjectItemCaseSensitive(e, "code"), code, codelen);
        copy_message(member_string(e, "message"), msg, msglen);
    } else if (cJSON_IsString(e)) {
        copy_message(e->valuestring, msg, msglen);
    }
    if (codelen && code[0] == '\0')
        copy_code(cJSON_GetObjectItemCaseSensitive(root, "code"), code, codelen);
    if (msglen && msg[0] == '\0')
        copy_message(member_string(root, "message"), msg, msglen);
    if (msglen && msg[0] == '\0')
        copy_message(member_string(root, "detail"), msg, msglen);
    return (codelen && code[0]) || (msglen && msg[0]);
}

void lp_parse_error_body(const char *body, size_t len, char *code, size_t codelen, char *msg,
                         size_t msglen)
{
    cJSON *root;
    bool found = false;

    if (!code)
        codelen = 0;
    if (!msg)
        msglen = 0;
    if (codelen)
        code[0] = '\0';
    if (msglen)
        msg[0] = '\0';
    if (!body || len == 0)
        return;
    root = lp_json_parse_whole(body, len, "error body", NULL, 0);
    if (cJSON_IsObject(root))
        found = error_from_json(root, code, codelen, msg, msglen);
    cJSON_Delete(root);
    if (!found)
        copy_clean(body, len, msg, msglen);
}

int lp_errno_for_status(long http_status, const char *code)
{
    if (http_status >= 200 && http_status <= 299)
        return 0;
    switch (http_status) {
    case 400:
    case 422:
        return EINVAL;
    case 401:
        return EACCES;
    case 403:
        return code && strcmp(code, "SLOTS_FULL") == 0 ? EDQUOT : EACCES;
    case 404:
        return ENOENT;
    case 409:
        return EEXIST;
    case 429:
        return EAGAIN;
    default:
        return EIO;
    }
}
