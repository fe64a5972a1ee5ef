/* test_sync.c - the records and sync layers against the emulator, no mount.
 *
 * A recording listener stands where the inode view would be, so each case
 * checks three things: what went over the wire (the emulator's log), what the
 * records hold afterwards, and what the layer above was told.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "log.h"
#include "records.h"
#include "sync.h"
#include "testutil.h"

#define KEY "sk_test_emulator"
#define AUD_PATH "/v1/intent/audiences"
#define CONFIG_B                                                                                   \
    "{\"topicIds\":[117805],\"minScore\":60,\"maxScore\":99,\"minTopicOverlap\":1,"                \
    "\"filters\":{}}"

static struct lp_emu emu;

/* ---- the fixture: emulator, client, records, sync, a recording listener ---- */

struct heard {
    int added, changed, removed, names, freed;
};

struct fixture {
    lp_api *api;
    struct lp_records r;
    struct lp_sync s;
    struct heard h;
};

static void on_event(void *ctx, struct lp_aud *a, enum lp_rec_event ev)
{
    struct fixture *f = ctx;
    (void)a;
    switch (ev) {
    case LP_REC_ADDED:
        f->h.added++;
        break;
    case LP_REC_CHANGED:
        f->h.changed++;
        break;
    case LP_REC_REMOVED:
        f->h.removed++;
        break;
    case LP_REC_NAMES:
        f->h.names++;
        break;
    case LP_REC_FREED:
        f->h.freed++;
        break;
    case LP_REC_RUNS:
        break;
    }
}

static void control_ok(const char *method, const char *path, const char *json)
{
    long st = lp_emu_control(&emu, method, path, json, NULL);
    if (st < 200 || st > 299)
        fprintf(stderr, "control %s %s %s -> %ld\n", method, path, json ? json : "", st);
    CHECK(st >= 200 && st <= 299);
}

/* Fresh emulator data, and a fresh client and store over it. */
static void setup(struct fixture *f, const char *reset_json, double cache_timeout)
{
    control_ok("POST", "/_emu/reset", reset_json);
    control_ok("POST", "/_emu/faults/clear", "{}");
    memset(f, 0, sizeof(*f));
    struct lp_api_options o = {
        .base_url = emu.base_url, .api_key = KEY, .max_tries = 2, .backoff_ms = 10};
    f->api = lp_api_new(&o);
    CHECK(f->api != NULL);
    lp_records_init(&f->r, cache_timeout, 1.0);
    lp_sync_init(&f->s, &f->r, f->api);
    struct lp_records_listener l = {.event = on_event, .ctx = f};
    lp_records_set_listener(&f->r, &l);
}

static void teardown(struct fixture *f)
{
    lp_sync_stop(&f->s);
    lp_records_destroy(&f->r);
    lp_api_free(f->api);
}

/* What mkdir makes: a record with a name and a status, nothing else known. */
static struct lp_audience pending_rec(const char *name, const char *status)
{
    struct lp_audience rec;
    memset(&rec, 0, sizeof(rec));
    rec.name = strdup(name);
    rec.status = strdup(status);
    rec.daily_refresh = -1;
    return rec;
}

static int requests(const char *method, const char *path)
{
    return lp_emu_count_requests(&emu, method, path);
}

/* Loads the listing; returns the number of live records. */
static size_t load(struct fixture *f)
{
    lp_records_lock(&f->r);
    CHECK_INT(lp_sync_listing(&f->s, true, NULL), 0);
    size_t n = f->r.nlive;
    lp_records_unlock(&f->r);
    return n;
}

/* Creates an audience elsewhere; returns its id (malloc'd). */
static char *emu_create(const char *json)
{
    char *body = NULL;
    char *id = NULL;
    if (lp_emu_control(&emu, "POST", "/_emu/audiences", json, &body) == 201) {
        cJSON *root = cJSON_Parse(body);
        const cJSON *v =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "data"), "id");
        if (cJSON_IsString(v))
            id = strdup(v->valuestring);
        cJSON_Delete(root);
    }
    free(body);
    CHECK(id != NULL);
    return id;
}

static struct lp_aud *by_name(struct fixture *f, const char *name)
{
    for (struct lp_aud *a = f->r.live; a; a = a->next)
        if (a->rec.name && strcmp(a->rec.name, name) == 0)
            return a;
    return NULL;
}

/* ---- cases ---- */

/* One request per listing however often it is asked for within cache_timeout;
 * changes made elsewhere reach the records, and the listener hears each. */
static void test_listing(void)
{
    struct fixture f;
    setup(&f, "{\"seed\":5}", 3600);
    CHECK_INT(load(&f), 5);
    CHECK_INT(f.h.added, 5);
    CHECK_INT(f.h.names, 1);
    CHECK_INT(requests("GET", AUD_PATH), 1);

    lp_records_lock(&f.r);
    for (int i = 0; i < 5; i++)
        CHECK_INT(lp_sync_listing(&f.s, false, NULL), 0);
    lp_records_unlock(&f.r);
    CHECK_INT(requests("GET", AUD_PATH), 1); /* still fresh: nothing sent */

    free(emu_create("{\"name\":\"Made elsewhere\"}"));
    lp_records_lock(&f.r);
    struct lp_aud *first = by_name(&f, "Audience 00001");
    char path[160];
    snprintf(path, sizeof(path), "/_emu/audiences/%s", first->rec.id);
    lp_records_unlock(&f.r);
    control_ok("PATCH", path, "{\"audienceSize\":4242}");
    struct lp_aud *second = NULL;
    lp_records_lock(&f.r);
    second = by_name(&f, "Audience 00002");
    snprintf(path, sizeof(path), "/_emu/audiences/%s", second->rec.id);
    lp_records_unlock(&f.r);
    control_ok("DELETE", path, NULL);

    memset(&f.h, 0, sizeof(f.h));
    CHECK_INT(load(&f), 5);
    CHECK_INT(f.h.added, 1);
    CHECK_INT(f.h.removed, 1);
    CHECK_INT(f.h.freed, 1); /* nothing held the deleted one */
    CHECK(f.h.changed >= 1);
    CHECK_INT(f.h.names, 1);
    lp_records_lock(&f.r);
    CHECK(by_name(&f, "Made elsewhere") != NULL);
    CHECK(by_name(&f, "Audience 00002") == NULL);
    CHECK_INT(by_name(&f, "Audience 00001")->rec.audience_size, 4242);
    lp_records_unlock(&f.r);
    teardown(&f);
}

/* A config is fetched once per cache_timeout; a fresh one costs nothing. */
static void test_config_fetch(void)
{
    struct fixture f;
    setup(&f, "{\"seed\":3}", 3600);
    load(&f);
    lp_records_lock(&f.r);
    struct lp_aud *a = by_name(&f, "Audience 00001");
    CHECK(!lp_aud_config_fresh(&f.r, a)); /* the listing carries no config */
    CHECK_INT(lp_sync_config(&f.s, a), 0);
    CHECK(a->rec.config != NULL);
    CHECK(lp_aud_config_fresh(&f.r, a));
    CHECK(strstr(lp_aud_config_text(a), "\"topicIds\"") != NULL);
    CHECK_INT(lp_sync_config(&f.s, a), 0);
    char path[160];
    snprintf(path, sizeof(path), "%s/%s", AUD_PATH, a->rec.id);
    lp_records_unlock(&f.r);
    CHECK_INT(requests("GET", path), 1);
    teardown(&f);

    setup(&f, "{\"seed\":3}", 0); /* cache_timeout 0: every read asks */
    load(&f);
    lp_records_lock(&f.r);
    a = by_name(&f, "Audience 00001");
    CHECK_INT(lp_sync_config(&f.s, a), 0);
    CHECK_INT(lp_sync_config(&f.s, a), 0);
    snprintf(path, sizeof(path), "%s/%s", AUD_PATH, a->rec.id);
    lp_records_unlock(&f.r);
    CHECK_INT(requests("GET", path), 2);
    teardown(&f);
}

/* Writes reach the API once and the record holds the answer at once. */
static void test_write_through(void)
{
    struct fixture f;
    setup(&f, "{\"seed\":2}", 3600);
    load(&f);
    lp_records_lock(&f.r);
    struct lp_aud *a = by_name(&f, "Audience 00001");
    memset(&f.h, 0, sizeof(f.h));
    CHECK_INT(lp_sync_status(&f.s, a, "paused"), 0);
    CHECK_STR(a->rec.status, "paused");
    CHECK(f.h.changed >= 1);
    CHECK_INT(lp_sync_config_write(&f.s, a, CONFIG_B), 0);
    CHECK(strstr(a->rec.config, "\"minScore\":60") != NULL);
    CHECK(lp_aud_config_fresh(&f.r, a)); /* reading it back sends nothing */
    CHECK_INT(lp_sync_rename(&f.s, a, "Renamed"), 0);
    CHECK_STR(a->rec.name, "Renamed");
    CHECK(f.h.names >= 1);
    CHECK_INT(lp_sync_status(&f.s, a, "bogus"), -EINVAL); /* the API refuses */
    CHECK_STR(a->rec.status, "paused");                   /* unchanged */
    CHECK(a->last_error != NULL);
    char path[160];
    snprintf(path, sizeof(path), "%s/%s", AUD_PATH, a->rec.id);
    lp_records_unlock(&f.r);
    CHECK_INT(requests("PATCH", path), 4);
    CHECK_INT(requests("GET", path), 0);
    teardown(&f);
}

/* mkdir's pending record: status stays local, the first config POSTs it
 * (with that status), and the record gets its id. */
static void test_pending_create(void)
{
    struct fixture f;
    setup(&f, "{}", 3600);
    load(&f);
    struct lp_audience rec = pending_rec("Brand new", "draft");
    lp_records_lock(&f.r);
    struct lp_aud *a = lp_records_add(&f.r, &rec, true);
    CHECK(a != NULL && a->pending);
    CHECK(lp_aud_config_fresh(&f.r, a));
    CHECK_INT(lp_sync_status(&f.s, a, "paused"), 0);
    CHECK_INT(requests(NULL, NULL), 1); /* the listing only */
    CHECK_INT(lp_sync_config_write(&f.s, a, CONFIG_B), 0);
    CHECK(!a->pending);
    CHECK(a->rec.id != NULL);
    CHECK(a->rec.id && lp_records_by_id(&f.r, a->rec.id) == a);
    CHECK_STR(a->rec.status, "paused");
    lp_records_unlock(&f.r);
    CHECK_INT(requests("POST", AUD_PATH), 1);
    /* The next listing knows it: no second record for the same id. */
    CHECK_INT(load(&f), 1);
    teardown(&f);
}

/* rmdir: one DELETE; the record is freed once the last pin is gone. */
static void test_delete_and_lifetime(void)
{
    struct fixture f;
    setup(&f, "{\"seed\":2}", 3600);
    load(&f);
    lp_records_lock(&f.r);
    struct lp_aud *a = by_name(&f, "Audience 00001");
    lp_aud_hold(&f.r, a); /* as a node of the view would */
    memset(&f.h, 0, sizeof(f.h));
    CHECK_INT(lp_sync_delete(&f.s, a), 0);
    CHECK_INT(f.h.removed, 1);
    CHECK_INT(f.h.freed, 0); /* still held */
    CHECK(a->gone);
    CHECK_INT(f.r.nlive, 1);
    lp_aud_drop(&f.r, a);
    CHECK_INT(f.h.freed, 1);
    lp_records_unlock(&f.r);
    CHECK_INT(requests("DELETE", AUD_PATH), 1);
    teardown(&f);
}

/* An unreachable API: a loaded cache is served (and not asked again for a
 * while); a config never fetched fails with EIO (EAGAIN after a 429); a 404
 * drops the record. */
static void test_failures(void)
{
    struct fixture f;
    setup(&f, "{\"seed\":2}", 0);
    load(&f);
    control_ok("POST", "/_emu/faults", "{\"kind\":\"status\",\"status\":503,\"count\":10}");
    lp_records_lock(&f.r);
    /* Even at cache_timeout 0 the listing just loaded is trusted for a moment
     * (one command's burst of requests shares it): ask for a new one. */
    CHECK_INT(lp_sync_listing(&f.s, false, NULL), 0);
    CHECK_INT(requests(NULL, NULL), 1);
    CHECK_INT(lp_sync_listing(&f.s, true, NULL), 0);
    CHECK_INT(f.r.nlive, 2);
    CHECK(lp_records_holding(&f.r));
    struct lp_aud *a = by_name(&f, "Audience 00001");
    int before = requests(NULL, NULL);
    CHECK_INT(lp_sync_config(&f.s, a), -EIO); /* held: no request, no config */
    CHECK_INT(requests(NULL, NULL), before);
    lp_records_unlock(&f.r);
    teardown(&f);

    /* Held after a 429: "try later" (EAGAIN), as the failed request itself was. */
    setup(&f, "{\"seed\":2}", 0);
    load(&f);
    control_ok("POST", "/_emu/faults", "{\"kind\":\"status\",\"status\":429,\"count\":10}");
    lp_records_lock(&f.r);
    CHECK_INT(lp_sync_listing(&f.s, true, NULL), 0);
    CHECK(lp_records_holding(&f.r));
    a = by_name(&f, "Audience 00001");
    before = requests(NULL, NULL);
    CHECK_INT(lp_sync_config(&f.s, a), -EAGAIN);
    CHECK_INT(requests(NULL, NULL), before);
    lp_records_unlock(&f.r);
    teardown(&f);

    setup(&f, "{\"seed\":2}", 3600);
    load(&f);
    lp_records_lock(&f.r);
    a = by_name(&f, "Audience 00002");
    char path[160];
    snprintf(path, sizeof(path), "/_emu/audiences/%s", a->rec.id);
    lp_records_unlock(&f.r);
    control_ok("DELETE", path, NULL);
    lp_records_lock(&f.r);
    memset(&f.h, 0, sizeof(f.h));
    CHECK_INT(lp_sync_config(&f.s, a), -ENOENT);
    CHECK_INT(f.h.removed, 1);
    CHECK_INT(f.r.nlive, 1);
    lp_records_unlock(&f.r);
    teardown(&f);
}

struct lister {
    struct fixture *f;
};

static void *list_in_background(void *arg)
{
    struct fixture *f = arg;
    lp_records_lock(&f->r);
    lp_sync_listing(&f->s, true, NULL);
    lp_records_unlock(&f->r);
    return NULL;
}

/* A listing requested before a local change must not undo it when it lands. */
static void test_listing_never_undoes(void)
{
    struct fixture f;
    setup(&f, "{\"seed\":2}", 3600);
    load(&f);
    control_ok("POST", "/_emu/faults",
               "{\"method\":\"GET\",\"path\":\"" AUD_PATH "\",\"kind\":\"stall\",\"seconds\":1}");
    pthread_t t;
    pthread_create(&t, NULL, list_in_background, &f);
    usleep(300 * 1000); /* the answer, with the old name, is on its way */
    lp_records_lock(&f.r);
    struct lp_aud *a = by_name(&f, "Audience 00001");
    CHECK_INT(lp_sync_rename(&f.s, a, "Renamed meanwhile"), 0);
    lp_records_unlock(&f.r);
    pthread_join(t, NULL);
    lp_records_lock(&f.r);
    CHECK_STR(a->rec.name, "Renamed meanwhile");
    lp_records_unlock(&f.r);
    teardown(&f);
}

/* Nor a deletion: the listing was answered before the DELETE was carried out
 * and lands after it; the deleted audience stays gone, and once that listing
 * has landed nothing more is remembered of it. */
static void test_listing_never_undoes_a_delete(void)
{
    struct fixture f;
    setup(&f, "{\"seed\":2}", 3600);
    load(&f);
    control_ok("POST", "/_emu/faults",
               "{\"method\":\"GET\",\"path\":\"" AUD_PATH "\",\"kind\":\"stall\",\"seconds\":1}");
    pthread_t t;
    pthread_create(&t, NULL, list_in_background, &f);
    usleep(300 * 1000); /* the answer, with the audience in it, is on its way */
    lp_records_lock(&f.r);
    struct lp_aud *a = by_name(&f, "Audience 00001");
    char *id = strdup(a->rec.id);
    CHECK_INT(lp_sync_delete(&f.s, a), 0);
    CHECK(f.r.tombs != NULL);
    lp_records_unlock(&f.r);
    pthread_join(t, NULL);
    lp_records_lock(&f.r);
    CHECK(lp_records_by_id(&f.r, id) == NULL);
    CHECK(by_name(&f, "Audience 00001") == NULL);
    CHECK_INT(f.r.nlive, 1);
    CHECK(f.r.tombs != NULL); /* that listing was asked for before the DELETE */
    lp_records_unlock(&f.r);
    CHECK_INT(load(&f), 1);
    CHECK(f.r.tombs == NULL); /* one asked for after it has landed */
    free(id);
    teardown(&f);
}

static void *create_in_background(void *arg)
{
    struct fixture *f = arg;
    lp_records_lock(&f->r);
    CHECK_INT(lp_sync_config_write(&f->s, by_name(f, "Brand new"), CONFIG_B), 0);
    lp_records_unlock(&f->r);
    return NULL;
}

/* A listing that lands while a POST's answer is on its way, and already
 * carries the audience it made, leaves it to that answer: one record. */
static void test_listing_before_the_posts_answer(void)
{
    struct fixture f;
    setup(&f, "{\"seed\":1}", 3600);
    load(&f);
    struct lp_audience rec = pending_rec("Brand new", "draft");
    lp_records_lock(&f.r);
    struct lp_aud *a = lp_records_add(&f.r, &rec, true);
    lp_records_unlock(&f.r);
    control_ok("POST", "/_emu/faults",
               "{\"method\":\"POST\",\"path\":\"" AUD_PATH "\",\"kind\":\"stall\",\"seconds\":1}");
    pthread_t t;
    pthread_create(&t, NULL, create_in_background, &f);
    usleep(300 * 1000); /* created; the answer is on its way */
    lp_records_lock(&f.r);
    CHECK(a->create == LP_CREATE_SENT);
    CHECK_INT(lp_sync_listing(&f.s, true, NULL), 0);
    CHECK_INT(f.r.nlive, 2);
    CHECK(a->pending);
    lp_records_unlock(&f.r);
    pthread_join(t, NULL);
    lp_records_lock(&f.r);
    CHECK(!a->pending && a->create == LP_CREATE_NONE && f.r.creating == 0);
    CHECK(a->rec.id && lp_records_by_id(&f.r, a->rec.id) == a);
    CHECK_INT(f.r.nlive, 2);
    lp_records_unlock(&f.r);
    CHECK_INT(load(&f), 2);
    CHECK_INT(requests("POST", AUD_PATH), 1);
    teardown(&f);
}

/* A POST whose answer is lost (the connection drops after the API made the
 * audience): a listing asked for at once finds it, and the pending record
 * becomes it; one POST. */
static void test_lost_post_is_adopted(void)
{
    struct fixture f;
    setup(&f, "{\"seed\":1}", 3600);
    load(&f);
    struct lp_audience rec = pending_rec("Lost answer", "active");
    control_ok("POST", "/_emu/faults", "{\"method\":\"POST\",\"kind\":\"drop\",\"process\":true}");
    lp_records_lock(&f.r);
    struct lp_aud *a = lp_records_add(&f.r, &rec, true);
    CHECK_INT(lp_sync_config_write(&f.s, a, CONFIG_B), 0);
    CHECK(!a->pending && a->create == LP_CREATE_NONE && f.r.creating == 0);
    CHECK(a->rec.id && lp_records_by_id(&f.r, a->rec.id) == a);
    CHECK_STR(a->rec.status, "active");
    CHECK_STR(a->rec.config, CONFIG_B);
    CHECK_INT(f.r.nlive, 2);
    lp_records_unlock(&f.r);
    CHECK_INT(requests("POST", AUD_PATH), 1);
    CHECK_INT(requests("GET", AUD_PATH), 2); /* load, then the look for it */
    teardown(&f);
}

/* Two config misses within a second look like a sweep (a glob): the rest are
 * fetched in the background, each exactly once. */
static void test_sweep(void)
{
    struct fixture f;
    setup(&f, "{\"seed\":30}", 3600);
    load(&f);
    lp_records_lock(&f.r);
    CHECK_INT(lp_sync_config(&f.s, by_name(&f, "Audience 00001")), 0);
    CHECK_INT(lp_sync_config(&f.s, by_name(&f, "Audience 00002")), 0);
    lp_records_unlock(&f.r);
    for (int i = 0; i < 200 && lp_sweep_running(&f.s.sweep); i++)
        usleep(20 * 1000);
    CHECK(!lp_sweep_running(&f.s.sweep));
    lp_records_lock(&f.r);
    int fresh = 0;
    for (struct lp_aud *a = f.r.live; a; a = a->next)
        fresh += lp_aud_config_fresh(&f.r, a);
    lp_records_unlock(&f.r);
    CHECK_INT(fresh, 30);
    CHECK_INT(requests("GET", AUD_PATH "/"), 30); /* one GET per audience, none twice */
    teardown(&f);
}

int main(void)
{
    const char *const args[] = {"--empty", NULL};
    lp_log_init("leadpipefs", false, false);
    if (lp_emu_start(&emu, args) != 0) {
        fprintf(stderr, "cannot start the emulator\n");
        return 1;
    }
    test_listing();
    test_config_fetch();
    test_write_through();
    test_pending_create();
    test_delete_and_lifetime();
    test_failures();
    test_listing_never_undoes();
    test_listing_never_undoes_a_delete();
    test_listing_before_the_posts_answer();
    test_lost_post_is_adopted();
    test_sweep();
    lp_emu_stop(&emu);
    return lp_test_summary();
}
