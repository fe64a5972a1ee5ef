/* testutil.c - check counters and the emulator launcher shared by the C unit tests.
 *
 * The emulator runs as a child process on a free port it reports through a port
 * file; control requests go straight through libcurl (not through http.c, which
 * is under test).
 */
#include "testutil.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int lp_test_checks;
int lp_test_failures;

int lp_test_summary(void)
{
    printf("%d passed, %d failed\n", lp_test_checks - lp_test_failures, lp_test_failures);
    fflush(stdout);
    return lp_test_failures ? 1 : 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void port_file_path(const struct lp_emu *emu, char *buf, size_t len)
{
    snprintf(buf, len, "%s/port", emu->dir);
}

/* Reads the port the emulator wrote; 0 while the file is not there yet. */
static int read_port(const struct lp_emu *emu)
{
    char path[96], text[32];
    port_file_path(emu, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return 0;
    text[n] = '\0';
    int port = atoi(text);
    return port > 0 && port < 65536 ? port : 0;
}

/* Child side of the fork: never returns. */
static void exec_emulator(const struct lp_emu *emu, const char *python, const char *script,
                          const char *const extra_args[])
{
    const char *argv[64];
    char port_file[96];
    size_t n = 0;

    /* The emulator must not outlive a test that crashes. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    port_file_path(emu, port_file, sizeof port_file);
    argv[n++] = python;
    argv[n++] = script;
    argv[n++] = "--port-file";
    argv[n++] = port_file;
    if (!getenv("LP_EMU_VERBOSE"))
        argv[n++] = "--quiet";
    for (size_t i = 0; extra_args && extra_args[i] && n < 63; i++)
        argv[n++] = extra_args[i];
    argv[n] = NULL;
    execv(python, (char *const *)argv);
    fprintf(stderr, "testutil: cannot run %s: %s\n", python, strerror(errno));
    _exit(127);
}

int lp_emu_start(struct lp_emu *emu, const char *const extra_args[])
{
    const char *script = getenv("LP_EMULATOR");
    const char *python = getenv("LP_PYTHON");

    memset(emu, 0, sizeof *emu);
    emu->pid = -1;
    if (!python || !*python)
        python = "/usr/bin/python3";
    if (!script || !*script) {
        fprintf(stderr, "testutil: LP_EMULATOR is not set\n");
        return -1;
    }
    snprintf(emu->dir, sizeof emu->dir, "/tmp/lp-emu.XXXXXX");
    if (!mkdtemp(emu->dir)) {
        perror("testutil: mkdtemp");
        return -1;
    }
    fflush(NULL);
    emu->pid = fork();
    if (emu->pid < 0) {
        perror("testutil: fork");
        rmdir(emu->dir);
        return -1;
    }
    if (emu->pid == 0)
        exec_emulator(emu, python, script, extra_args);

    for (int waited = 0; waited < 20000; waited += 20) {
        int status;
        emu->port = read_port(emu);
        if (emu->port) {
            char path[96];
            snprintf(emu->base_url, sizeof emu->base_url, "http://127.0.0.1:%d", emu->port);
            /* Read once, not needed again: a test killed later leaves no litter. */
            port_file_path(emu, path, sizeof path);
            unlink(path);
            rmdir(emu->dir);
            return 0;
        }
        if (waitpid(emu->pid, &status, WNOHANG) == emu->pid) {
            fprintf(stderr, "testutil: the emulator exited before listening\n");
            emu->pid = -1;
            lp_emu_stop(emu);
            return -1;
        }
        sleep_ms(20);
    }
    fprintf(stderr, "testutil: the emulator did not write its port file within 20 s\n");
    lp_emu_stop(emu);
    return -1;
}

/* Waits up to ms for the child; returns 1 when it is gone. */
static int wait_child(pid_t pid, long ms)
{
    for (long waited = 0; waited <= ms; waited += 20) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD))
            return 1;
        sleep_ms(20);
    }
    return 0;
}

void lp_emu_stop(struct lp_emu *emu)
{
    char path[96];

    if (emu->pid > 0) {
        kill(emu->pid, SIGTERM);
        if (!wait_child(emu->pid, 5000)) {
            kill(emu->pid, SIGKILL);
            wait_child(emu->pid, 5000);
        }
        emu->pid = -1;
    }
    if (emu->dir[0]) {
        port_file_path(emu, path, sizeof path);
        unlink(path);
        rmdir(emu->dir);
        emu->dir[0] = '\0';
    }
}

struct grow_buf {
    char *data;
    size_t len;
};

static size_t grow_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct grow_buf *b = userdata;
    size_t n = size * nmemb;
    char *p = realloc(b->data, b->len + n + 1);
    if (!p)
        return 0;
    memcpy(p + b->len, ptr, n);
    b->data = p;
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* *body receives malloc'd text the caller frees (when body is not NULL). */
long lp_emu_control(const struct lp_emu *emu, const char *method, const char *path,
                    const char *json, char **body)
{
    char url[512];
    struct grow_buf buf = {NULL, 0};
    struct curl_slist *headers = NULL;
    long status = -1;

    if (body)
        *body = NULL;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *c = curl_easy_init();
    if (!c) {
        curl_global_cleanup();
        return -1;
    }
    snprintf(url, sizeof url, "%s%s", emu->base_url, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, grow_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &buf);
    if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (json || strcmp(method, "POST") == 0) {
        headers = curl_slist_append(headers, "content-type: application/json");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, json ? json : "{}");
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else
        fprintf(stderr, "testutil: %s %s: %s\n", method, path, curl_easy_strerror(rc));
    curl_easy_cleanup(c);
    curl_slist_free_all(headers);
    curl_global_cleanup();
    if (body && rc == CURLE_OK) {
        *body = buf.data ? buf.data : strdup("");
        buf.data = NULL;
    }
    free(buf.data);
    return status;
}

static int request_matches(const cJSON *req, const char *method, const char *path_prefix)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(req, "method");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(req, "path");
    if (method && (!cJSON_IsString(m) || strcmp(m->valuestring, method) != 0))
        return 0;
    if (path_prefix &&
        (!cJSON_IsString(p) || strncmp(p->valuestring, path_prefix, strlen(path_prefix)) != 0))
        return 0;
    return 1;
}

int lp_emu_count_requests(const struct lp_emu *emu, const char *method, const char *path_prefix)
{
    char *body = NULL;
    int count = -1;

    if (lp_emu_control(emu, "GET", "/_emu/log", NULL, &body) != 200) {
        free(body);
        return -1;
    }
    cJSON *root = cJSON_Parse(body);
    const cJSON *reqs = cJSON_GetObjectItemCaseSensitive(root, "requests");
    if (cJSON_IsArray(reqs)) {
        const cJSON *req;
        count = 0;
        cJSON_ArrayForEach(req, reqs)
        {
            count += request_matches(req, method, path_prefix);
        }
    }
    cJSON_Delete(root);
    free(body);
    return count;
}
