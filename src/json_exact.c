/* json_exact.c - cJSON parsing that keeps numbers' exact values and NULs in
 * strings (see json_exact.h for why cJSON cannot, and how). The hand-written
 * part is a lexer that only tells strings from the rest: cJSON has already
 * judged (or will judge) the syntax, and its tree lists values in the order
 * of the text, so the n-th number token of the text is the n-th number of a
 * walk of the tree.
 */
#include "json_exact.h"

#include <stdlib.h>
#include <string.h>

#include "json_print.h"
#include "textutil.h"

/* ---- the lexer ---- */

struct lexer {
    const char *s;
    size_t len, pos;
    bool in_string;
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The characters cJSON takes into a number (parse_number). */
static bool in_number(char c)
{
    return is_digit(c) || c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E';
}

static bool nul_escape_at(const char *s, size_t len, size_t i)
{
    return i + 6 <= len && memcmp(s + i, "\\u0000", 6) == 0;
}

/* Advances to the next \u0000 escape inside a string (*at set, true) or to
 * the next number token outside strings (*at and *n set, false); returns
 * false with *n == 0 at the end. */
static bool lex_next(struct lexer *lx, size_t *at, size_t *n)
{
    *n = 0;
    while (lx->pos < lx->len) {
        size_t i = lx->pos;
        char c = lx->s[i];

        if (lx->in_string) {
            if (c == '\\' && nul_escape_at(lx->s, lx->len, i)) {
                lx->pos = i + 6;
                *at = i;
                return true;
            }
            lx->pos = i + (c == '\\' ? 2 : 1); /* an escape's second byte is never its end */
            if (c == '"')
                lx->in_string = false;
            continue;
        }
        if (c == '"') {
            lx->in_string = true;
            lx->pos++;
            continue;
        }
        if (c == '-' || is_digit(c)) {
            while (lx->pos < lx->len && in_number(lx->s[lx->pos]))
                lx->pos++;
            *at = i;
            *n = lx->pos - i;
            return false;
        }
        lx->pos++;
    }
    return false;
}

/* The next number token (*at, *n), past any \u0000 escape; *n == 0 at the end. */
static void next_number(struct lexer *lx, size_t *at, size_t *n)
{
    while (lex_next(lx, at, n))
        ;
}

/* ---- \u0000 -> LP_TEXT_NUL before cJSON parses ---- */

/* A malloc'd copy of text with every \u0000 escape inside a string made
 * LP_TEXT_NUL, *outlen its length; NULL when there is none (or no memory: then cJSON
 * sees the text as it is and cuts the string, as it always did). */
static char *nul_escapes_replaced(const char *text, size_t len, size_t *outlen)
{
    struct lexer lx = {.s = text, .len = len};
    size_t at, n, from = 0, o = 0;
    char *out = NULL;

    while (lex_next(&lx, &at, &n) || n) {
        if (n)
            continue; /* a number: copied with the rest */
        if (!out && !(out = malloc(len)))
            return NULL;
        memcpy(out + o, text + from, at - from);
        o += at - from;
        memcpy(out + o, LP_TEXT_NUL, LP_TEXT_NUL_LEN);
        o += LP_TEXT_NUL_LEN;
        from = at + 6;
    }
    if (!out)
        return NULL;
    memcpy(out + o, text + from, len - from);
    *outlen = o + len - from;
    return out;
}

/* ---- exact decimal values ---- */

/* A decimal number as sign, significant digits and a power of ten: equal
 * values have equal forms (zero: no digits, never negative). */
struct decimal {
    bool neg;
    char digits[LP_JSON_NUMBER_TEXT];
    size_t n;
    long exp;
};

#define EXP_LIMIT 1000000000L /* beyond any double: an exponent saturates here */

/* Reads a whole JSON number s[0..len); false when it is not one (or longer
 * than cJSON reads: then it is never compared equal to anything). */
static bool to_decimal(const char *s, size_t len, struct decimal *d)
{
    size_t i = 0;
    long e = 0;
    bool eneg = false;

    memset(d, 0, sizeof(*d));
    if (len >= sizeof(d->digits))
        return false;
    if (i < len && s[i] == '-')
        d->neg = true, i++;
    if (i >= len || !is_digit(s[i]))
        return false;
    for (; i < len && is_digit(s[i]); i++)
        d->digits[d->n++] = s[i];
    if (i < len && s[i] == '.') {
        for (i++; i < len && is_digit(s[i]); i++, d->exp--)
            d->digits[d->n++] = s[i];
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        if (i >= len || !is_digit(s[i]))
            return false;
        for (; i < len && is_digit(s[i]); i++)
            e = e < EXP_LIMIT ? e * 10 + (s[i] - '0') : e;
    }
    if (i != len)
        return false;
    d->exp += eneg ? -e : e;
    size_t lead = 0;
    while (lead < d->n && d->digits[lead] == '0')
        lead++;
    memmove(d->digits, d->digits + lead, d->n - lead);
    d->n -= lead;
    while (d->n > 0 && d->digits[d->n - 1] == '0')
        d->n--, d->exp++;
    if (d->n == 0)
        d->neg = false, d->exp = 0; /* -0 is 0, as it prints */
    return true;
}

static bool same_value(const char *a, size_t alen, const char *b)
{
    struct decimal x, y;

    return to_decimal(a, alen, &x) && to_decimal(b, strlen(b), &y) && x.neg == y.neg &&
           x.n == y.n && x.exp == y.exp && memcmp(x.digits, y.digits, x.n) == 0;
}

/* ---- source texts kept in the tree ---- */

/* Walks v's numbers in the order of the text, pairing each with the next
 * number token; 0, or -1 when they do not pair up (or no memory). */
static int keep_sources(cJSON *v, struct lexer *lx)
{
    for (; v; v = v->next) {
        if (cJSON_IsNumber(v)) {
            size_t at, n;
            char canon[LP_JSON_NUMBER_TEXT];

            next_number(lx, &at, &n);
            if (n == 0)
                return -1;
            lp_json_number_text(v->valuedouble, canon, sizeof(canon));
            if (!same_value(lx->s + at, n, canon) && !(v->valuestring = strndup(lx->s + at, n)))
                return -1;
        }
        if (v->child && keep_sources(v->child, lx) < 0)
            return -1;
    }
    return 0;
}

cJSON *lp_json_parse_exact(const char *text, size_t len, size_t *stop)
{
    size_t clen = 0;
    char *copy = text ? nul_escapes_replaced(text, len, &clen) : NULL;
    const char *src = copy ? copy : text, *end = NULL;
    size_t slen = copy ? clen : len;
    cJSON *root = cJSON_ParseWithLengthOpts(src, slen, &end, 0);
    size_t off = end && end >= src && end <= src + slen ? (size_t)(end - src) : 0;

    if (root) {
        struct lexer lx = {.s = src, .len = off};
        size_t at, n;

        /* Every number paired, and none left over: else something is off,
         * and a number must never come out changed. */
        if (keep_sources(root, &lx) < 0 || (next_number(&lx, &at, &n), n != 0)) {
            cJSON_Delete(root);
            root = NULL;
        }
    }
    if (copy) {
        /* Offsets in the original: parse it again (rare: only text with
         * \u0000) and take where cJSON stopped there, at the same token. */
        cJSON *again = cJSON_ParseWithLengthOpts(text, len, &end, 0);

        cJSON_Delete(again);
        off = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        free(copy);
    }
    if (stop)
        *stop = off;
    return root;
}

bool lp_json_number_is_integral(const cJSON *v)
{
    struct decimal d;

    if (!cJSON_IsNumber(v))
        return false;
    const char *src = v->valuestring;
    if (!src)
        return lp_json_is_integral(v->valuedouble);
    return to_decimal(src, strlen(src), &d) && d.exp >= 0;
}
