/* scrub.h - the one function that takes the API key out of a text.
 *
 * log.c runs every log line through it and http.c every transport error it
 * reports, so the key can reach neither the log nor an error message.
 * No dependencies beyond the C library (the "util" layer).
 */
#ifndef LEADPIPEFS_SCRUB_H
#define LEADPIPEFS_SCRUB_H

#include <stddef.h>

#define LP_SCRUB_MARK "[REDACTED]"

/* Writes text into out (outlen bytes; NUL-terminated whenever outlen > 0) with
 * every occurrence of secret replaced by LP_SCRUB_MARK. Occurrences that
 * overlap become one mark, so no tail of the secret is left behind. The text
 * is scrubbed before it is cut to fit: a short buffer never ends in the first
 * bytes of the secret. A NULL or empty secret copies text as it is.
 * Returns the length of the whole scrubbed text, as snprintf does (out may be
 * NULL with outlen 0 to learn the size to allocate). */
size_t lp_scrub(char *out, size_t outlen, const char *text, const char *secret);

#endif
