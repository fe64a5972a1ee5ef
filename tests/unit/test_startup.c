/* test_startup.c - the checks before the first request: which base URLs may
 * carry the key, and the rules for the key file and the environment. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "startup.h"
#include "testutil.h"

static char dir[] = "/tmp/test_startup.XXXXXX";

static void check_accepted(const char *url)
{
    char msg[LP_STARTUP_MSG_MAX] = "";
    int rc = lp_check_base_url(url, msg, sizeof msg);
    if (rc != 0)
        fprintf(stderr, "refused: %s (%s)\n", url, msg);
    CHECK_INT(rc, 0);
}

/* Refused as plain http to a host that is not this machine, with main's message. */
static void check_refused(const char *url)
{
    char msg[LP_STARTUP_MSG_MAX] = "", want[LP_STARTUP_MSG_MAX];
    int rc = lp_check_base_url(url, msg, sizeof msg);
    if (rc != -1)
        fprintf(stderr, "accepted: %s\n", url);
    CHECK_INT(rc, -1);
    snprintf(want, sizeof want,
             "refusing plain http to %s: the key would cross the network in clear text "
             "(use https://)",
             url);
    CHECK_STR(msg, want);
}

static void test_accepted(void)
{
    check_accepted("http://127.0.0.1:8080");
    check_accepted("http://127.0.0.1");
    check_accepted("http://127.1.2.3/");
    check_accepted("http://127.255.255.255/v1?x=1");
    check_accepted("http://localhost:1/x");
    check_accepted("http://LocalHost/");
    check_accepted("http://[::1]:80/");
    check_accepted("http://[::1]");
    check_accepted("http://[0:0:0:0:0:0:0:1]:8080/"); /* ::1 written out */
    check_accepted("http://[::ffff:127.0.0.1]:80/");  /* 127.0.0.1, IPv4-mapped */
    check_accepted("https://anything");
    check_accepted("https://10.0.0.1:8443/v1");
}

static void test_refused(void)
{
    /* What sscanf("%u.%u.%u.%u") let through: each is no IPv4 address at all. */
    check_refused("http://127.0.0.4294967297");
    check_refused("http://127.+0.0.1");
    check_refused("http://127.0.0.-4294967295");
    check_refused("http://127.0.0.1.example.com");
    check_refused("http://localhost@example.com");
    check_refused("http://user@127.0.0.1/");
    check_refused("http://10.0.0.1");
    check_refused("http://128.0.0.1/");
    check_refused("http://[::2]/");
    check_refused("http://[fe80::1]/");
    check_refused("http://[::ffff:10.0.0.1]/");
    check_refused("http://[::1%25lo]/");
    check_refused("http://[::1/");
    check_refused("http://::1/");
    check_refused("http://0x7f.0.0.1/");
    check_refused("http://0177.0.0.1/");
    check_refused("http://2130706433/");
    check_refused("http://127.1/");
    check_refused("http://");
    check_refused("http:///v1");
    check_refused("http://:8080/");
    check_refused("http://127.0.0.1:80a/");
    check_refused("http://127.0.0.1:/");
    check_refused("http://localhost:http/");
    check_refused("http://[::1]x/");
    check_refused("http://[::1]:8o/");
    check_refused("http://localhost.example.com/");

    char msg[LP_STARTUP_MSG_MAX];
    CHECK_INT(lp_check_base_url("ftp://example.com", msg, sizeof msg), -1);
    CHECK_STR(msg, "base_url must start with https:// (got ftp://example.com)");
    CHECK_INT(lp_check_base_url("HTTP://127.0.0.1", msg, sizeof msg), -1);
    CHECK_STR(msg, "base_url must start with https:// (got HTTP://127.0.0.1)");
}

/* Writes a key file with that content and mode; returns its path (static buffer). */
static const char *key_file(const char *name, const char *content, mode_t mode)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    CHECK_INT(write(fd, content, strlen(content)), (long long)strlen(content));
    close(fd);
    CHECK_INT(chmod(path, mode), 0);
    return path;
}

/* Reads path expecting a refusal; returns the message (static buffer). */
static const char *refused_key(const char *path)
{
    static char msg[LP_STARTUP_MSG_MAX];
    char *key = (char *)"untouched";
    msg[0] = '\0';
    CHECK_INT(lp_read_key_file(path, &key, msg, sizeof msg), -1);
    CHECK(key == NULL);
    return msg;
}

/* Reads path expecting a key; checks it. */
static void accepted_key(const char *path, const char *want)
{
    char msg[LP_STARTUP_MSG_MAX] = "", *key = NULL;
    CHECK_INT(lp_read_key_file(path, &key, msg, sizeof msg), 0);
    CHECK_STR(key, want);
    free(key);
}

static void test_key_file(void)
{
    char want[LP_STARTUP_MSG_MAX], path[256];

    snprintf(path, sizeof path, "%s/missing", dir);
    snprintf(want, sizeof want, "cannot open api key file %s: %s", path, strerror(ENOENT));
    CHECK_STR(refused_key(path), want);

    snprintf(want, sizeof want, "api key file %s is not a regular file", dir);
    CHECK_STR(refused_key(dir), want);

    const char *p = key_file("open", "sk_open\n", 0644);
    snprintf(want, sizeof want, "api key file %s is readable by others; chmod 600 %s", p, p);
    CHECK_STR(refused_key(p), want);
    p = key_file("group", "sk_group\n", 0660);
    snprintf(want, sizeof want, "api key file %s is readable by others; chmod 600 %s", p, p);
    CHECK_STR(refused_key(p), want);

    p = key_file("empty", "", 0600);
    snprintf(want, sizeof want, "api key file %s is empty", p);
    CHECK_STR(refused_key(p), want);
    p = key_file("blank", "\nsk_second_line\n", 0600);
    snprintf(want, sizeof want, "api key file %s is empty", p);
    CHECK_STR(refused_key(p), want);

    /* A link is not followed, even to a good file. */
    p = key_file("good", "sk_good\n", 0600);
    char link[256];
    snprintf(link, sizeof link, "%s/link", dir);
    CHECK_INT(symlink(p, link), 0);
    CHECK(strncmp(refused_key(link), "cannot open api key file ", 25) == 0);
    unlink(link);

    accepted_key(key_file("first", "sk_first\n# a comment\nsk_other\n", 0600), "sk_first");
    accepted_key(key_file("crlf", "sk_crlf\r\nsecond\r\n", 0600), "sk_crlf");
    accepted_key(key_file("cr", "sk_cr\r", 0400), "sk_cr");
    accepted_key(key_file("nonl", "sk_no_newline", 0600), "sk_no_newline");
}

static void test_env_key(void)
{
    static char entry[] = LP_KEY_ENV "=sk_from_the_environment";
    char *value = entry + strlen(LP_KEY_ENV "=");
    size_t vlen = strlen(value);
    char msg[LP_STARTUP_MSG_MAX] = "", *key = NULL;

    CHECK_INT(putenv(entry), 0);
    CHECK_INT(lp_take_env_key(&key, msg, sizeof msg), 0);
    CHECK_STR(key, "sk_from_the_environment");
    free(key);
    CHECK(getenv(LP_KEY_ENV) == NULL);
    /* The environment's own bytes are wiped, not only unlinked. */
    size_t zeros = 0;
    for (size_t i = 0; i < vlen; i++)
        zeros += value[i] == '\0';
    CHECK_INT(zeros, vlen);

    const char *none = "no API key: set LEADPIPE_API_KEY or use -o api_key_file=PATH";
    key = (char *)"untouched";
    CHECK_INT(lp_take_env_key(&key, msg, sizeof msg), -1);
    CHECK(key == NULL);
    CHECK_STR(msg, none);
    setenv(LP_KEY_ENV, "", 1);
    CHECK_INT(lp_take_env_key(&key, msg, sizeof msg), -1);
    CHECK_STR(msg, none);
    unsetenv(LP_KEY_ENV);
}

/* A certificate's first line past the first 64 KiB block, cut by its end:
 * the search joins blocks. Anything not PEM, or no file at all, is named. */
static void test_ca_file(void)
{
    char msg[LP_STARTUP_MSG_MAX], want[LP_STARTUP_MSG_MAX], path[256];
    static char big[70000];
    const char *mark = "-----BEGIN CERTIFICATE-----\nMIIB\n";

    memset(big, '#', sizeof big - 1);
    memcpy(big + 65536 - 10, mark, strlen(mark));
    CHECK_INT(lp_check_ca_file(key_file("ca-big", big, 0644), "-o cafile", msg, sizeof msg), 0);
    CHECK_INT(lp_check_ca_file(key_file("ca-small", mark, 0644), "-o cafile", msg, sizeof msg), 0);

    const char *text = key_file("ca-text", "just text\n", 0644);
    CHECK_INT(lp_check_ca_file(text, "$CURL_CA_BUNDLE", msg, sizeof msg), -1);
    snprintf(want, sizeof want,
             "the CA file %s ($CURL_CA_BUNDLE) holds no PEM certificate "
             "(-----BEGIN CERTIFICATE-----)",
             text);
    CHECK_STR(msg, want);

    CHECK_INT(lp_check_ca_file(dir, "-o cafile", msg, sizeof msg), -1);
    snprintf(want, sizeof want, "the CA file %s (-o cafile) is not a regular file", dir);
    CHECK_STR(msg, want);

    snprintf(path, sizeof path, "%s/missing", dir);
    CHECK_INT(lp_check_ca_file(path, "-o cafile", msg, sizeof msg), -1);
    snprintf(want, sizeof want, "cannot read the CA file %s (-o cafile): No such file or directory",
             path);
    CHECK_STR(msg, want);
}

static void remove_dir(void)
{
    static const char *names[] = {"open", "group", "empty", "blank",  "good",     "first",
                                  "crlf", "cr",    "nonl",  "ca-big", "ca-small", "ca-text"};
    char path[256];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_accepted();
    test_refused();
    test_key_file();
    test_env_key();
    test_ca_file();
    remove_dir();
    return lp_test_summary();
}
