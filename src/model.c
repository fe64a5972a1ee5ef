/* model.c - the Leadpipe audience model: API JSON <-> struct lp_audience,
 * config.json checking and printing, error bodies and their errno, and the
 * directory-name encoding. Pure functions: no I/O, no FUSE, no curl.
 */
#include "model.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------
 * Small helpers: reasons, UTF-8, positions, a growable string
 */

static void set_reason(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes a reason into buf when the caller gave room for one. */
static void set_reason(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (!buf || len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

static bool is_json_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_ascii_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Length (1-4) of the well-formed UTF-8 sequence at s, of which avail bytes
 * can be read: 0 when the bytes can never be valid (overlong forms,
 * surrogates and code points above U+10FFFF included), -1 when they are a
 * valid start cut short by the end of the buffer. */
static int utf8_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    int need;

    if (c < 0x80)
        return 1;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0) {
        need = 2;
    } else if (c < 0xF0) {
        need = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c < 0xF5) {
        need = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    for (int i = 1; i < need; i++) {
        if ((size_t)i >= avail)
            return -1;
        if (s[i] < lo || s[i] > hi)
            return 0;
        lo = 0x80;
        hi = 0xBF;
    }
    return need;
}

/* 1-based line and column (in characters) of byte offset pos. */
static void line_col(const unsigned char *s, size_t pos, size_t *line, size_t *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < pos; i++) {
        if (s[i] == '\n') {
            (*line)++;
            *col = 1;
        } else if ((s[i] & 0xC0) != 0x80) {
            (*col)++;
        }
    }
}

/* A growable NUL-terminated string; after an allocation failure every
 * further append is ignored and sb_finish returns NULL. */
struct sbuf {
    char *p;
    size_t len, cap;
    size_t line_start; /* offset just past the last '\n' (pretty printer) */
    bool failed;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        char *p;

        while (cap < b->len + n + 1)
            cap *= 2;
        p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_adds(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_addc(struct sbuf *b, char c)
{
    sb_add(b, &c, 1);
}

/* Returns the malloc'd text (the caller frees it), or NULL after a failure. */
static char *sb_finish(struct sbuf *b)
{
    if (b->failed) {
        free(b->p);
        errno = ENOMEM;
        return NULL;
    }
    if (!b->p)
        return strdup("");
    /* Names and configs are kept for the mount's life: give back the slack of
     * the doubling (a short name would otherwise hold 128 bytes). */
    if (b->cap - b->len > 32) {
        char *fit = realloc(b->p, b->len + 1);
        if (fit)
            b->p = fit;
    }
    return b->p;
}

/* ---------------------------------------------------------------------------
 * JSON printing. cJSON's own printer is not used for output: it prints
 * integral numbers from 1e15 up in exponent form and may round a double by
 * one ulp, and the canonical text must stay stable across round trips.
 */

static void put_json_string(struct sbuf *b, const char *s)
{
    const char *run;

    if (!s)
        s = "";
    sb_addc(b, '"');
    for (run = s; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char hex[8];
        const char *esc = NULL;

        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        default:
            if (c < 0x20) {
                snprintf(hex, sizeof(hex), "\\u%04x", c);
                esc = hex;
            }
        }
        if (esc) {
            sb_add(b, run, (size_t)(s - run));
            sb_adds(b, esc);
            run = s + 1;
        }
    }
    sb_add(b, run, (size_t)(s - run));
    sb_addc(b, '"');
}

#define LP_EXACT_INT_LIMIT 9007199254740992.0 /* 2^53 */

static bool is_integral(double d)
{
    if (!isfinite(d))
        return false;
    if (d >= LP_EXACT_INT_LIMIT || d <= -LP_EXACT_INT_LIMIT)
        return true; /* every double this large is a whole number */
    return d == (double)(long long)d;
}

/* Whole numbers below 1e21 print as integers; other values as the shortest
 * %g form that reads back to the same double, so printing is idempotent. A
 * non-finite value (only possible from an API answer; lp_config_check
 * refuses them) prints as null, which is what JSON.stringify does too. */
static void put_number(struct sbuf *b, double d)
{
    char tmp[40];

    if (!isfinite(d)) {
        sb_adds(b, "null");
        return;
    }
    if (d == 0) {
        sb_adds(b, "0"); /* also for -0 */
        return;
    }
    if (d > -1e21 && d < 1e21 && is_integral(d)) {
        snprintf(tmp, sizeof(tmp), "%.0f", d); /* exact; as JavaScript prints them */
    } else {
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
            if (strtod(tmp, NULL) == d)
                break;
        }
        /* JSON wants '.', whatever LC_NUMERIC someone set */
        for (char *p = tmp; *p; p++)
            if (*p == ',')
                *p = '.';
    }
    sb_adds(b, tmp);
}

static bool is_container(const cJSON *v)
{
    return cJSON_IsObject(v) || cJSON_IsArray(v);
}

static void put_scalar(struct sbuf *b, const cJSON *v)
{
    if (cJSON_IsString(v))
        put_json_string(b, v->valuestring);
    else if (cJSON_IsNumber(v))
        put_number(b, v->valuedouble);
    else if (cJSON_IsTrue(v))
        sb_adds(b, "true");
    else if (cJSON_IsFalse(v))
        sb_adds(b, "false");
    else
        sb_adds(b, "null");
}

static void put_compact(struct sbuf *b, const cJSON *v)
{
    bool obj = cJSON_IsObject(v);

    if (!is_container(v)) {
        put_scalar(b, v);
        return;
    }
    sb_addc(b, obj ? '{' : '[');
    for (const cJSON *c = v->child; c; c = c->next) {
        if (c != v->child)
            sb_addc(b, ',');
        if (obj) {
            put_json_string(b, c->string);
            sb_addc(b, ':');
        }
        put_compact(b, c);
    }
    sb_addc(b, obj ? '}' : ']');
}

/* Returns the compact JSON of v, malloc'd (the caller frees), or NULL. */
static char *print_compact(const cJSON *v)
{
    struct sbuf b = {0};

    put_compact(&b, v);
    return sb_finish(&b);
}

#define LP_PRETTY_WIDTH 80 /* an array of scalars stays on one line below this */

static void put_newline(struct sbuf *b)
{
    sb_addc(b, '\n');
    b->line_start = b->len;
}

static void put_indent(struct sbuf *b, int level)
{
    for (int i = 0; i < level; i++)
        sb_add(b, "  ", 2);
}

static bool all_scalars(const cJSON *arr)
{
    for (const cJSON *c = arr->child; c; c = c->next)
        if (is_container(c))
            return false;
    return true;
}

/* [1, 2, 3] on the current line. */
static void put_inline_array(struct sbuf *b, const cJSON *arr)
{
    sb_addc(b, '[');
    for (const cJSON *c = arr->child; c; c = c->next) {
        if (c != arr->child)
            sb_add(b, ", ", 2);
        put_scalar(b, c);
    }
    sb_addc(b, ']');
}

/* Prints v where the cursor is, at nesting level `level`; `trail` is the
 * number of characters (a comma) that will follow on the same line. */
static void put_pretty(struct sbuf *b, const cJSON *v, int level, size_t trail)
{
    bool obj = cJSON_IsObject(v);

    if (!is_container(v)) {
        put_scalar(b, v);
        return;
    }
    if (!v->child) {
        sb_adds(b, obj ? "{}" : "[]");
        return;
    }
    if (!obj && all_scalars(v)) {
        size_t mark = b->len;

        put_inline_array(b, v);
        if (b->failed || b->len - b->line_start + trail < LP_PRETTY_WIDTH)
            return;
        b->len = mark; /* too wide: undo and print one element per line */
        b->p[mark] = '\0';
    }
    sb_addc(b, obj ? '{' : '[');
    put_newline(b);
    for (const cJSON *c = v->child; c; c = c->next) {
        put_indent(b, level + 1);
        if (obj) {
            put_json_string(b, c->string);
            sb_add(b, ": ", 2);
        }
        put_pretty(b, c, level + 1, c->next ? 1 : 0);
        if (c->next)
            sb_addc(b, ',');
        put_newline(b);
    }
    put_indent(b, level);
    sb_addc(b, obj ? '}' : ']');
}

/* ---------------------------------------------------------------------------
 * Parsing API answers
 */

/* Parses the whole of body[0..len) as one JSON value (trailing whitespace
 * allowed). Returns the tree (caller: cJSON_Delete) or NULL with a reason. */
static cJSON *parse_whole(const char *body, size_t len, const char *what, char *err, size_t errlen)
{
    const char *end = NULL;
    size_t pos, line, col;
    cJSON *root;

    if (!body)
        len = 0;
    for (pos = 0; pos < len && is_json_space((unsigned char)body[pos]); pos++)
        ;
    if (pos == len) {
        set_reason(err, errlen, "%s is empty", what);
        return NULL;
    }
    root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    pos = end && end >= body && end <= body + len ? (size_t)(end - body) : 0;
    if (root) {
        while (pos < len && is_json_space((unsigned char)body[pos]))
            pos++;
        if (pos == len)
            return root;
        cJSON_Delete(root);
        line_col((const unsigned char *)body, pos, &line, &col);
        set_reason(err, errlen, "%s has text after its JSON value (line %zu, column %zu)", what,
                   line, col);
        return NULL;
    }
    line_col((const unsigned char *)body, pos, &line, &col);
    set_reason(err, errlen, "%s is not valid JSON (line %zu, column %zu)", what, line, col);
    return NULL;
}

/* The "data" member of a {"data": ...} answer, or NULL with a reason. */
static const cJSON *answer_data(const cJSON *root, char *err, size_t errlen)
{
    const cJSON *data;

    if (!cJSON_IsObject(root)) {
        set_reason(err, errlen, "the API's answer is not a JSON object");
        return NULL;
    }
    data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (!data)
        set_reason(err, errlen, "the API's answer has no \"data\"");
    return data;
}

static char *dup_or_fail(const char *s, bool *oom)
{
    char *d = strdup(s);

    if (!d)
        *oom = true;
    return d;
}

/* An optional string member: absent or null leaves *out NULL. */
static int take_string(const cJSON *obj, const char *key, bool required, char **out,
                       const char *ctx, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    bool oom = false;

    if (!v || cJSON_IsNull(v)) {
        if (!required)
            return 0;
        set_reason(err, errlen, "%s has no \"%s\"", ctx, key);
        return -1;
    }
    if (!cJSON_IsString(v) || !v->valuestring) {
        set_reason(err, errlen, "%s: \"%s\" is not a string", ctx, key);
        return -1;
    }
    *out = dup_or_fail(v->valuestring, &oom);
    if (oom) {
        set_reason(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int take_refresh(const cJSON *obj, struct lp_audience *a, const char *ctx, char *err,
                        size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "dailyRefreshEnabled");

    if (!v || cJSON_IsNull(v)) {
        a->daily_refresh = -1;
        return 0;
    }
    if (!cJSON_IsBool(v)) {
        set_reason(err, errlen, "%s: \"dailyRefreshEnabled\" is not true or false", ctx);
        return -1;
    }
    a->daily_refresh = cJSON_IsTrue(v) ? 1 : 0;
    return 0;
}

static int take_size(const cJSON *obj, struct lp_audience *a, const char *ctx, char *err,
                     size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "audienceSize");
    double d;

    a->audience_size = 0;
    if (!v || cJSON_IsNull(v))
        return 0;
    d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (!(d >= 0 && d < LP_EXACT_INT_LIMIT) || d != (double)(long long)d) {
        set_reason(err, errlen, "%s: \"audienceSize\" is not a non-negative whole number", ctx);
        return -1;
    }
    a->audience_size = (long long)d;
    return 0;
}

static int take_config(const cJSON *obj, struct lp_audience *a, const char *ctx, char *err,
                       size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "config");

    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsObject(v)) {
        set_reason(err, errlen, "%s: \"config\" is not an object", ctx);
        return -1;
    }
    a->config = print_compact(v);
    if (!a->config) {
        set_reason(err, errlen, "out of memory");
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
    if (!cJSON_IsObject(obj)) {
        set_reason(err, errlen, "%s is not a JSON object", ctx);
        return -1;
    }
    if (take_string(obj, "id", true, &a->id, ctx, err, errlen) < 0 ||
        take_string(obj, "name", true, &a->name, ctx, err, errlen) < 0 ||
        take_string(obj, "status", true, &a->status, ctx, err, errlen) < 0)
        return -1;
    if (a->id[0] == '\0') {
        set_reason(err, errlen, "%s: \"id\" is empty", ctx);
        return -1;
    }
    if (take_string(obj, "accessType", false, &a->access_type, ctx, err, errlen) < 0 ||
        take_refresh(obj, a, ctx, err, errlen) < 0 || take_size(obj, a, ctx, err, errlen) < 0 ||
        take_string(obj, "createdAt", false, &a->created_at, ctx, err, errlen) < 0 ||
        take_string(obj, "updatedAt", false, &a->updated_at, ctx, err, errlen) < 0 ||
        take_string(obj, "lastRefreshedAt", false, &a->last_refreshed_at, ctx, err, errlen) < 0 ||
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

static int copy_field(char **dst, const char *src)
{
    if (!src) {
        *dst = NULL;
        return 0;
    }
    *dst = strdup(src);
    return *dst ? 0 : -1;
}

int lp_audience_copy(struct lp_audience *dst, const struct lp_audience *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->daily_refresh = src->daily_refresh;
    dst->audience_size = src->audience_size;
    if (copy_field(&dst->id, src->id) < 0 || copy_field(&dst->name, src->name) < 0 ||
        copy_field(&dst->status, src->status) < 0 ||
        copy_field(&dst->access_type, src->access_type) < 0 ||
        copy_field(&dst->created_at, src->created_at) < 0 ||
        copy_field(&dst->updated_at, src->updated_at) < 0 ||
        copy_field(&dst->last_refreshed_at, src->last_refreshed_at) < 0 ||
        copy_field(&dst->config, src->config) < 0) {
        lp_audience_clear(dst);
        errno = ENOMEM;
        return -1;
    }
    return 0;
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
    cJSON *root = parse_whole(body, len, "the API's answer", err, errlen);
    const cJSON *data;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    out->daily_refresh = -1;
    if (!root)
        return -1;
    data = answer_data(root, err, errlen);
    if (data && cJSON_IsObject(data))
        rc = audience_from_json(data, out, "the audience", err, errlen);
    else if (data)
        set_reason(err, errlen, "the API's \"data\" is not an object");
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
        set_reason(err, errlen, "out of memory");
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

/* meta.total when it is a whole number >= 0, else -1 (the field is optional). */
static long long meta_total(const cJSON *root)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "meta");
    const cJSON *total =
        cJSON_IsObject(meta) ? cJSON_GetObjectItemCaseSensitive(meta, "total") : NULL;
    if (!cJSON_IsNumber(total) || total->valuedouble < 0 || total->valuedouble > 1e15 ||
        total->valuedouble != (double)(long long)total->valuedouble)
        return -1;
    return (long long)total->valuedouble;
}

int lp_parse_list_page(const char *body, size_t len, struct lp_audience **out, size_t *n,
                       size_t *listed, long long *total, char *err, size_t errlen)
{
    cJSON *root = parse_whole(body, len, "the API's answer", err, errlen);
    const cJSON *data;
    int rc = -1;

    *out = NULL;
    *n = 0;
    if (total)
        *total = -1;
    if (!root)
        return -1;
    data = answer_data(root, err, errlen);
    if (data && cJSON_IsArray(data))
        rc = list_from_json(data, out, n, err, errlen);
    else if (data)
        set_reason(err, errlen, "the API's \"data\" is not a list");
    if (rc == 0 && total)
        *total = meta_total(root);
    if (rc == 0 && listed)
        *listed = (size_t)cJSON_GetArraySize(data);
    cJSON_Delete(root);
    return rc;
}

int lp_parse_list_response(const char *body, size_t len, struct lp_audience **out, size_t *n,
                           char *err, size_t errlen)
{
    return lp_parse_list_page(body, len, out, n, NULL, NULL, err, errlen);
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

    set_reason(err, errlen, "%s", "");
    /* Any 2xx body means deleted, so unreadable or empty answers are fine. */
    root = parse_whole(body, len, "the API's answer", NULL, 0);
    if (!root)
        return 0;
    if (cJSON_IsObject(root) &&
        (says_not_deleted(root) ||
         says_not_deleted(cJSON_GetObjectItemCaseSensitive(root, "data")))) {
        set_reason(err, errlen, "the API answered that the audience was not deleted");
        rc = -1;
    }
    cJSON_Delete(root);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Error bodies and errno
 */

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
        int n = utf8_len(u + i, len - i);

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
        if (utf8_len(u + i, len - i) <= 0) {
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
    root = parse_whole(body, len, "error body", NULL, 0);
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

/* ---------------------------------------------------------------------------
 * Request bodies and status words
 */

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
        cJSON *cfg = cJSON_Parse(config);

        if (!cJSON_IsObject(cfg)) {
            cJSON_Delete(cfg);
            errno = EINVAL;
            goto out;
        }
        cJSON_AddItemToObject(root, "config", cfg);
    }
    text = print_compact(root);
out:
    cJSON_Delete(root);
    return text;
}

static const char *const status_words[] = {"draft", "active", "paused"};

bool lp_status_valid(const char *word)
{
    if (!word)
        return false;
    for (size_t i = 0; i < sizeof(status_words) / sizeof(status_words[0]); i++)
        if (strcmp(word, status_words[i]) == 0)
            return true;
    return false;
}

int lp_status_parse(const char *buf, size_t len, char *out, size_t outlen)
{
    size_t start = 0, end = buf ? len : 0, n;

    if (out && outlen)
        out[0] = '\0';
    while (start < end && is_ascii_space((unsigned char)buf[start]))
        start++;
    while (end > start && is_ascii_space((unsigned char)buf[end - 1]))
        end--;
    n = end - start;
    if (out && outlen) {
        size_t c = n < outlen - 1 ? n : outlen - 1;

        memcpy(out, buf + start, c);
        out[c] = '\0';
    }
    if (n == 0)
        return 0;
    for (size_t i = 0; i < sizeof(status_words) / sizeof(status_words[0]); i++)
        if (n == strlen(status_words[i]) && memcmp(buf + start, status_words[i], n) == 0)
            return 1;
    return -1;
}

/* ---------------------------------------------------------------------------
 * config.json: a strict JSON syntax scanner. cJSON alone cannot tell "not
 * finished yet" from "broken" (it fails at the 't' of a cut-off "tr"), and it
 * accepts what JSON does not (control characters as whitespace, raw control
 * characters and invalid UTF-8 in strings), so bytes are scanned first.
 */

/* Deeper than this cJSON refuses to parse (CJSON_NESTING_LIMIT). */
#define LP_JSON_MAX_DEPTH CJSON_NESTING_LIMIT
/* cJSON reads at most 63 characters of one number. */
#define LP_JSON_MAX_NUMBER 63

enum scan_result { SCAN_DONE, SCAN_MORE, SCAN_BAD };

enum scan_state {
    ST_VALUE,          /* after ':' or ',' in an array */
    ST_VALUE_OR_CLOSE, /* after '[' */
    ST_KEY_OR_CLOSE,   /* after '{' */
    ST_KEY,            /* after ',' in an object */
    ST_COLON,          /* after a key */
    ST_AFTER_VALUE,    /* expecting ',' or the closing bracket */
    ST_END,            /* the top-level object is closed */
};

struct scanner {
    const unsigned char *s;
    size_t len, pos;
    enum scan_state state;
    size_t depth;
    char open[LP_JSON_MAX_DEPTH]; /* '{' or '[' per level */
    const char *why;              /* for SCAN_BAD: what is wrong at pos */
};

static enum scan_result scan_bad(struct scanner *sc, const char *why)
{
    sc->why = why;
    return SCAN_BAD;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads \uXXXX at p; -1 more bytes needed, -2 malformed, else the unit. */
static long scan_u_escape(struct scanner *sc, size_t p)
{
    long v = 0;

    for (size_t i = 0; i < 6; i++) {
        int h;

        if (p + i >= sc->len)
            return -1;
        if (i == 0 || i == 1) {
            if (sc->s[p + i] != (i == 0 ? '\\' : 'u'))
                return -2;
            continue;
        }
        h = hex_value(sc->s[p + i]);
        if (h < 0)
            return -2;
        v = v * 16 + h;
    }
    return v;
}

/* One \u escape (a surrogate pair counts as one) at sc->pos. */
static enum scan_result scan_unicode(struct scanner *sc)
{
    long hi = scan_u_escape(sc, sc->pos), lo;

    if (hi == -1)
        return SCAN_MORE;
    if (hi == -2)
        return scan_bad(sc, "is not valid JSON");
    if (hi == 0)
        return scan_bad(sc, "contains \\u0000, which is not supported");
    if (hi >= 0xDC00 && hi <= 0xDFFF)
        return scan_bad(sc, "contains a lone UTF-16 surrogate");
    if (hi >= 0xD800 && hi <= 0xDBFF) {
        lo = scan_u_escape(sc, sc->pos + 6);
        if (lo == -1)
            return SCAN_MORE;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return scan_bad(sc, "contains a lone UTF-16 surrogate");
        sc->pos += 6;
    }
    sc->pos += 6;
    return SCAN_DONE;
}

static enum scan_result scan_string(struct scanner *sc)
{
    sc->pos++; /* the opening quote */
    while (sc->pos < sc->len) {
        unsigned char c = sc->s[sc->pos];
        int n;

        if (c == '"') {
            sc->pos++;
            return SCAN_DONE;
        }
        if (c == '\\') {
            enum scan_result r;

            if (sc->pos + 1 >= sc->len)
                return SCAN_MORE;
            if (sc->s[sc->pos + 1] == 'u') {
                r = scan_unicode(sc);
                if (r != SCAN_DONE)
                    return r;
                continue;
            }
            if (!strchr("\"\\/bfnrt", sc->s[sc->pos + 1]) || sc->s[sc->pos + 1] == '\0')
                return scan_bad(sc, "is not valid JSON");
            sc->pos += 2;
            continue;
        }
        if (c < 0x20)
            return scan_bad(sc, "has a control character inside a string");
        n = utf8_len(sc->s + sc->pos, sc->len - sc->pos);
        if (n < 0)
            return SCAN_MORE;
        if (n == 0)
            return scan_bad(sc, "is not valid UTF-8");
        sc->pos += (size_t)n;
    }
    return SCAN_MORE;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Digits at sc->pos: at least one required. */
static enum scan_result scan_digits(struct scanner *sc)
{
    if (sc->pos >= sc->len)
        return SCAN_MORE;
    if (!is_digit(sc->s[sc->pos]))
        return scan_bad(sc, "is not valid JSON");
    while (sc->pos < sc->len && is_digit(sc->s[sc->pos]))
        sc->pos++;
    return SCAN_DONE;
}

/* A number; since a value is always inside the top-level object, a number
 * that reaches the end of the buffer is unfinished. */
static enum scan_result scan_number_parts(struct scanner *sc)
{
    enum scan_result r;

    if (sc->s[sc->pos] == '-')
        sc->pos++;
    if (sc->pos < sc->len && sc->s[sc->pos] == '0')
        sc->pos++;
    else if ((r = scan_digits(sc)) != SCAN_DONE)
        return r;
    if (sc->pos < sc->len && sc->s[sc->pos] == '.') {
        sc->pos++;
        if ((r = scan_digits(sc)) != SCAN_DONE)
            return r;
    }
    if (sc->pos < sc->len && (sc->s[sc->pos] == 'e' || sc->s[sc->pos] == 'E')) {
        sc->pos++;
        if (sc->pos < sc->len && (sc->s[sc->pos] == '+' || sc->s[sc->pos] == '-'))
            sc->pos++;
        if ((r = scan_digits(sc)) != SCAN_DONE)
            return r;
    }
    return sc->pos < sc->len ? SCAN_DONE : SCAN_MORE;
}

/* False for an integer literal a double cannot hold exactly (beyond 2^53,
 * like 9007199254740993): it would reach the API silently changed. An
 * integer a double holds exactly (100000000000000000000) and any fraction
 * or exponent pass. */
static bool exact_integer(const unsigned char *s, size_t n)
{
    size_t i = n && *s == '-';
    if (n - i <= 15 || n > LP_JSON_MAX_NUMBER)
        return true; /* up to 15 digits always fit; longer ones are refused elsewhere */
    for (size_t k = i; k < n; k++)
        if (s[k] < '0' || s[k] > '9')
            return true;
    char lit[LP_JSON_MAX_NUMBER + 1], back[LP_JSON_MAX_NUMBER + 8];
    memcpy(lit, s, n);
    lit[n] = '\0';
    snprintf(back, sizeof(back), "%.0f", strtod(lit, NULL));
    return strcmp(lit, back) == 0;
}

static enum scan_result scan_number(struct scanner *sc)
{
    size_t start = sc->pos;
    enum scan_result r = scan_number_parts(sc);

    if (r != SCAN_BAD && sc->pos - start > LP_JSON_MAX_NUMBER) {
        sc->pos = start;
        return scan_bad(sc, "has a number with too many digits");
    }
    if (r == SCAN_DONE && !exact_integer(sc->s + start, sc->pos - start)) {
        sc->pos = start;
        return scan_bad(sc, "has an integer too large to keep exactly (beyond 2^53)");
    }
    return r;
}

static enum scan_result scan_literal(struct scanner *sc, const char *word)
{
    for (size_t i = 0; word[i]; i++) {
        if (sc->pos + i >= sc->len)
            return SCAN_MORE;
        if (sc->s[sc->pos + i] != (unsigned char)word[i]) {
            sc->pos += i;
            return scan_bad(sc, "is not valid JSON");
        }
    }
    sc->pos += strlen(word);
    return SCAN_DONE;
}

static enum scan_result scan_open(struct scanner *sc, char c)
{
    if (sc->depth >= LP_JSON_MAX_DEPTH)
        return scan_bad(sc, "nests objects and arrays too deeply");
    sc->open[sc->depth++] = c;
    sc->pos++;
    sc->state = c == '{' ? ST_KEY_OR_CLOSE : ST_VALUE_OR_CLOSE;
    return SCAN_DONE;
}

static enum scan_result scan_close(struct scanner *sc, char c)
{
    if (sc->depth == 0 || sc->open[sc->depth - 1] != (c == '}' ? '{' : '['))
        return scan_bad(sc, "is not valid JSON");
    sc->depth--;
    sc->pos++;
    sc->state = sc->depth ? ST_AFTER_VALUE : ST_END;
    return SCAN_DONE;
}

/* A value starting at sc->pos. */
static enum scan_result scan_value(struct scanner *sc)
{
    unsigned char c = sc->s[sc->pos];

    sc->state = ST_AFTER_VALUE;
    if (c == '{' || c == '[')
        return scan_open(sc, (char)c);
    if (c == '"')
        return scan_string(sc);
    if (c == '-' || is_digit(c))
        return scan_number(sc);
    if (c == 't')
        return scan_literal(sc, "true");
    if (c == 'f')
        return scan_literal(sc, "false");
    if (c == 'n')
        return scan_literal(sc, "null");
    return scan_bad(sc, "is not valid JSON");
}

/* One step: the token at sc->pos (whitespace already skipped). */
static enum scan_result scan_step(struct scanner *sc)
{
    unsigned char c = sc->s[sc->pos];

    switch (sc->state) {
    case ST_VALUE_OR_CLOSE:
        if (c == ']')
            return scan_close(sc, ']');
        return scan_value(sc);
    case ST_VALUE:
        return scan_value(sc);
    case ST_KEY_OR_CLOSE:
        if (c == '}')
            return scan_close(sc, '}');
        /* fall through */
    case ST_KEY:
        if (c != '"')
            return scan_bad(sc, "is not valid JSON");
        sc->state = ST_COLON;
        return scan_string(sc);
    case ST_COLON:
        if (c != ':')
            return scan_bad(sc, "is not valid JSON");
        sc->pos++;
        sc->state = ST_VALUE;
        return SCAN_DONE;
    case ST_AFTER_VALUE:
        if (c == ',') {
            sc->pos++;
            sc->state = sc->open[sc->depth - 1] == '{' ? ST_KEY : ST_VALUE;
            return SCAN_DONE;
        }
        if (c == '}' || c == ']')
            return scan_close(sc, (char)c);
        return scan_bad(sc, "is not valid JSON");
    case ST_END:
        break;
    }
    return scan_bad(sc, "has more text after its closing }");
}

/* Scans s[0..len): SCAN_DONE for exactly one object (plus whitespace),
 * SCAN_MORE for a prefix of one, SCAN_BAD (sc->pos, sc->why) otherwise. */
static enum scan_result scan_config(struct scanner *sc, const unsigned char *s, size_t len)
{
    memset(sc, 0, offsetof(struct scanner, open));
    sc->s = s;
    sc->len = len;
    sc->state = ST_VALUE;
    for (;;) {
        enum scan_result r;

        while (sc->pos < len && is_json_space(s[sc->pos]))
            sc->pos++;
        if (sc->pos == len)
            return sc->state == ST_END ? SCAN_DONE : SCAN_MORE;
        if (sc->state == ST_VALUE && sc->depth == 0 && s[sc->pos] != '{') {
            if (strchr("[\"-0123456789tfn", s[sc->pos]))
                return scan_bad(sc, NULL); /* a value, but not an object */
            return scan_bad(sc, "is not valid JSON");
        }
        r = scan_step(sc);
        if (r != SCAN_DONE)
            return r;
    }
}

/* ---------------------------------------------------------------------------
 * config.json: validation against the API's rules
 */

static bool is_int_in(const cJSON *v, double lo, double hi)
{
    return cJSON_IsNumber(v) && is_integral(v->valuedouble) && v->valuedouble >= lo &&
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
        if (!cJSON_IsNumber(c) || !is_integral(c->valuedouble))
            goto bad;
        n++;
    }
    if (n >= 1 && n <= 250)
        return 0;
bad:
    set_reason(reason, reasonlen, "topicIds must hold 1 to 250 integers");
    return -1;
}

/* Validates a parsed config; 0, or -1 with a reason. */
static int validate_tree(const cJSON *root, char *reason, size_t reasonlen)
{
    const cJSON *v;
    const char *dup;

    if (!cJSON_IsObject(root)) {
        set_reason(reason, reasonlen, "config.json must hold one JSON object");
        return -1;
    }
    if (!all_finite(root)) {
        set_reason(reason, reasonlen, "config.json holds a number too large to use");
        return -1;
    }
    dup = repeated_key(root);
    if (dup) {
        set_reason(reason, reasonlen, "%s must appear only once", dup);
        return -1;
    }
    if (check_topics(cJSON_GetObjectItemCaseSensitive(root, "topicIds"), reason, reasonlen) < 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(root, "minScore");
    if (v && !cJSON_IsNull(v) && !is_int_in(v, 0, 99)) {
        set_reason(reason, reasonlen, "minScore must be an integer from 0 to 99, or null");
        return -1;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "maxScore");
    if (v && !is_int_in(v, 50, 99)) {
        set_reason(reason, reasonlen, "maxScore must be an integer from 50 to 99");
        return -1;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "minTopicOverlap");
    if (v && !is_int_in(v, 1, 250)) {
        set_reason(reason, reasonlen, "minTopicOverlap must be an integer from 1 to 250");
        return -1;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "filters");
    if (v && !cJSON_IsObject(v)) {
        set_reason(reason, reasonlen, "filters must be an object");
        return -1;
    }
    return 0;
}

static enum lp_config_result scan_failure(const struct scanner *sc, enum scan_result r,
                                          char *reason, size_t reasonlen)
{
    size_t line, col, i;

    if (r == SCAN_MORE) {
        for (i = 0; i < sc->len && is_json_space(sc->s[i]); i++)
            ;
        set_reason(reason, reasonlen,
                   i == sc->len ? "config.json is empty"
                                : "config.json ends before its JSON object is complete");
        return LP_CONFIG_INCOMPLETE;
    }
    if (!sc->why) {
        set_reason(reason, reasonlen, "config.json must hold one JSON object");
        return LP_CONFIG_BAD_JSON;
    }
    line_col(sc->s, sc->pos, &line, &col);
    set_reason(reason, reasonlen, "config.json %s (line %zu, column %zu)", sc->why, line, col);
    return LP_CONFIG_BAD_JSON;
}

enum lp_config_result lp_config_check(const char *buf, size_t len, char **compact, char *reason,
                                      size_t reasonlen)
{
    const unsigned char *s = (const unsigned char *)buf;
    struct scanner sc;
    enum scan_result r;
    const char *end = NULL;
    const char *nul;
    cJSON *root;
    size_t line, col;
    char *text;

    if (compact)
        *compact = NULL;
    set_reason(reason, reasonlen, "%s", "");
    if (len > LP_CONFIG_MAX) {
        set_reason(reason, reasonlen, "config.json is larger than %d bytes", LP_CONFIG_MAX);
        return LP_CONFIG_TOO_BIG;
    }
    if (!buf)
        len = 0;
    nul = len ? memchr(buf, '\0', len) : NULL;
    if (nul) {
        line_col(s, (size_t)(nul - buf), &line, &col);
        set_reason(reason, reasonlen, "config.json contains a NUL byte (line %zu, column %zu)",
                   line, col);
        return LP_CONFIG_BAD_JSON;
    }
    if (len > 0 && len < 3 && memcmp(buf, "\xEF\xBB\xBF", len) == 0) {
        set_reason(reason, reasonlen, "config.json is empty"); /* a cut byte order mark */
        return LP_CONFIG_INCOMPLETE;
    }
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
        buf += 3; /* a byte order mark some editors write */
        s += 3;
        len -= 3;
    }
    r = scan_config(&sc, s, len);
    if (r != SCAN_DONE)
        return scan_failure(&sc, r, reason, reasonlen);
    root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (!root) {
        /* Not expected after the scan; kept so cJSON has the last word. */
        size_t pos = end && end >= buf && end <= buf + len ? (size_t)(end - buf) : 0;

        line_col(s, pos, &line, &col);
        set_reason(reason, reasonlen, "config.json is not valid JSON (line %zu, column %zu)", line,
                   col);
        return LP_CONFIG_BAD_JSON;
    }
    if (validate_tree(root, reason, reasonlen) < 0) {
        cJSON_Delete(root);
        return LP_CONFIG_INVALID;
    }
    text = print_compact(root);
    cJSON_Delete(root);
    if (!text) {
        set_reason(reason, reasonlen, "out of memory");
        return LP_CONFIG_INVALID;
    }
    /* Numbers such as 1e20 grow when printed; what is accepted must still
     * fit, with its "\n", when shown and written back. */
    if (strlen(text) >= LP_CONFIG_MAX) {
        free(text);
        set_reason(reason, reasonlen, "config.json holds more than %d bytes of JSON",
                   LP_CONFIG_MAX - 1);
        return LP_CONFIG_TOO_BIG;
    }
    if (compact)
        *compact = text;
    else
        free(text);
    return LP_CONFIG_OK;
}

int lp_config_validate_json(const char *compact, char *reason, size_t reasonlen)
{
    cJSON *root;
    int rc;

    set_reason(reason, reasonlen, "%s", "");
    if (!compact) {
        set_reason(reason, reasonlen, "config is missing");
        return -1;
    }
    root = parse_whole(compact, strlen(compact), "config", reason, reasonlen);
    if (!root)
        return -1;
    rc = validate_tree(root, reason, reasonlen);
    cJSON_Delete(root);
    return rc;
}

char *lp_config_pretty(const char *compact)
{
    struct sbuf b = {0};
    cJSON *root;

    if (!compact) {
        errno = EINVAL;
        return NULL;
    }
    root = parse_whole(compact, strlen(compact), "config", NULL, 0);
    if (!root) {
        errno = EINVAL;
        return NULL;
    }
    put_pretty(&b, root, 0, 0);
    if (b.len >= LP_CONFIG_MAX) {
        /* Indentation would make it too big to write back: stay compact. */
        b.len = 0;
        b.line_start = 0;
        put_compact(&b, root);
    }
    put_newline(&b);
    cJSON_Delete(root);
    return sb_finish(&b);
}

const char *lp_config_template(void)
{
    return "{\"topicIds\":[],\"minScore\":70,\"maxScore\":99,\"minTopicOverlap\":1,"
           "\"filters\":{}}";
}

/* ---------------------------------------------------------------------------
 * Names
 */

int lp_name_validate(const char *name, char *reason, size_t reasonlen)
{
    const unsigned char *s = (const unsigned char *)name;
    size_t len, chars = 0;

    set_reason(reason, reasonlen, "%s", "");
    if (!name) {
        set_reason(reason, reasonlen, "name is missing");
        return -1;
    }
    len = strlen(name);
    for (size_t i = 0; i < len; chars++) {
        int n = utf8_len(s + i, len - i);

        if (n <= 0) {
            set_reason(reason, reasonlen, "name must be valid UTF-8");
            return -1;
        }
        i += (size_t)n;
    }
    if (chars < 1 || chars > LP_NAME_MAX_CHARS) {
        set_reason(reason, reasonlen, "name must be 1 to %d characters", LP_NAME_MAX_CHARS);
        return -1;
    }
    return 0;
}

#define U_DIVSLASH "\xE2\x88\x95" /* U+2215 DIVISION SLASH: stands for '/' */
#define U_EMPTYSET "\xE2\x88\x85" /* U+2205 EMPTY SET: the empty name */
#define U_ONEDOT "\xE2\x80\xA4"   /* U+2024 ONE DOT LEADER: a dot of "." or ".." */
#define U_SWUNG "\xE2\x81\x93"    /* U+2053 SWUNG DASH: starts the id suffix */
#define U_ESCAPE "\xE2\x80\x9B"   /* U+201B: the next character is literal */
#define U_LEN 3                   /* every one of them is 3 bytes in UTF-8 */
#define LP_SUFFIX_ID_CHARS 8

static const char *const name_specials[] = {U_DIVSLASH, U_EMPTYSET, U_ONEDOT, U_SWUNG, U_ESCAPE};

/* s is NUL-terminated; strncmp stops at its end. */
static bool starts_special(const char *s)
{
    for (size_t i = 0; i < sizeof(name_specials) / sizeof(name_specials[0]); i++)
        if (strncmp(s, name_specials[i], U_LEN) == 0)
            return true;
    return false;
}

/* Encodes the character (or stray byte) at s into out (at most 6 bytes);
 * returns the encoded length and sets *used to the bytes consumed. */
static size_t encode_unit(const char *s, char *out, size_t *used)
{
    int n;

    if (*s == '/') {
        memcpy(out, U_DIVSLASH, U_LEN);
        *used = 1;
        return U_LEN;
    }
    if (starts_special(s)) {
        memcpy(out, U_ESCAPE, U_LEN);
        memcpy(out + U_LEN, s, U_LEN);
        *used = U_LEN;
        return 2 * U_LEN;
    }
    n = utf8_len((const unsigned char *)s, strnlen(s, 4));
    *used = n > 0 ? (size_t)n : 1; /* invalid bytes pass through one by one */
    memcpy(out, s, *used);
    return *used;
}

/* Appends the encoding of up to max_units characters of s, stopping before
 * the output would pass limit bytes. Returns bytes the full text needs. */
static size_t encode_run(struct sbuf *b, const char *s, size_t max_units, size_t limit)
{
    size_t total = 0, units = 0;
    bool full = false;

    while (*s && units < max_units) {
        char unit[8];
        size_t used, n = encode_unit(s, unit, &used);

        if (b && !full && b->len + n <= limit)
            sb_add(b, unit, n);
        else
            full = true; /* never resume after a unit that did not fit */
        total += n;
        s += used;
        units++;
    }
    return total;
}

/* The encoded name without a suffix, cut to limit bytes; returns the bytes
 * the uncut encoding needs. b may be NULL to only measure. */
static size_t encode_body(struct sbuf *b, const char *name, size_t limit)
{
    const char *whole = NULL;

    if (name[0] == '\0')
        whole = U_EMPTYSET;
    else if (strcmp(name, ".") == 0)
        whole = U_ONEDOT;
    else if (strcmp(name, "..") == 0)
        whole = U_ONEDOT U_ONEDOT;
    if (whole) {
        if (b)
            sb_adds(b, whole);
        return strlen(whole);
    }
    return encode_run(b, name, SIZE_MAX, limit);
}

char *lp_name_encode(const char *name, const char *suffix_id)
{
    struct sbuf b = {0}, suffix = {0};
    size_t need;
    char *out;

    if (!name) {
        errno = EINVAL;
        return NULL;
    }
    /* A NULL id still marks a cut name with a bare U+2053, so that decoding
     * it never yields a name that merely looks complete. */
    need = encode_body(NULL, name, SIZE_MAX);
    if (suffix_id || need > LP_FILENAME_MAX) {
        sb_adds(&suffix, U_SWUNG);
        if (suffix_id)
            encode_run(&suffix, suffix_id, LP_SUFFIX_ID_CHARS, SIZE_MAX);
    }
    if (suffix.failed) {
        free(suffix.p);
        errno = ENOMEM;
        return NULL;
    }
    encode_body(&b, name, LP_FILENAME_MAX - suffix.len);
    if (suffix.len)
        sb_add(&b, suffix.p, suffix.len);
    free(suffix.p);
    out = sb_finish(&b);
    return out;
}

bool lp_name_needs_encoding(const char *name)
{
    if (!name || name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return true;
    for (const char *s = name; *s; s++)
        if (*s == '/' || starts_special(s))
            return true;
    return strlen(name) > LP_FILENAME_MAX;
}

char *lp_name_decode(const char *dirname)
{
    size_t n, i = 0, o = 0, body_end;
    char *out;

    if (!dirname) {
        errno = EINVAL;
        return NULL;
    }
    n = strlen(dirname);
    body_end = n;
    out = malloc(n + 1); /* decoding never lengthens */
    if (!out)
        return NULL;
    while (i < n) {
        const char *s = dirname + i;

        if (strncmp(s, U_ESCAPE, U_LEN) == 0) {
            if (!starts_special(s + U_LEN)) {
                free(out);
                errno = EINVAL;
                return NULL;
            }
            memcpy(out + o, s + U_LEN, U_LEN);
            o += U_LEN;
            i += 2 * U_LEN;
        } else if (strncmp(s, U_SWUNG, U_LEN) == 0) {
            body_end = i; /* the id suffix: dropped */
            break;
        } else if (strncmp(s, U_DIVSLASH, U_LEN) == 0) {
            out[o++] = '/';
            i += U_LEN;
        } else {
            out[o++] = dirname[i++];
        }
    }
    out[o] = '\0';
    /* The whole-name forms, recognised on the encoded text so that an escaped
     * U+2205 stays a literal one. */
    if (body_end == U_LEN && strncmp(dirname, U_EMPTYSET, U_LEN) == 0)
        out[0] = '\0';
    else if (body_end == U_LEN && strncmp(dirname, U_ONEDOT, U_LEN) == 0)
        strcpy(out, ".");
    else if (body_end == 2 * U_LEN && strncmp(dirname, U_ONEDOT U_ONEDOT, 2 * U_LEN) == 0)
        strcpy(out, "..");
    return out;
}
