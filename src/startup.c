/* startup.c - the base URL rule and where the API key comes from (see startup.h). */
#include "startup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* The whole authority is parsed, so "127.0.0.1.example.com" or
 * "localhost@example.com" never pass for loopback. */
bool lp_loopback_url(const char *url)
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
    if (strncmp(auth, "[::1]", 5) == 0)
        return auth[5] == '\0' || auth[5] == ':';
    char *colon = strchr(auth, ':');
    if (colon) {
        if (colon[1] == '\0' || strspn(colon + 1, "0123456789") != strlen(colon + 1))
            return false;
        *colon = '\0';
    }
    if (strcasecmp(auth, "localhost") == 0)
        return true;
    unsigned a, b, c, d;
    char tail;
    return sscanf(auth, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 &&
           c < 256 && d < 256;
}

int lp_check_base_url(const char *url, char *msg, size_t msglen)
{
    if (strncmp(url, "https://", 8) == 0)
        return 0;
    if (strncmp(url, "http://", 7) == 0) {
        if (lp_loopback_url(url))
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
