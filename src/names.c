/* names.c - directory names: the name rule, and the encoding that shows any
 * API name as a usable file name and back (see names.h, and the man page,
 * NAME ENCODING). No cJSON, no I/O.
 */
#include "names.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"
#include "textutil.h"

int lp_name_validate(const char *name, char *reason, size_t reasonlen)
{
    const unsigned char *s = (const unsigned char *)name;
    size_t len, chars = 0;

    lp_set_reason(reason, reasonlen, "%s", "");
    if (!name) {
        lp_set_reason(reason, reasonlen, "name is missing");
        return -1;
    }
    len = strlen(name);
    for (size_t i = 0; i < len; chars++) {
        /* A NUL (LP_TEXT_NUL) is a character too: the API takes "\u0000". */
        int n = strncmp(name + i, LP_TEXT_NUL, LP_TEXT_NUL_LEN) == 0 ? LP_TEXT_NUL_LEN
                                                                     : lp_utf8_len(s + i, len - i);

        if (n <= 0) {
            lp_set_reason(reason, reasonlen, "name must be valid UTF-8");
            return -1;
        }
        i += (size_t)n;
    }
    if (chars < 1 || chars > LP_NAME_MAX_CHARS) {
        lp_set_reason(reason, reasonlen, "name must be 1 to %d characters", LP_NAME_MAX_CHARS);
        return -1;
    }
    return 0;
}

#define U_DIVSLASH "\xE2\x88\x95" /* U+2215 DIVISION SLASH: stands for '/' */
#define U_EMPTYSET "\xE2\x88\x85" /* U+2205 EMPTY SET: the empty name */
#define U_ONEDOT "\xE2\x80\xA4"   /* U+2024 ONE DOT LEADER: a dot of "." or ".." */
#define U_SWUNG "\xE2\x81\x93"    /* U+2053 SWUNG DASH: starts the id suffix */
#define U_ESCAPE "\xE2\x80\x9B"   /* U+201B: the next character is literal */
#define U_NULSIGN "\xE2\x90\x80"  /* U+2400 SYMBOL FOR NULL: stands for a NUL */
#define U_LEN 3                   /* every one of them is 3 bytes in UTF-8 */
#define LP_SUFFIX_ID_CHARS 8

static const char *const name_specials[] = {U_DIVSLASH, U_EMPTYSET, U_ONEDOT,
                                            U_SWUNG,    U_ESCAPE,   U_NULSIGN};

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
    if (strncmp(s, LP_TEXT_NUL, LP_TEXT_NUL_LEN) == 0) {
        memcpy(out, U_NULSIGN, U_LEN);
        *used = LP_TEXT_NUL_LEN;
        return U_LEN;
    }
    if (starts_special(s)) {
        memcpy(out, U_ESCAPE, U_LEN);
        memcpy(out + U_LEN, s, U_LEN);
        *used = U_LEN;
        return 2 * U_LEN;
    }
    n = lp_utf8_len((const unsigned char *)s, strnlen(s, 4));
    *used = n > 0 ? (size_t)n : 1; /* invalid bytes pass through one by one */
    memcpy(out, s, *used);
    return *used;
}

/* Appends the encoding of up to max_units characters of s, stopping before
 * the output would pass limit bytes. Returns bytes the full text needs. */
static size_t encode_run(struct lp_sbuf *b, const char *s, size_t max_units, size_t limit)
{
    size_t total = 0, units = 0;
    bool full = false;

    while (*s && units < max_units) {
        char unit[8];
        size_t used, n = encode_unit(s, unit, &used);

        if (b && !full && b->len + n <= limit)
            lp_sb_add(b, unit, n);
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
static size_t encode_body(struct lp_sbuf *b, const char *name, size_t limit)
{
    const char *whole = NULL;

    if (name[0] == '\0')
        whole = U_EMPTYSET;
    else if (strcmp(name, ".") == 0)
        whole = U_ONEDOT;
    else if (strcmp(name, "..") == 0)
        whole = U_ONEDOT U_ONEDOT;
    else if (strcmp(name, LP_CONTROL_DIR) == 0)
        whole = U_ONEDOT LP_CONTROL_DIR_TAIL; /* the control directory's name is taken */
    if (whole) {
        if (b)
            lp_sb_adds(b, whole);
        return strlen(whole);
    }
    return encode_run(b, name, SIZE_MAX, limit);
}

char *lp_name_encode(const char *name, const char *suffix_id)
{
    struct lp_sbuf b = {0}, suffix = {0};
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
        lp_sb_adds(&suffix, U_SWUNG);
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
        lp_sb_add(&b, suffix.p, suffix.len);
    free(suffix.p);
    out = lp_sb_finish(&b);
    return out;
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
        } else if (strncmp(s, LP_TEXT_NUL, LP_TEXT_NUL_LEN) == 0) {
            free(out); /* typed as U+2400: C0 80 itself is how a NUL is held */
            errno = EINVAL;
            return NULL;
        } else if (strncmp(s, U_NULSIGN, U_LEN) == 0) {
            memcpy(out + o, LP_TEXT_NUL, LP_TEXT_NUL_LEN);
            o += LP_TEXT_NUL_LEN;
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
    else if (body_end == strlen(U_ONEDOT LP_CONTROL_DIR_TAIL) &&
             strncmp(dirname, U_ONEDOT LP_CONTROL_DIR_TAIL, body_end) == 0)
        strcpy(out, LP_CONTROL_DIR);
    return out;
}
