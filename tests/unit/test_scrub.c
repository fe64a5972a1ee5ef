/* test_scrub.c - the API key taken out of log lines and error messages. */
#include <stdlib.h>
#include <string.h>

#include "scrub.h"
#include "testutil.h"

#define KEY "sk_SECRET_42"

/* lp_scrub into a roomy buffer; returns it (static) and checks the return value. */
static const char *scrub(const char *text, const char *secret)
{
    static char out[512];
    size_t n = lp_scrub(out, sizeof out, text, secret);
    CHECK_INT(n, strlen(out));
    return out;
}

/* Whether out holds any piece of key of at least 3 bytes. */
static int holds_part_of(const char *out, const char *key)
{
    size_t klen = strlen(key);
    for (size_t len = 3; len <= klen; len++)
        for (size_t at = 0; at + len <= klen; at++) {
            char piece[64];
            memcpy(piece, key + at, len);
            piece[len] = '\0';
            if (strstr(out, piece))
                return 1;
        }
    return 0;
}

static void test_positions(void)
{
    CHECK_STR(scrub(KEY " at the start", KEY), "[REDACTED] at the start");
    CHECK_STR(scrub("in the " KEY " middle", KEY), "in the [REDACTED] middle");
    CHECK_STR(scrub("at the end " KEY, KEY), "at the end [REDACTED]");
    CHECK_STR(scrub(KEY, KEY), "[REDACTED]");
    CHECK_STR(scrub("a " KEY " b " KEY KEY " c", KEY), "a [REDACTED] b [REDACTED][REDACTED] c");
}

static void test_absent_and_empty(void)
{
    CHECK_STR(scrub("nothing secret here", KEY), "nothing secret here");
    CHECK_STR(scrub("sk_SECRET_4 is not the key", KEY), "sk_SECRET_4 is not the key");
    CHECK_STR(scrub("", KEY), "");
    CHECK_STR(scrub("plain copy", ""), "plain copy");
    CHECK_STR(scrub("plain copy", NULL), "plain copy");
}

/* Occurrences that share bytes leave no tail of the key behind. */
static void test_overlapping(void)
{
    CHECK_STR(scrub("x ababab y", "abab"), "x [REDACTED] y");
    CHECK_STR(scrub("aaaaa", "aa"), "[REDACTED]");
    CHECK_STR(scrub("aaa aa", "aa"), "[REDACTED] [REDACTED]");
    const char *out = scrub("id=" KEY "_42 done", KEY "_42");
    CHECK(!holds_part_of(out, KEY));
    out = scrub("k=sk_SECRET_SECRET_42", "sk_SECRET_SECRET_42");
    CHECK_STR(out, "k=[REDACTED]");
    out = scrub("xyxyxyx", "xyxyx");
    CHECK_STR(out, "[REDACTED]");
}

/* Every buffer size: the output is the start of the whole scrubbed text and
 * never holds the first bytes of the key (the key is replaced before the cut). */
static void test_short_buffer(void)
{
    const char *text = "token " KEY " and " KEY;
    const char *whole = "token [REDACTED] and [REDACTED]";
    size_t wlen = strlen(whole);

    CHECK_INT(lp_scrub(NULL, 0, text, KEY), wlen);
    for (size_t outlen = 1; outlen <= wlen + 2; outlen++) {
        char out[64];
        memset(out, 'Z', sizeof out);
        CHECK_INT(lp_scrub(out, outlen, text, KEY), wlen);
        size_t want = outlen - 1 < wlen ? outlen - 1 : wlen;
        CHECK_INT(strlen(out), want);
        CHECK(strncmp(out, whole, want) == 0);
        CHECK(!holds_part_of(out, KEY));
        CHECK(out[outlen] == 'Z'); /* nothing written past outlen */
    }
    char one = 'Z';
    CHECK_INT(lp_scrub(&one, 0, text, KEY), wlen);
    CHECK(one == 'Z');
}

int main(void)
{
    test_positions();
    test_absent_and_empty();
    test_overlapping();
    test_short_buffer();
    return lp_test_summary();
}
