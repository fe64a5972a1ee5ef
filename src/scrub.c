/* scrub.c - replaces the API key in a text (see scrub.h). */
#include "scrub.h"

#include <string.h>

/* Appends n bytes of s at *pos, keeping what fits in out (one byte stays for
 * the NUL); *pos counts every byte, fitting or not. */
static void append(char *out, size_t outlen, size_t *pos, const char *s, size_t n)
{
    if (*pos + 1 < outlen) {
        size_t room = outlen - 1 - *pos;
        memcpy(out + *pos, s, n < room ? n : room);
    }
    *pos += n;
}

size_t lp_scrub(char *out, size_t outlen, const char *text, const char *secret)
{
    size_t slen = secret ? strlen(secret) : 0, mlen = strlen(LP_SCRUB_MARK), pos = 0;
    const char *p = text;

    if (slen > 0) {
        for (const char *hit = strstr(p, secret); hit; hit = strstr(p, secret)) {
            const char *end = hit + slen;
            /* An occurrence starting inside this one extends it: one mark for both. */
            for (const char *next = strstr(hit + 1, secret); next && next < end;
                 next = strstr(next + 1, secret))
                end = next + slen;
            append(out, outlen, &pos, p, (size_t)(hit - p));
            append(out, outlen, &pos, LP_SCRUB_MARK, mlen);
            p = end;
        }
    }
    append(out, outlen, &pos, p, strlen(p));
    if (outlen > 0)
        out[pos < outlen ? pos : outlen - 1] = '\0';
    return pos;
}
