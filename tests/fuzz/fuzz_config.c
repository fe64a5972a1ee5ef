/* fuzz_config.c - libFuzzer target for config.json writes. Properties:
 * OK text pretty-prints and checks back to the same canonical text (what cat
 * shows can be written back unchanged); no prefix of an accepted text is
 * called broken (the write path waits for more bytes instead).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum lp_config_result check(const char *buf, size_t len, char **compact)
{
    char reason[256];
    enum lp_config_result r = lp_config_check(buf, len, compact, reason, sizeof(reason));

    if (r != LP_CONFIG_OK && (!reason[0] || (compact && *compact)))
        abort(); /* a refusal always says why and returns nothing */
    return r;
}

static void check_round_trip(const char *compact)
{
    char *pretty = lp_config_pretty(compact), *again = NULL;
    size_t len;

    if (!pretty)
        abort();
    len = strlen(pretty);
    if (len == 0 || pretty[len - 1] != '\n')
        abort();
    if (check(pretty, len, &again) != LP_CONFIG_OK || strcmp(again, compact) != 0)
        abort();
    free(again);
    again = NULL;
    /* The canonical text is a fixed point: it checks back to itself. */
    if (check(compact, strlen(compact), &again) != LP_CONFIG_OK || strcmp(again, compact) != 0)
        abort();
    free(again);
    free(pretty);
}

/* Every prefix of an accepted text is INCOMPLETE (or already OK once the
 * closing brace is in); long inputs are sampled to keep runs fast. */
static void check_prefixes(const char *buf, size_t len)
{
    size_t step = len <= 512 ? 1 : len / 256;

    for (size_t cut = 0; cut < len; cut += step) {
        char *compact = NULL;
        enum lp_config_result r = check(buf, cut, &compact);

        free(compact);
        if (r != LP_CONFIG_INCOMPLETE && r != LP_CONFIG_OK)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data; /* not NUL-terminated, on purpose */
    char *compact = NULL;

    if (check(buf, size, &compact) != LP_CONFIG_OK)
        return 0;
    check_round_trip(compact);
    check_prefixes(buf, size);
    free(compact);
    return 0;
}
