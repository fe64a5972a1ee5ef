/* json_scan.c - the strict incremental JSON syntax scanner behind
 * config.json writes (see json_scan.h for what cJSON cannot do that makes it
 * necessary). A state machine over the bytes; it builds nothing.
 */
#include "json_scan.h"

#include <cjson/cJSON.h> /* CJSON_NESTING_LIMIT only: the scanner mirrors cJSON's limits */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "textutil.h"

/* Deeper than this cJSON refuses to parse (CJSON_NESTING_LIMIT). */
#define LP_JSON_MAX_DEPTH CJSON_NESTING_LIMIT
/* cJSON reads at most 63 characters of one number. */
#define LP_JSON_MAX_NUMBER 63

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
    const char *why;              /* for LP_SCAN_BAD: what is wrong at pos */
};

static enum lp_scan_result scan_bad(struct scanner *sc, const char *why)
{
    sc->why = why;
    return LP_SCAN_BAD;
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
static enum lp_scan_result scan_unicode(struct scanner *sc)
{
    long hi = scan_u_escape(sc, sc->pos), lo;

    if (hi == -1)
        return LP_SCAN_MORE;
    if (hi == -2)
        return scan_bad(sc, "is not valid JSON");
    if (hi >= 0xDC00 && hi <= 0xDFFF)
        return scan_bad(sc, "contains a lone UTF-16 surrogate");
    if (hi >= 0xD800 && hi <= 0xDBFF) {
        lo = scan_u_escape(sc, sc->pos + 6);
        if (lo == -1)
            return LP_SCAN_MORE;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return scan_bad(sc, "contains a lone UTF-16 surrogate");
        sc->pos += 6;
    }
    sc->pos += 6;
    return LP_SCAN_DONE;
}

static enum lp_scan_result scan_string(struct scanner *sc)
{
    sc->pos++; /* the opening quote */
    while (sc->pos < sc->len) {
        unsigned char c = sc->s[sc->pos];
        int n;

        if (c == '"') {
            sc->pos++;
            return LP_SCAN_DONE;
        }
        if (c == '\\') {
            enum lp_scan_result r;

            if (sc->pos + 1 >= sc->len)
                return LP_SCAN_MORE;
            if (sc->s[sc->pos + 1] == 'u') {
                r = scan_unicode(sc);
                if (r != LP_SCAN_DONE)
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
        n = lp_utf8_len(sc->s + sc->pos, sc->len - sc->pos);
        if (n < 0)
            return LP_SCAN_MORE;
        if (n == 0)
            return scan_bad(sc, "is not valid UTF-8");
        sc->pos += (size_t)n;
    }
    return LP_SCAN_MORE;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Digits at sc->pos: at least one required. */
static enum lp_scan_result scan_digits(struct scanner *sc)
{
    if (sc->pos >= sc->len)
        return LP_SCAN_MORE;
    if (!is_digit(sc->s[sc->pos]))
        return scan_bad(sc, "is not valid JSON");
    while (sc->pos < sc->len && is_digit(sc->s[sc->pos]))
        sc->pos++;
    return LP_SCAN_DONE;
}

/* A number; since a value is always inside the top-level object, a number
 * that reaches the end of the buffer is unfinished. */
static enum lp_scan_result scan_number_parts(struct scanner *sc)
{
    enum lp_scan_result r;

    if (sc->s[sc->pos] == '-')
        sc->pos++;
    if (sc->pos < sc->len && sc->s[sc->pos] == '0')
        sc->pos++;
    else if ((r = scan_digits(sc)) != LP_SCAN_DONE)
        return r;
    if (sc->pos < sc->len && sc->s[sc->pos] == '.') {
        sc->pos++;
        if ((r = scan_digits(sc)) != LP_SCAN_DONE)
            return r;
    }
    if (sc->pos < sc->len && (sc->s[sc->pos] == 'e' || sc->s[sc->pos] == 'E')) {
        sc->pos++;
        if (sc->pos < sc->len && (sc->s[sc->pos] == '+' || sc->s[sc->pos] == '-'))
            sc->pos++;
        if ((r = scan_digits(sc)) != LP_SCAN_DONE)
            return r;
    }
    return sc->pos < sc->len ? LP_SCAN_DONE : LP_SCAN_MORE;
}

static enum lp_scan_result scan_number(struct scanner *sc)
{
    size_t start = sc->pos;
    enum lp_scan_result r = scan_number_parts(sc);

    if (r != LP_SCAN_BAD && sc->pos - start > LP_JSON_MAX_NUMBER) {
        sc->pos = start;
        return scan_bad(sc, "has a number with too many digits");
    }
    return r;
}

static enum lp_scan_result scan_literal(struct scanner *sc, const char *word)
{
    for (size_t i = 0; word[i]; i++) {
        if (sc->pos + i >= sc->len)
            return LP_SCAN_MORE;
        if (sc->s[sc->pos + i] != (unsigned char)word[i]) {
            sc->pos += i;
            return scan_bad(sc, "is not valid JSON");
        }
    }
    sc->pos += strlen(word);
    return LP_SCAN_DONE;
}

static enum lp_scan_result scan_open(struct scanner *sc, char c)
{
    if (sc->depth >= LP_JSON_MAX_DEPTH)
        return scan_bad(sc, "nests objects and arrays too deeply");
    sc->open[sc->depth++] = c;
    sc->pos++;
    sc->state = c == '{' ? ST_KEY_OR_CLOSE : ST_VALUE_OR_CLOSE;
    return LP_SCAN_DONE;
}

static enum lp_scan_result scan_close(struct scanner *sc, char c)
{
    if (sc->depth == 0 || sc->open[sc->depth - 1] != (c == '}' ? '{' : '['))
        return scan_bad(sc, "is not valid JSON");
    sc->depth--;
    sc->pos++;
    sc->state = sc->depth ? ST_AFTER_VALUE : ST_END;
    return LP_SCAN_DONE;
}

/* A value starting at sc->pos. */
static enum lp_scan_result scan_value(struct scanner *sc)
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
static enum lp_scan_result scan_step(struct scanner *sc)
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
        return LP_SCAN_DONE;
    case ST_AFTER_VALUE:
        if (c == ',') {
            sc->pos++;
            sc->state = sc->open[sc->depth - 1] == '{' ? ST_KEY : ST_VALUE;
            return LP_SCAN_DONE;
        }
        if (c == '}' || c == ']')
            return scan_close(sc, (char)c);
        return scan_bad(sc, "is not valid JSON");
    case ST_END:
        break;
    }
    return scan_bad(sc, "has more text after its closing }");
}

enum lp_scan_result lp_json_scan_object(const unsigned char *s, size_t len, size_t *err_pos,
                                        const char **why)
{
    struct scanner sc;
    enum lp_scan_result r;

    memset(&sc, 0, offsetof(struct scanner, open));
    sc.s = s;
    sc.len = len;
    sc.state = ST_VALUE;
    for (;;) {
        while (sc.pos < len && lp_is_json_space(s[sc.pos]))
            sc.pos++;
        if (sc.pos == len) {
            r = sc.state == ST_END ? LP_SCAN_DONE : LP_SCAN_MORE;
            break;
        }
        if (sc.state == ST_VALUE && sc.depth == 0 && s[sc.pos] != '{') {
            if (strchr("[\"-0123456789tfn", s[sc.pos]))
                r = scan_bad(&sc, NULL); /* a value, but not an object */
            else
                r = scan_bad(&sc, "is not valid JSON");
            break;
        }
        r = scan_step(&sc);
        if (r != LP_SCAN_DONE)
            break;
    }
    if (err_pos)
        *err_pos = sc.pos;
    if (why)
        *why = r == LP_SCAN_BAD ? sc.why : NULL;
    return r;
}
