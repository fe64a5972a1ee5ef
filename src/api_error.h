/* api_error.h - what an API error answer says (its code and message, read
 * leniently from whatever body came back) and the errno it maps to.
 * Pure functions; the caller owns every buffer (nothing is allocated).
 */
#ifndef LEADPIPEFS_API_ERROR_H
#define LEADPIPEFS_API_ERROR_H

#include <stddef.h>

/* Lenient error body: {"error":{"code":..,"message":..}}, else a top-level
 * "message" / "error" / "detail" string, else the raw text (trimmed, cut).
 * Writes NUL-terminated strings (possibly empty) into code and msg. */
void lp_parse_error_body(const char *body, size_t len, char *code, size_t codelen, char *msg,
                         size_t msglen);
/* errno for an API answer per SPEC: 0 for 2xx, EINVAL 400/422, EDQUOT 403 SLOTS_FULL,
 * EACCES 401/403, ENOENT 404, EEXIST 409, EAGAIN 429, EIO 5xx and anything else. */
int lp_errno_for_status(long http_status, const char *code);

#endif
