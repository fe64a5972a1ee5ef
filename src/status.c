/* status.c - the status words written to an audience's status file
 * (see status.h). No cJSON, no I/O.
 */
#include "status.h"

#include <string.h>

static const char *const status_words[] = {"draft", "active", "paused", NULL};
static const char *const queue_words[] = {"manual", NULL};

static bool is_ascii_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static int word_parse(const char *buf, size_t len, const char *const *words, char *out,
                      size_t outlen)
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
        return LP_WORD_EMPTY;
    for (size_t i = 0; words[i]; i++)
        if (n == strlen(words[i]) && memcmp(buf + start, words[i], n) == 0)
            return LP_WORD_OK;
    /* Whitespace after it ends a word: only a bare start may still grow. */
    for (size_t i = 0; words[i] && end == len; i++)
        if (n < strlen(words[i]) && memcmp(buf + start, words[i], n) == 0)
            return LP_WORD_START;
    return LP_WORD_BAD;
}

int lp_status_parse(const char *buf, size_t len, char *out, size_t outlen)
{
    return word_parse(buf, len, status_words, out, outlen);
}

int lp_queue_word_parse(const char *buf, size_t len, char *out, size_t outlen)
{
    return word_parse(buf, len, queue_words, out, outlen);
}
