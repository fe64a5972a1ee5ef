/* json_print.c - compact and pretty printing of a cJSON tree (see
 * json_print.h for why cJSON's own printer is not used).
 */
#include "json_print.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"
#include "textutil.h"

static void put_json_string(struct lp_sbuf *b, const char *s)
{
    const char *run;

    if (!s)
        s = "";
    lp_sb_addc(b, '"');
    for (run = s; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char hex[8];
        const char *esc = NULL;

        if (strncmp(s, LP_TEXT_NUL, LP_TEXT_NUL_LEN) == 0) {
            lp_sb_add(b, run, (size_t)(s - run));
            lp_sb_adds(b, "\\u0000"); /* a NUL the text had (json_exact.h) */
            run = ++s + 1;
            continue;
        }
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
            lp_sb_add(b, run, (size_t)(s - run));
            lp_sb_adds(b, esc);
            run = s + 1;
        }
    }
    lp_sb_add(b, run, (size_t)(s - run));
    lp_sb_addc(b, '"');
}

bool lp_json_is_integral(double d)
{
    if (!isfinite(d))
        return false;
    if (d >= LP_JSON_EXACT_INT_LIMIT || d <= -LP_JSON_EXACT_INT_LIMIT)
        return true; /* every double this large is a whole number */
    return d == (double)(long long)d;
}

/* Whole numbers below 1e21 print as integers; other values as the shortest
 * %g form that reads back to the same double, so printing is idempotent. A
 * non-finite value (never parsed: 1e999 keeps its text; lp_config_check
 * refuses it) prints as null, which is what JSON.stringify does too. */
void lp_json_number_text(double d, char *out, size_t outlen)
{
    if (!isfinite(d)) {
        snprintf(out, outlen, "null");
        return;
    }
    if (d == 0) {
        snprintf(out, outlen, "0"); /* also for -0 */
        return;
    }
    if (d > -1e21 && d < 1e21 && lp_json_is_integral(d)) {
        snprintf(out, outlen, "%.0f", d); /* exact; as JavaScript prints them */
    } else {
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(out, outlen, "%.*g", prec, d);
            if (strtod(out, NULL) == d)
                break;
        }
        /* JSON wants '.', whatever LC_NUMERIC someone set */
        for (char *p = out; *p; p++)
            if (*p == ',')
                *p = '.';
    }
}

static void put_number(struct lp_sbuf *b, const cJSON *v)
{
    char tmp[LP_JSON_NUMBER_TEXT];

    /* A parsed number a double cannot hold keeps its text here (json_exact.h). */
    if (v->valuestring) {
        lp_sb_adds(b, v->valuestring);
        return;
    }
    lp_json_number_text(v->valuedouble, tmp, sizeof(tmp));
    lp_sb_adds(b, tmp);
}

static bool is_container(const cJSON *v)
{
    return cJSON_IsObject(v) || cJSON_IsArray(v);
}

static void put_scalar(struct lp_sbuf *b, const cJSON *v)
{
    if (cJSON_IsString(v))
        put_json_string(b, v->valuestring);
    else if (cJSON_IsNumber(v))
        put_number(b, v);
    else if (cJSON_IsTrue(v))
        lp_sb_adds(b, "true");
    else if (cJSON_IsFalse(v))
        lp_sb_adds(b, "false");
    else
        lp_sb_adds(b, "null");
}

static void put_compact(struct lp_sbuf *b, const cJSON *v)
{
    bool obj = cJSON_IsObject(v);

    if (!is_container(v)) {
        put_scalar(b, v);
        return;
    }
    lp_sb_addc(b, obj ? '{' : '[');
    for (const cJSON *c = v->child; c; c = c->next) {
        if (c != v->child)
            lp_sb_addc(b, ',');
        if (obj) {
            put_json_string(b, c->string);
            lp_sb_addc(b, ':');
        }
        put_compact(b, c);
    }
    lp_sb_addc(b, obj ? '}' : ']');
}

char *lp_json_compact(const cJSON *v)
{
    struct lp_sbuf b = {0};

    put_compact(&b, v);
    return lp_sb_finish(&b);
}

#define LP_PRETTY_WIDTH 80 /* an array of scalars stays on one line below this */

/* The pretty printer's text and where its current line starts. */
struct pretty {
    struct lp_sbuf b;
    size_t line_start; /* offset just past the last '\n' */
};

static void put_newline(struct pretty *pp)
{
    lp_sb_addc(&pp->b, '\n');
    pp->line_start = pp->b.len;
}

static void put_indent(struct lp_sbuf *b, int level)
{
    for (int i = 0; i < level; i++)
        lp_sb_add(b, "  ", 2);
}

static bool all_scalars(const cJSON *arr)
{
    for (const cJSON *c = arr->child; c; c = c->next)
        if (is_container(c))
            return false;
    return true;
}

/* [1, 2, 3] on the current line. */
static void put_inline_array(struct lp_sbuf *b, const cJSON *arr)
{
    lp_sb_addc(b, '[');
    for (const cJSON *c = arr->child; c; c = c->next) {
        if (c != arr->child)
            lp_sb_add(b, ", ", 2);
        put_scalar(b, c);
    }
    lp_sb_addc(b, ']');
}

/* Prints v where the cursor is, at nesting level `level`; `trail` is the
 * number of characters (a comma) that will follow on the same line. */
static void put_pretty(struct pretty *pp, const cJSON *v, int level, size_t trail)
{
    struct lp_sbuf *b = &pp->b;
    bool obj = cJSON_IsObject(v);

    if (!is_container(v)) {
        put_scalar(b, v);
        return;
    }
    if (!v->child) {
        lp_sb_adds(b, obj ? "{}" : "[]");
        return;
    }
    if (!obj && all_scalars(v)) {
        size_t mark = b->len;

        put_inline_array(b, v);
        if (b->failed || b->len - pp->line_start + trail < LP_PRETTY_WIDTH)
            return;
        lp_sb_truncate(b, mark); /* too wide: undo and print one element per line */
    }
    lp_sb_addc(b, obj ? '{' : '[');
    put_newline(pp);
    for (const cJSON *c = v->child; c; c = c->next) {
        put_indent(b, level + 1);
        if (obj) {
            put_json_string(b, c->string);
            lp_sb_add(b, ": ", 2);
        }
        put_pretty(pp, c, level + 1, c->next ? 1 : 0);
        if (c->next)
            lp_sb_addc(b, ',');
        put_newline(pp);
    }
    put_indent(b, level);
    lp_sb_addc(b, obj ? '}' : ']');
}

char *lp_json_pretty(const cJSON *v, size_t limit)
{
    struct pretty pp = {0};

    put_pretty(&pp, v, 0, 0);
    if (pp.b.len >= limit) {
        /* Indentation would make it too big to write back: stay compact. */
        lp_sb_truncate(&pp.b, 0);
        pp.line_start = 0;
        put_compact(&pp.b, v);
    }
    put_newline(&pp);
    return lp_sb_finish(&pp.b);
}
