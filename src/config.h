/* config.h - config.json: the checks a written config must pass (syntax, then
 * the API's rules), how it is shown (pretty) and what a new audience starts with.
 *
 * Ownership: lp_config_check's *compact and lp_config_pretty's result are
 * malloc'd (the caller frees); lp_config_template's text is static. reason
 * buffers belong to the caller (NULL/0 when no reason is wanted).
 */
#ifndef LEADPIPEFS_CONFIG_H
#define LEADPIPEFS_CONFIG_H

#include <stddef.h>

#define LP_CONFIG_MAX (1 << 20) /* largest config.json accepted, bytes */

enum lp_config_result {
    LP_CONFIG_OK = 0,     /* valid: *compact holds the canonical compact JSON */
    LP_CONFIG_INCOMPLETE, /* not (yet) one complete JSON value: more bytes may fix it */
    LP_CONFIG_BAD_JSON,   /* can never become valid by appending (e.g. trailing garbage, NUL) */
    LP_CONFIG_INVALID,    /* one JSON value, but the API would refuse it (reason set) */
    LP_CONFIG_TOO_BIG,    /* longer than LP_CONFIG_MAX */
};
/* Checks bytes written to config.json. buf need not be NUL-terminated.
 * On LP_CONFIG_OK *compact is malloc'd (caller frees); else NULL and reason
 * holds a sentence a person can read ("topicIds must hold 1 to 250 integers"). */
enum lp_config_result lp_config_check(const char *buf, size_t len, char **compact, char *reason,
                                      size_t reasonlen);

/* config.json as shown to users: 2-space indented, "key": value, trailing "\n".
 * Input compact JSON; returns malloc'd text or NULL. */
char *lp_config_pretty(const char *compact);
/* The config a new (mkdir'd) audience shows: compact JSON, static storage. */
const char *lp_config_template(void);

#endif
