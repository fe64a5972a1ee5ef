/* test_names.c - unit tests for audience names: the name rule and the
 * directory-name encoding (shown as is when possible, otherwise escaped,
 * reversible, unique, at most 255 bytes).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "testutil.h"

#define DIVSLASH "\xE2\x88\x95" /* U+2215 */
#define EMPTYSET "\xE2\x88\x85" /* U+2205 */
#define ONEDOT "\xE2\x80\xA4"   /* U+2024 */
#define SWUNG "\xE2\x81\x93"    /* U+2053 */
#define ESCAPE "\xE2\x80\x9B"   /* U+201B */
#define NULSIGN "\xE2\x90\x80"  /* U+2400 SYMBOL FOR NULL: shows a NUL */
#define NUL "\xC0\x80"          /* a NUL inside a name as the model holds it */

#define ID1 "6fb81599-f601-4afe-b3ff-e8a211cae27d"
#define ID2 "0f1815d3-6edc-4e8e-87e1-4d65ef4f1d2c"

static uint32_t rng_state = 88172645u;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* True when lp_name_encode (no suffix) does not show name as is. */
static bool shown_changed(const char *name)
{
    char *enc = lp_name_encode(name, NULL);
    bool changed = !enc || strcmp(enc, name) != 0;

    free(enc);
    return changed;
}

/* The man page's rule, written independently of names.c: a name is shown as
 * is unless it is "", "." or "..", holds a '/', a NUL or one of the six
 * special characters, or is longer than 255 bytes. */
static bool shown_as_is(const char *name)
{
    static const char *const marks[] = {"/",    NUL,   DIVSLASH, EMPTYSET,
                                        ONEDOT, SWUNG, ESCAPE,   NULSIGN};

    if (!name[0] || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
        strcmp(name, ".leadpipe") == 0 || /* the control directory's name */
        strlen(name) > LP_FILENAME_MAX)
        return false;
    for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
        if (strstr(name, marks[i]))
            return false;
    return true;
}

/* Strict UTF-8 check, written independently of model.c. */
static bool valid_utf8(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;

    while (*s) {
        uint32_t cp;
        int n;

        if (s[0] < 0x80) {
            s++;
            continue;
        } else if ((s[0] & 0xE0) == 0xC0) {
            n = 2;
            cp = s[0] & 0x1Fu;
        } else if ((s[0] & 0xF0) == 0xE0) {
            n = 3;
            cp = s[0] & 0x0Fu;
        } else if ((s[0] & 0xF8) == 0xF0) {
            n = 4;
            cp = s[0] & 0x07u;
        } else {
            return false;
        }
        for (int i = 1; i < n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i] & 0x3Fu);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        s += n;
    }
    return true;
}

/* Properties every directory name must have, whatever the input. */
static void check_shape(const char *name, const char *enc)
{
    CHECK(enc != NULL);
    if (!enc)
        return;
    CHECK(strchr(enc, '/') == NULL);
    CHECK(strcmp(enc, "") != 0);
    CHECK(strcmp(enc, ".") != 0);
    CHECK(strcmp(enc, "..") != 0);
    CHECK(strlen(enc) <= LP_FILENAME_MAX);
    if (valid_utf8(name) && !valid_utf8(enc)) {
        CHECK(valid_utf8(enc));
        fprintf(stderr, "  \"%s\" encodes to invalid UTF-8\n", name);
    }
}

/* decode(encode(name, id)) == name for a name short enough not to be cut. */
static void check_round_trip(const char *name, const char *id)
{
    char *enc = lp_name_encode(name, id), *dec;

    check_shape(name, enc);
    if (!enc)
        return;
    dec = lp_name_decode(enc);
    CHECK_STR(dec, name);
    free(dec);
    free(enc);
}

static void test_validate(void)
{
    static const struct {
        const char *name;
        int rc;
    } cases[] = {
        {"Marketing Directors at Tech Companies", 0},
        {"a", 0},
        {"a/b", 0},
        {".", 0},
        {"caf\xc3\xa9 \xf0\x9f\x98\x80", 0},
        {"", -1},
        {"\xff", -1},
        {"caf\xc3", -1},
        {"\xc0\xaf", -1},
        {"\xed\xa0\x80", -1},
        /* a NUL from the API (\u0000) is one character of a valid name */
        {"a" NUL "b", 0},
        {NUL, 0},
        {"\xc0", -1},
        {"\xc0\x81", -1},
    };
    char reason[128], name[1200];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        reason[0] = 'x';
        CHECK_INT(lp_name_validate(cases[i].name, reason, sizeof(reason)), cases[i].rc);
        CHECK(cases[i].rc == 0 ? reason[0] == '\0' : reason[0] != '\0');
    }
    CHECK_INT(lp_name_validate("", reason, sizeof(reason)), -1);
    CHECK_STR(reason, "name must be 1 to 255 characters");
    CHECK_INT(lp_name_validate("\xff", reason, sizeof(reason)), -1);
    CHECK_STR(reason, "name must be valid UTF-8");
    CHECK_INT(lp_name_validate(NULL, reason, sizeof(reason)), -1);

    /* The limit counts characters, not bytes: 255 x "é" is 510 bytes. */
    memset(name, 'a', 255);
    name[255] = '\0';
    CHECK_INT(lp_name_validate(name, reason, sizeof(reason)), 0);
    name[255] = 'a';
    name[256] = '\0';
    CHECK_INT(lp_name_validate(name, reason, sizeof(reason)), -1);
    CHECK_STR(reason, "name must be 1 to 255 characters");
    name[0] = '\0';
    for (int i = 0; i < 255; i++)
        strcat(name, "\xc3\xa9");
    CHECK_INT(lp_name_validate(name, NULL, 0), 0);
    strcat(name, "\xc3\xa9");
    CHECK_INT(lp_name_validate(name, NULL, 0), -1);
}

static void test_plain_names(void)
{
    /* Ordinary names are shown exactly as they are. */
    static const char *const names[] = {
        "Marketing Directors at Tech Companies",
        "100% match",
        "  spaces  around  ",
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe4\xb8\xad\xe6\x96\x87",
        "tab\there\nnewline\x01\x7f",
        "...",
        ".hidden",
        "a.",
        "-",
        "~backup~",
        "back\\slash",
        "quote\"s and 'single'",
        /* other arrows, dashes and dots that look alike are not special */
        "\xe2\x81\x84 fraction slash \xe2\x80\x94 em dash \xc2\xb7 middle dot",
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char *enc = lp_name_encode(names[i], NULL);

        CHECK_STR(enc, names[i]);
        CHECK(shown_as_is(names[i]));
        check_round_trip(names[i], NULL);
        check_round_trip(names[i], ID1);
        free(enc);
    }
    /* 255 bytes is still shown as is. */
    {
        char name[256];

        memset(name, 'n', 255);
        name[255] = '\0';
        CHECK(!shown_changed(name));
        check_round_trip(name, NULL);
    }
}

struct enc_case {
    const char *name, *id, *want;
};

static void test_encode_table(void)
{
    static const struct enc_case cases[] = {
        {"a/b", NULL, "a" DIVSLASH "b"},
        {"/", NULL, DIVSLASH},
        {"//x//", NULL, DIVSLASH DIVSLASH "x" DIVSLASH DIVSLASH},
        {"", NULL, EMPTYSET},
        {".", NULL, ONEDOT},
        {"..", NULL, ONEDOT ONEDOT},
        /* the control directory's name is taken: its dot shows as U+2024 */
        {".leadpipe", NULL, ONEDOT "leadpipe"},
        {".leadpipe", ID1, ONEDOT "leadpipe" SWUNG "6fb81599"},
        {"./", NULL, "." DIVSLASH},
        {"../..", NULL, ".." DIVSLASH ".."},
        {DIVSLASH, NULL, ESCAPE DIVSLASH},
        {EMPTYSET, NULL, ESCAPE EMPTYSET},
        {ONEDOT, NULL, ESCAPE ONEDOT},
        {ONEDOT ONEDOT, NULL, ESCAPE ONEDOT ESCAPE ONEDOT},
        {SWUNG, NULL, ESCAPE SWUNG},
        {ESCAPE, NULL, ESCAPE ESCAPE},
        {"a" ESCAPE "b", NULL, "a" ESCAPE ESCAPE "b"},
        {"x" SWUNG "6fb81599", NULL, "x" ESCAPE SWUNG "6fb81599"},
        /* a NUL shows as U+2400; a literal U+2400 is escaped */
        {"Nul" NUL "Name", NULL, "Nul" NULSIGN "Name"},
        {NUL NUL, NULL, NULSIGN NULSIGN},
        {NULSIGN, NULL, ESCAPE NULSIGN},
        {"a" NUL NULSIGN, ID1, "a" NULSIGN ESCAPE NULSIGN SWUNG "6fb81599"},
        /* duplicates get the first 8 characters of the id */
        {"Dup", ID1, "Dup" SWUNG "6fb81599"},
        {"Dup", ID2, "Dup" SWUNG "0f1815d3"},
        {"", ID1, EMPTYSET SWUNG "6fb81599"},
        {".", ID1, ONEDOT SWUNG "6fb81599"},
        {"a/b", "abc", "a" DIVSLASH "b" SWUNG "abc"},
        /* an id can never bring a '/' in */
        {"n", "ab/cd/ef/gh", "n" SWUNG "ab" DIVSLASH "cd" DIVSLASH "ef"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct enc_case *c = &cases[i];
        char *enc = lp_name_encode(c->name, c->id), *dec;

        CHECK_STR(enc, c->want);
        check_shape(c->name, enc);
        dec = enc ? lp_name_decode(enc) : NULL;
        CHECK_STR(dec, c->name);
        if (!c->id)
            CHECK(!shown_as_is(c->name));
        free(dec);
        free(enc);
    }
    CHECK(lp_name_encode(NULL, NULL) == NULL);
    /* Only the exact name is taken: its neighbours show as they are. */
    for (const char *const *n = (const char *const[]){".leadpipex", "leadpipe", ".Leadpipe", NULL};
         *n; n++) {
        char *enc = lp_name_encode(*n, NULL);
        CHECK_STR(enc, *n);
        free(enc);
    }
}

/* A name longer than 255 bytes once encoded is cut at a character boundary
 * (never inside an escape) and suffixed with U+2053 + the id's start. */
static void check_cut(const char *name, const char *id, size_t want_len)
{
    char *enc = lp_name_encode(name, id), *dec;
    const char *suffix = id ? SWUNG "6fb81599" : SWUNG;
    size_t len, slen = strlen(suffix);

    CHECK(shown_changed(name));
    check_shape(name, enc);
    if (!enc)
        return;
    len = strlen(enc);
    CHECK_INT(len, want_len);
    CHECK(len >= slen && strcmp(enc + len - slen, suffix) == 0);
    dec = lp_name_decode(enc);
    CHECK(dec != NULL);
    /* What is left is the start of the name, cut between characters. */
    if (dec) {
        CHECK(strlen(dec) < strlen(name));
        CHECK(strncmp(dec, name, strlen(dec)) == 0);
        CHECK(valid_utf8(dec));
    }
    free(dec);
    free(enc);
}

static void test_long_names(void)
{
    char name[1024];

    /* 300 x 'a' -> 244 'a' + U+2053 (3 bytes) + 8 = 255 bytes */
    memset(name, 'a', 300);
    name[300] = '\0';
    check_cut(name, ID1, 255);
    /* 256 bytes, needs no escaping, is still too long */
    name[256] = '\0';
    check_cut(name, ID1, 255);
    /* without an id: cut, marked with a bare U+2053 */
    check_cut(name, NULL, 255);

    /* 100 x "é" (200 bytes) + 20 x "/" (60 bytes encoded): 244 bytes of room
     * hold 200 + 14 x 3 = 242 bytes; +11 = 253 */
    name[0] = '\0';
    for (int i = 0; i < 100; i++)
        strcat(name, "\xc3\xa9");
    for (int i = 0; i < 20; i++)
        strcat(name, "/");
    check_cut(name, ID1, 253);

    /* 100 x "é" + 20 x U+201B (6 bytes each escaped): 200 + 7 x 6 = 242 */
    name[200] = '\0';
    for (int i = 0; i < 20; i++)
        strcat(name, ESCAPE);
    check_cut(name, ID1, 253);

    /* An escape that no longer fits ends the name there, even when shorter
     * characters after it would fit. */
    memset(name, 'a', 242);
    strcpy(name + 242, ESCAPE "bbbbbbbbbbbbbbbbbbbb");
    check_cut(name, ID1, 242 + 11);

    /* "a" + 150 x "é": 1 + 121 x 2 = 243 bytes of body; cut mid-way is never
     * mid-character */
    strcpy(name, "a");
    for (int i = 0; i < 150; i++)
        strcat(name, "\xc3\xa9");
    check_cut(name, ID1, 254);

    /* 255 characters of 4 bytes (the longest valid name) */
    name[0] = '\0';
    for (int i = 0; i < 255; i++)
        strcat(name, "\xf0\x9f\x98\x80");
    CHECK_INT(lp_name_validate(name, NULL, 0), 0);
    check_cut(name, ID1, 4 * 61 + 11);

    /* A name that just fits unescaped, but not with the escapes it needs. */
    memset(name, 'b', 254);
    strcpy(name + 254, "/");
    check_cut(name, NULL, 252 + 3);
}

static void test_decode(void)
{
    static const struct {
        const char *dir, *want; /* want NULL: EINVAL */
    } cases[] = {
        {"plain", "plain"},
        {"a" DIVSLASH "b", "a/b"},
        {EMPTYSET, ""},
        {ONEDOT, "."},
        {ONEDOT ONEDOT, ".."},
        {ONEDOT "leadpipe", ".leadpipe"},
        {ONEDOT "leadpipe" SWUNG "6fb81599", ".leadpipe"},
        {ESCAPE ONEDOT "leadpipe", ONEDOT "leadpipe"},
        {ESCAPE EMPTYSET, EMPTYSET},
        {"Dup" SWUNG "6fb81599", "Dup"},
        {"Dup" SWUNG, "Dup"},
        {"Dup" SWUNG "x" ESCAPE "?", "Dup"}, /* the suffix is not decoded */
        {ONEDOT SWUNG "6fb81599", "."},
        /* what nobody's encoder makes, taken as literally as possible */
        {"a" EMPTYSET "b", "a" EMPTYSET "b"},
        {"a" ONEDOT, "a" ONEDOT},
        {ONEDOT ONEDOT ONEDOT, ONEDOT ONEDOT ONEDOT},
        {EMPTYSET EMPTYSET, EMPTYSET EMPTYSET},
        /* malformed escapes */
        {ESCAPE, NULL},
        {"a" ESCAPE, NULL},
        {ESCAPE "x", NULL},
        {ESCAPE "/", NULL},
        {"a" ESCAPE "\xe2\x88", NULL},
        {ESCAPE "\xe2\x80\x94", NULL}, /* an em dash is not special */
        /* a NUL is typed as U+2400; the model's own form of it is not a name */
        {"a" NULSIGN "b", "a" NUL "b"},
        {ESCAPE NULSIGN, NULSIGN},
        {"a" NUL "b", NULL},
        {NUL, NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *dec;

        errno = 0;
        dec = lp_name_decode(cases[i].dir);
        if (cases[i].want) {
            CHECK_STR(dec, cases[i].want);
        } else {
            CHECK(dec == NULL);
            CHECK_INT(errno, EINVAL);
        }
        free(dec);
    }
    CHECK(lp_name_decode(NULL) == NULL);
}

static void test_shown_as_is(void)
{
    CHECK(shown_changed(""));
    CHECK(shown_changed("."));
    CHECK(shown_changed(".."));
    CHECK(shown_changed("a/b"));
    CHECK(shown_changed("x" SWUNG));
    CHECK(shown_changed(ESCAPE));
    CHECK(shown_changed(NULL));
    CHECK(!shown_changed("..."));
    CHECK(!shown_changed("a.b"));
}

/* Random names over the characters that matter; a fixed seed keeps any
 * failure reproducible. */
static const char *const alphabet[] = {
    DIVSLASH, EMPTYSET, ONEDOT, SWUNG, ESCAPE, NULSIGN,    NUL,        "/",
    ".",      "a",      "Z",    " ",   "%",    "\xc3\xa9", "\xe2\x80",
};

static void random_name(char *out, size_t maxunits)
{
    size_t units = rng() % (maxunits + 1);

    out[0] = '\0';
    for (size_t i = 0; i < units; i++) {
        /* the last entry is a cut-off character: only sometimes, at the end */
        size_t pick = rng() % (sizeof(alphabet) / sizeof(alphabet[0]) - 1);

        strcat(out, alphabet[pick]);
    }
}

struct pair {
    char *enc;
    char *name;
    int id;
};

static int cmp_pair(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;

    return strcmp(x->enc, y->enc);
}

static void test_random_properties(void)
{
    enum { N = 20000 };
    static const char *const ids[] = {NULL, ID1, ID2};
    struct pair *pairs = calloc(3 * N, sizeof(*pairs));
    size_t np = 0, dups = 0, bad = 0;

    for (int i = 0; i < N; i++) {
        char name[16 * 6 + 1];

        random_name(name, 16);
        for (int k = 0; k < 3; k++) {
            char *enc = lp_name_encode(name, ids[k]), *dec;

            check_shape(name, enc);
            if (!enc)
                continue;
            dec = lp_name_decode(enc);
            if (!dec || strcmp(dec, name) != 0)
                bad++;
            if (k == 0 && (strcmp(enc, name) == 0) != shown_as_is(name))
                bad++;
            free(dec);
            pairs[np].enc = enc;
            pairs[np].name = strdup(name);
            pairs[np].id = k;
            np++;
        }
    }
    CHECK_INT(bad, 0);

    /* Equal directory names only for the same name and the same id. */
    qsort(pairs, np, sizeof(*pairs), cmp_pair);
    for (size_t i = 1; i < np; i++)
        if (strcmp(pairs[i].enc, pairs[i - 1].enc) == 0 &&
            (strcmp(pairs[i].name, pairs[i - 1].name) != 0 || pairs[i].id != pairs[i - 1].id))
            dups++;
    CHECK_INT(dups, 0);
    for (size_t i = 0; i < np; i++) {
        free(pairs[i].enc);
        free(pairs[i].name);
    }
    free(pairs);

    /* Invalid UTF-8 passes through byte by byte and still round-trips. */
    for (int i = 0; i < 2000; i++) {
        char name[40];
        size_t len = 1 + rng() % 30;

        for (size_t j = 0; j < len; j++)
            name[j] = (char)(1 + rng() % 255);
        name[len] = '\0';
        check_round_trip(name, NULL);
        check_round_trip(name, ID2);
    }

    /* decode never crashes on arbitrary text; when it succeeds, the result
     * encodes to a name that decodes back to it. */
    for (int i = 0; i < 5000; i++) {
        char dir[16 * 6 + 1], *dec;

        random_name(dir, 16);
        if (rng() % 8 == 0)
            strcat(dir, alphabet[sizeof(alphabet) / sizeof(alphabet[0]) - 1]);
        errno = 0;
        dec = lp_name_decode(dir);
        if (!dec) {
            CHECK_INT(errno, EINVAL);
            continue;
        }
        CHECK(strlen(dec) <= strlen(dir));
        check_round_trip(dec, NULL);
        free(dec);
    }
}

int main(void)
{
    test_validate();
    test_plain_names();
    test_encode_table();
    test_long_names();
    test_decode();
    test_shown_as_is();
    test_random_properties();
    return lp_test_summary();
}
