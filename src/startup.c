/* startup.c - the base URL rule and where the API key comes from (see startup.h). */
#include "startup.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* True when text is a port: one or more digits. */
static bool is_port(const char *text)
{
    return text[0] != '\0' && strspn(text, "0123456789") == strlen(text);
}

/* True when host (an IPv6 literal without its brackets) is ::1 or an
 * IPv4-mapped address in 127.0.0.0/8. */
static bool loopback_ipv6(const char *host)
{
    struct in6_addr a6;
    if (inet_pton(AF_INET6, host, &a6) != 1)
        return false;
    return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
}

/* True when host is "localhost" or a dotted-quad IPv4 address in 127.0.0.0/8.
 * inet_pton takes exactly four decimal parts of 0 to 255: no signs, no
 * overflow, no octal or hex, no shortened forms. */
static bool loopback_name_or_ipv4(const char *host)
{
    struct in_addr a4;
    if (strcasecmp(host, "localhost") == 0)
        return true;
    return inet_pton(AF_INET, host, &a4) == 1 && ((const unsigned char *)&a4.s_addr)[0] == 127;
}

/* True when an http:// URL's host is this machine. The whole authority is
 * parsed, so "127.0.0.1.example.com" or "localhost@example.com" never pass. */
static bool loopback_url(const char *url)
{
    if (strncmp(url, "http://", 7) != 0)
        return false;
    const char *host = url + strlen("http://");
    size_t len = strcspn(host, "/?#");
    char auth[256];
    if (len == 0 || len >= sizeof(auth))
        return false;
    memcpy(auth, host, len);
    auth[len] = '\0';
    if (strchr(auth, '@'))
        return false; /* user info: the real host follows it */
    if (auth[0] == '[') {
        char *close = strchr(auth, ']');
        if (!close || (close[1] != '\0' && (close[1] != ':' || !is_port(close + 2))))
            return false;
        *close = '\0';
        return loopback_ipv6(auth + 1);
    }
    char *colon = strchr(auth, ':');
    if (colon) {
        if (!is_port(colon + 1))
            return false;
        *colon = '\0';
    }
    return loopback_name_or_ipv4(auth);
}

int lp_check_base_url(const char *url, char *msg, size_t msglen)
{
    if (strncmp(url, "https://", 8) == 0)
        return 0;
    if (strncmp(url, "http://", 7) == 0) {
        if (loopback_url(url))
            return 0;
        snprintf(msg, msglen,
                 "refusing plain http to %s: the key would cross the network in clear text "
                 "(use https://)",
                 url);
        return -1;
    }
    snprintf(msg, msglen, "base_url must start with https:// (got %s)", url);
    return -1;
}

int lp_read_key_file(const char *path, char **key, char *msg, size_t msglen)
{
    *key = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        char why[128];
        snprintf(msg, msglen, "cannot open api key file %s: %s", path,
                 strerror_r(errno, why, sizeof why));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(msg, msglen, "api key file %s is not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_mode & (S_IRGRP | S_IROTH | S_IWGRP | S_IWOTH)) {
        snprintf(msg, msglen, "api key file %s is readable by others; chmod 600 %s", path, path);
        close(fd);
        return -1;
    }
    char buf[1024];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0)
        n = 0;
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    *key = buf[0] ? strdup(buf) : NULL;
    bool empty = !buf[0];
    explicit_bzero(buf, sizeof(buf));
    if (empty) {
        snprintf(msg, msglen, "api key file %s is empty", path);
        return -1;
    }
    if (!*key) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    return 0;
}

/* True when fd's content holds a PEM certificate's first line. Read in
 * blocks, each searched with the end of the one before it. */
static bool holds_pem_certificate(int fd)
{
    static const char mark[] = "-----BEGIN CERTIFICATE-----";
    const size_t keep = sizeof mark - 2; /* a mark cut by a block boundary */
    char buf[65536 + sizeof mark];
    size_t have = 0;
    ssize_t n;
    while ((n = read(fd, buf + have, sizeof buf - 1 - have)) > 0) {
        have += (size_t)n;
        buf[have] = '\0';
        if (memmem(buf, have, mark, sizeof mark - 1))
            return true;
        if (have > keep) {
            memmove(buf, buf + have - keep, keep);
            have = keep;
        }
    }
    return false;
}

int lp_check_ca_file(const char *path, const char *source, char *msg, size_t msglen)
{
    char why[128];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(msg, msglen, "cannot read the CA file %s (%s): %s", path, source,
                 strerror_r(errno, why, sizeof why));
        return -1;
    }
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        snprintf(msg, msglen, "the CA file %s (%s) is not a regular file", path, source);
    else if (!holds_pem_certificate(fd))
        snprintf(msg, msglen,
                 "the CA file %s (%s) holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path,
                 source);
    else
        rc = 0;
    close(fd);
    return rc;
}

int lp_take_env_key(char **key, char *msg, size_t msglen)
{
    char *v = getenv(LP_KEY_ENV);
    *key = NULL;
    if (!v || !*v) {
        snprintf(msg, msglen, "no API key: set " LP_KEY_ENV " or use -o api_key_file=PATH");
        return -1;
    }
    *key = strdup(v);
    explicit_bzero(v, strlen(v));
    unsetenv(LP_KEY_ENV);
    if (!*key) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    return 0;
}

int lp_parse_size(const char *text, uint64_t *bytes)
{
    char *end = NULL;
    if (!text || *text < '0' || *text > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift)
        end++;
    if (errno || *end || (shift && v > (~0ULL >> shift)))
        return -1;
    *bytes = (uint64_t)v << shift;
    return 0;
}
