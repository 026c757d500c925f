/* libFuzzer target for the `klined serve` config parser (kl_config_load_text, and
 * kl_config_parse on argv split from the input). Beyond "no crash, no leak", it checks the
 * contract main.c relies on: a rejected input returns KL_ECONFIG or KL_ENOMEM with one
 * "config: ..." line and leaves the struct exactly at its defaults with nothing allocated; an
 * accepted one satisfies every documented range; and kl_config_describe prints a config that
 * reads back to the same description (the admin-token line aside, which is never printed in
 * full). Any violation is a trap. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Compiled into this target, not only linked from libkl: the fuzz build instruments the target
 * alone, and libFuzzer needs coverage (and ASan needs checks) inside the parser itself. */
#include "core/config.c"
#include "core/interval.c"

#include "core/alloc.h"
#include "core/config.h"
#include "core/interval.h"
#include "kl/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (!(cond))                                                                             \
            __builtin_trap();                                                                    \
    } while (0)

static char *
fz_describe(const kl_config_t *c)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    CHECK(f != NULL);
    kl_config_describe(c, f);
    CHECK(fclose(f) == 0);
    CHECK(strlen(buf) == n);
    return buf;
}

/* Blanks the "# admin-token = ..." line in place: it carries only the token's length. The line,
 * not the text: a value (a store path, say) may contain "# admin-token = " too. */
static void
fz_drop_token_line(char *d)
{
    char *p = strstr(d, "\n# admin-token = ");
    CHECK(p != NULL);
    p++;
    char *nl = strchr(p, '\n');
    CHECK(nl != NULL);
    memmove(p, nl + 1, strlen(nl + 1) + 1);
}

static void
fz_check_error(int rc, const char *err, const kl_config_t *c)
{
    CHECK(rc == KL_ECONFIG || rc == KL_ENOMEM);
    CHECK(strncmp(err, "config: ", 8) == 0);
    CHECK(strchr(err, '\n') == NULL);
    kl_config_t d;
    kl_config_defaults(&d);
    CHECK(memcmp(c, &d, sizeof d) == 0);
}

static void
fz_check_ok(const kl_config_t *c)
{
    CHECK(c->workers >= 1 && c->workers <= KL_CFG_WORKERS_MAX);
    CHECK(c->shard_index < c->shard_count && c->shard_count <= KL_CFG_SHARDS_MAX);
    CHECK(c->queue_capacity >= 1024 && c->queue_capacity <= 1048576);
    CHECK((c->queue_capacity & (c->queue_capacity - 1)) == 0);
    CHECK(c->intervals != 0 && (c->intervals & ~(uint32_t)KL_IV_ALL) == 0);
    CHECK(c->tz_minutes >= KL_TZ_MIN_MINUTES && c->tz_minutes <= KL_TZ_MAX_MINUTES);
    CHECK(c->lateness_ms >= 0 && c->lateness_ms <= 1000);
    CHECK(c->persist_ms >= 50 && c->persist_ms <= 60000);
    CHECK(c->stats_s >= 0 && c->stats_s <= 3600);
    CHECK(c->push_ms >= 0 && c->push_ms <= 60000);
    CHECK(c->max_connections >= 1 && c->max_streams >= 1 && c->max_streams <= 1024 &&
          c->ws_queue >= 16 && c->ws_queue <= 65536 && c->web_root[0] != '\0');
    CHECK(c->pace >= 0 && c->pace <= 1e6);
    CHECK(c->pace == 0 || c->source == KL_CFG_SRC_REPLAY);
    CHECK(c->clock_effective == KL_CFG_CLOCK_WALL || c->clock_effective == KL_CFG_CLOCK_EVENT);
    CHECK(c->clock == KL_CFG_CLOCK_AUTO || c->clock_effective == c->clock);
    CHECK(c->listen_host[0] != '\0'); /* port 0: any free port */
    CHECK((c->source == KL_CFG_SRC_REPLAY) == (c->n_replay_files > 0));
    for (size_t i = 0; i < c->n_replay_files; i++)
        CHECK(c->replay_files[i][0] != '\0' && strchr(c->replay_files[i], ',') == NULL);
    if (c->source == KL_CFG_SRC_LINES_TCP)
        CHECK(c->lines_port >= 1 && (strcmp(c->lines_host, "127.0.0.1") == 0 ||
                                     strcmp(c->lines_host, "localhost") == 0));
    if (c->source == KL_CFG_SRC_KAFKA)
        CHECK(c->kafka_brokers[0] != '\0' && c->kafka_topic[0] != '\0');
    CHECK((c->store == KL_CFG_STORE_SQLITE) == (c->store_path != NULL));
    for (size_t i = 0; i < c->n_symbols; i++) {
        const char *s = c->symbols[i].name;
        size_t n = strlen(s);
        CHECK(n >= 1 && n <= KL_CFG_SYMBOL_MAX && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == n);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(c->symbols[j].name, s) != 0);
        if (c->symbols[i].base[0] != '\0') {
            CHECK(strncmp(s, c->symbols[i].base, strlen(c->symbols[i].base)) == 0);
            CHECK(strcmp(s + strlen(c->symbols[i].base), c->symbols[i].quote) == 0);
        }
    }
    for (size_t i = 0; i < c->n_cpus; i++) {
        CHECK(c->cpus[i] >= 0 && c->cpus[i] <= KL_CFG_CPU_MAX);
        for (size_t j = 0; j < i; j++)
            CHECK(c->cpus[j] != c->cpus[i]);
    }
    if (c->admin_token != NULL) {
        size_t n = strlen(c->admin_token);
        CHECK(n >= KL_CFG_TOKEN_MIN && n <= KL_CFG_TOKEN_MAX);
        CHECK(c->admin_token_from != KL_CFG_TOKEN_NONE);
    }
}

/* describe -> load_text -> describe is a fixed point for a config read from text. Flags can
 * carry values an INI line cannot hold (leading blanks, " ;"), so for them (exact = 0) the
 * description is only printed and read back, with no check on the outcome. */
static void
fz_round_trip(const kl_config_t *c, int exact)
{
    char *d1 = fz_describe(c);
    if (c->admin_token != NULL) {
        /* The token itself never appears on its line. */
        char *p = strstr(d1, "\n# admin-token = ");
        CHECK(p != NULL);
        p++;
        char *nl = strchr(p, '\n');
        CHECK(nl != NULL);
        *nl = '\0';
        CHECK(strstr(p, c->admin_token) == NULL);
        *nl = '\n';
    }
    kl_config_t b;
    kl_config_defaults(&b);
    char err[512];
    int rc = kl_config_load_text(&b, d1, "describe", err, sizeof err);
    if (!exact) {
        free(d1);
        kl_config_free(&b);
        return;
    }
    CHECK(rc == 0);
    fz_check_ok(&b);
    char *d2 = fz_describe(&b);
    fz_drop_token_line(d1);
    fz_drop_token_line(d2);
    CHECK(strcmp(d1, d2) == 0);
    free(d1);
    free(d2);
    kl_config_free(&b);
}

/* Inputs starting with "--" are also tried as argv, one argument per line; --config is skipped
 * so the fuzzer never reads (or blocks on) files of the machine. */
static void
fz_argv(const char *text)
{
    char *copy = strdup(text);
    CHECK(copy != NULL);
    char *argv[65];
    int argc = 0;
    argv[argc++] = (char *)"serve";
    for (char *line = strtok(copy, "\n"); line != NULL && argc < 65; line = strtok(NULL, "\n")) {
        if (strstr(line, "--config") != NULL) {
            free(copy);
            return;
        }
        argv[argc++] = line;
    }
    kl_config_t c;
    kl_config_defaults(&c);
    char err[512] = "";
    int rc = kl_config_parse(&c, argc, argv, err, sizeof err);
    if (rc != 0) {
        fz_check_error(rc, err, &c);
    } else if (!c.help) {
        fz_check_ok(&c);
        fz_round_trip(&c, 0);
    } else {
        CHECK(c.mem_ == NULL);
    }
    kl_config_free(&c);
    free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int once;
    if (!once) {
        unsetenv("KLINED_ADMIN_TOKEN"); /* results must depend on the input alone */
        once = 1;
    }
    char *text = malloc(size + 1);
    CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    int64_t live = kl_alloc_live_bytes();

    kl_config_t c;
    kl_config_defaults(&c);
    char err[512] = "";
    int rc = kl_config_load_text(&c, text, "fuzz.ini", err, sizeof err);
    if (rc != 0) {
        fz_check_error(rc, err, &c);
    } else {
        fz_check_ok(&c);
        fz_round_trip(&c, 1);
    }
    kl_config_free(&c);
    CHECK(kl_alloc_live_bytes() == live);

    if (size >= 2 && text[0] == '-' && text[1] == '-') {
        fz_argv(text);
        CHECK(kl_alloc_live_bytes() == live);
    }
    free(text);
    return 0;
}
