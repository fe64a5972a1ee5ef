/* startup.h - the checks leadpipefs makes before it sends anything: may the
 * base URL carry the key, and where does the key come from.
 *
 * No FUSE, curl or cJSON here (the "util" layer), so each rule is unit-tested
 * on its own. Each check returns 0 or -1; on -1 it has written the one-line
 * reason into msg (msglen bytes, no "leadpipefs: " prefix, no newline), which
 * main.c prints as is.
 */
#ifndef LEADPIPEFS_STARTUP_H
#define LEADPIPEFS_STARTUP_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

/* Where the key is taken from when no key file is named. */
#define LP_KEY_ENV "LEADPIPE_API_KEY"

/* Room for any message below: the longest names a path twice. */
#define LP_STARTUP_MSG_MAX (2 * PATH_MAX + 256)

/* https:// always; http:// only to this machine (the key would cross the
 * network in clear text otherwise): a dotted-quad IPv4 address in 127.0.0.0/8,
 * a bracketed IPv6 literal that is ::1 (or 127.0.0.0/8 IPv4-mapped), or
 * "localhost" in any case. A port must be digits; user info ("user@") is
 * refused, as the real host follows it. */
int lp_check_base_url(const char *url, char *msg, size_t msglen);

/* Reads the key from the first line of path: a regular file no one else may
 * read or write (mode 0600 or stricter). On 0, *key is malloc'd: the caller
 * wipes and frees it. */
int lp_read_key_file(const char *path, char **key, char *msg, size_t msglen);

/* Takes the key from $LEADPIPE_API_KEY and wipes it there, so that
 * /proc/PID/environ does not keep it. On 0, *key is malloc'd as above. */
int lp_take_env_key(char **key, char *msg, size_t msglen);

/* Where the CA certificates to trust come from when -o cafile is not given
 * (curl's and s3fs's convention). */
#define LP_CA_BUNDLE_ENV "CURL_CA_BUNDLE"

/* A CA file to trust (-o cafile, $CURL_CA_BUNDLE): a regular file that can be
 * read and holds at least one PEM certificate. Checked before anything is
 * sent, so a typo is named as such instead of as a certificate refused.
 * source says where the path came from ("-o cafile"), for the message. */
int lp_check_ca_file(const char *path, const char *source, char *msg, size_t msglen);

/* "123", "64K", "512M", "2G" (powers of 1024) -> bytes; 0 or -1. */
int lp_parse_size(const char *text, uint64_t *bytes);

#endif
