/* fuzz_names.c - libFuzzer target for directory-name encoding. The input is
 * two names separated by a NUL byte. Properties: every result is a usable
 * file name (no '/', not "", ".", "..", at most 255 bytes, valid UTF-8 when
 * the name was); decoding gives the name back unless it had to be cut (then
 * a prefix); distinct names, or distinct ids, never share a result; without
 * an id a name is shown as is exactly when the encoding rule allows it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ID1 "6fb81599-f601-4afe-b3ff-e8a211cae27d"
#define ID2 "0f1815d3-6edc-4e8e-87e1-4d65ef4f1d2c"

static bool is_utf8(const char *s)
{
    char reason[64];

    /* lp_name_validate also counts characters; only its UTF-8 verdict matters */
    if (!*s || lp_name_validate(s, reason, sizeof(reason)) == 0)
        return true;
    return strstr(reason, "UTF-8") == NULL;
}

/* The man page's rule, written independently of names.c: a name is shown as
 * is unless it is "", "." or "..", holds a '/', a NUL (C0 80 in the model)
 * or one of the six special characters (U+2215, U+2205, U+2024, U+2053,
 * U+201B, U+2400), or is longer than 255 bytes. */
static bool shown_as_is(const char *name)
{
    static const char *const marks[] = {"/",
                                        "\xC0\x80",
                                        "\xE2\x88\x95",
                                        "\xE2\x88\x85",
                                        "\xE2\x80\xA4",
                                        "\xE2\x81\x93",
                                        "\xE2\x80\x9B",
                                        "\xE2\x90\x80"};

    if (!name[0] || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
        strcmp(name, ".leadpipe") == 0 || /* the control directory's name */
        strlen(name) > LP_FILENAME_MAX)
        return false;
    for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
        if (strstr(name, marks[i]))
            return false;
    return true;
}

static void check_shape(const char *enc, bool utf8_in)
{
    if (!enc || !enc[0] || strchr(enc, '/') || strcmp(enc, ".") == 0 || strcmp(enc, "..") == 0 ||
        strlen(enc) > LP_FILENAME_MAX)
        abort();
    if (utf8_in && !is_utf8(enc))
        abort();
}

/* Encodes with id; returns the result (caller frees). */
static char *encode_checked(const char *name, const char *id)
{
    char *enc = lp_name_encode(name, id), *dec;

    check_shape(enc, is_utf8(name));
    dec = lp_name_decode(enc);
    if (!dec)
        abort();
    /* Cut names decode to a proper prefix; others to themselves. */
    if (strcmp(dec, name) != 0 &&
        (strlen(dec) >= strlen(name) || strncmp(dec, name, strlen(dec)) != 0))
        abort();
    /* Without an id, shown as is exactly when the rule allows it. A name cut
     * to fit can come out byte for byte as its input (a 253-byte name ending
     * in U+2053: 250 bytes and the bare suffix mark), so only names that
     * decode whole are held to the rule. */
    if (!id && strcmp(dec, name) == 0 && (strcmp(enc, name) == 0) != shown_as_is(name))
        abort();
    free(dec);
    return enc;
}

static bool fits(const char *name)
{
    char *enc = lp_name_encode(name, ID1), *dec = lp_name_decode(enc);
    bool whole = dec && strcmp(dec, name) == 0;

    free(enc);
    free(dec);
    return whole;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 2), *a, *b, *ea, *eb, *ea1, *ea2, *dec;

    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    copy[size + 1] = '\0';
    a = copy;
    b = copy + strlen(copy) + 1; /* after the first NUL, or "" */

    ea = encode_checked(a, NULL);
    eb = encode_checked(b, NULL);
    ea1 = encode_checked(a, ID1);
    ea2 = encode_checked(a, ID2);
    if (strcmp(ea1, ea2) == 0 || strcmp(ea, ea1) == 0)
        abort();
    if (strcmp(a, b) != 0 && fits(a) && fits(b) && strcmp(ea, eb) == 0)
        abort();
    if (strcmp(a, b) == 0 && strcmp(ea, eb) != 0)
        abort();

    /* Arbitrary text as a typed directory name: NULL only with EINVAL. */
    errno = 0;
    dec = lp_name_decode(a);
    if (!dec && errno != EINVAL)
        abort();
    if (dec && strlen(dec) > strlen(a))
        abort();
    free(dec);
    (void)lp_name_validate(a, NULL, 0);

    free(ea);
    free(eb);
    free(ea1);
    free(ea2);
    free(copy);
    return 0;
}
