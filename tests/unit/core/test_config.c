/* Unit tests for src/core/config.c: the `klined serve` flags and config keys are a contract
 * (SPEC §3), so every key is checked with good and bad values, several error messages are
 * pinned to the byte, and the layering (defaults < file < flags, env token only when no key) is
 * checked on real files. Failure paths must leave the caller's struct untouched and free
 * everything they allocated, including under injected allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/interval.h"
#include "kl/err.h"

#define MAXARGS 32

/* Runs kl_config_parse on "serve" followed by the NULL-terminated arguments. */
static int
parse_v(kl_config_t *c, char *err, size_t cap, va_list ap)
{
    char *argv[MAXARGS];
    int argc = 0;
    argv[argc++] = (char *)"serve";
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < MAXARGS)
        argv[argc++] = (char *)a;
    return kl_config_parse(c, argc, argv, err, cap);
}

static int
parse(kl_config_t *c, char *err, ...)
{
    va_list ap;
    va_start(ap, err);
    int rc = parse_v(c, err, 512, ap);
    va_end(ap);
    return rc;
}

/* Parses from defaults and expects success; the caller frees. */
static void
parse_ok(kl_config_t *c, ...)
{
    char err[512] = "";
    kl_config_defaults(c);
    va_list ap;
    va_start(ap, c);
    int rc = parse_v(c, err, sizeof err, ap);
    va_end(ap);
    if (rc != 0)
        fail_msg("parse failed: %d %s", rc, err);
}

/* Parses from defaults, expects KL_ECONFIG with exactly the message want (NULL: any). */
static void
parse_bad(const char *want, ...)
{
    char err[512] = "";
    kl_config_t c;
    kl_config_defaults(&c);
    int64_t live = kl_alloc_live_bytes();
    va_list ap;
    va_start(ap, want);
    int rc = parse_v(&c, err, sizeof err, ap);
    va_end(ap);
    if (rc != KL_ECONFIG)
        fail_msg("expected KL_ECONFIG, got %d (err \"%s\")", rc, err);
    if (want != NULL)
        assert_string_equal(err, want);
    assert_non_null(strstr(err, "config: "));
    assert_null(strchr(err, '\n'));
    assert_int_equal(kl_alloc_live_bytes(), live); /* nothing kept on failure */
    assert_null(c.mem_);
    kl_config_free(&c);
}

static int
load_text(kl_config_t *c, const char *text, char *err)
{
    return kl_config_load_text(c, text, "t.ini", err, 512);
}

/* Writes text to a fresh temporary file; path receives its name. */
static void
write_tmp(char *path, size_t cap, const char *text)
{
    snprintf(path, cap, "/tmp/kl_test_config_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
}

static char *
describe(const kl_config_t *c)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    kl_config_describe(c, f);
    fclose(f);
    return buf;
}

static int
setup(void **state)
{
    (void)state;
    unsetenv("KLINED_ADMIN_TOKEN");
    return 0;
}

/* ------------------------------------------------------------------------------------------ */

static void
test_defaults(void **state)
{
    (void)state;
    kl_config_t c;
    parse_ok(&c, NULL);
    assert_int_equal(c.source, KL_CFG_SRC_BINANCE);
    assert_string_equal(c.binance_ws, "wss://stream.binance.com:9443");
    assert_string_equal(c.binance_rest, "https://api.binance.com");
    assert_string_equal(c.binance_ca_file, "");
    assert_true(c.pace == 0.0);
    assert_string_equal(c.group, "klined");
    assert_int_equal(c.store, KL_CFG_STORE_SQLITE);
    assert_string_equal(c.store_url, "sqlite:./var/klined.db");
    assert_string_equal(c.store_path, "./var/klined.db");
    assert_string_equal(c.wal_dir, "./var/wal");
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8080);
    assert_int_equal(c.n_symbols, 0);
    assert_int_equal(c.intervals, KL_IV_ALL);
    assert_int_equal(c.tz_minutes, 0);
    assert_int_equal(c.workers, 1);
    assert_int_equal(c.n_cpus, 0);
    assert_null(c.admin_token);
    assert_int_equal(c.admin_token_from, KL_CFG_TOKEN_NONE);
    assert_false(c.exit_on_eof);
    assert_int_equal(c.shard_index, 0);
    assert_int_equal(c.shard_count, 1);
    assert_int_equal(c.lateness_ms, 0);
    assert_int_equal(c.disorder_ms, 50);
    assert_int_equal(c.idle_ms, 2000);
    assert_int_equal(c.max_skew_ms, 5000);
    assert_int_equal(c.persist_ms, 1000);
    assert_int_equal(c.stats_s, 10);
    assert_int_equal(c.log_level, KL_CFG_LOG_INFO);
    assert_int_equal(c.clock, KL_CFG_CLOCK_AUTO);
    assert_int_equal(c.clock_effective, KL_CFG_CLOCK_WALL);
    assert_int_equal(c.queue_capacity, 65536);
    assert_int_equal(c.fsync, KL_CFG_FSYNC_EVERYSEC);
    assert_int_equal(c.push_ms, 0);
    assert_null(c.config_path);
    assert_false(c.help);
    assert_null(c.mem_); /* defaults allocate nothing */

    char *d = describe(&c);
    assert_string_equal(d, "source = binance\n"
                           "binance-ws = wss://stream.binance.com:9443\n"
                           "binance-rest = https://api.binance.com\n"
                           "binance-ca-file = \n"
                           "quote-assets = \n"
                           "binance-stream = aggTrade\n"
                           "pace = 0\n"
                           "group = klined\n"
                           "store = sqlite:./var/klined.db\n"
                           "wal-dir = ./var/wal\n"
                           "fsync = everysec\n"
                           "persist-ms = 1000\n"
                           "wal-repair = tail\n"
                           "listen = 127.0.0.1:8080\n"
                           "# admin-token = (not set: admin endpoints refuse every request)\n"
                           "push-ms = 0\n"
                           "web-root = web/dist\n"
                           "max-connections = 1024\n"
                           "max-streams = 1024\n"
                           "ws-queue = 1024\n"
                           "ws-queue-bytes = 4194304\n"
                           "ws-total-queue-bytes = 268435456\n"
                           "max-connections-per-ip = 256\n"
                           "header-timeout-s = 10\n"
                           "# allowed-origins = (not set: the service's own page only)\n"
                           "api-cpu = none\n"
                           "api-readers = 2\n"
                           "api-read-queue = 256\n"
                           "api-read-queue-bytes = 67108864\n"
                           "max-query-rows = 1000000\n"
                           "api-cache-bytes = 67108864\n"
                           "pg-statement-timeout-ms = 10000\n"
                           "symbols = \n"
                           "intervals = all\n"
                           "tz = +00:00\n"
                           "lateness-ms = 0\n"
                           "clock = auto ; wall for this source\n"
                           "disorder-ms = 50\n"
                           "idle-ms = 2000\n"
                           "max-skew-ms = 5000\n"
                           "workers = 1\n"
                           "cpus = none\n"
                           "queue-capacity = 65536\n"
                           "max-pending-rows = 1000000\n"
                           "parked-symbols = 64\n"
                           "max-symbols = 10000\n"
                           "symbol-create-rate = 100\n"
                           "symbol-create-burst = 4000\n"
                           "auto-add-symbols = auto\n"
                           "shard = 0/1\n"
                           "exit-on-eof = false\n"
                           "shutdown-timeout-ms = 10000\n"
                           "kline-sink-queue-bytes = 67108864\n"
                           "lines-ack = false\n"
                           "stats-s = 10\n"
                           "log-level = info\n"
                           "log-buffer-bytes = 262144\n");
    free(d);
    kl_config_free(&c);
}

static void
test_source(void **state)
{
    (void)state;
    kl_config_t c;
    parse_ok(&c, "--source", "replay:a.csv,dir/b.zip", NULL);
    assert_int_equal(c.source, KL_CFG_SRC_REPLAY);
    assert_int_equal(c.n_replay_files, 2);
    assert_string_equal(c.replay_files[0], "a.csv");
    assert_string_equal(c.replay_files[1], "dir/b.zip");
    assert_int_equal(c.clock_effective, KL_CFG_CLOCK_EVENT);
    kl_config_free(&c);

    parse_ok(&c, "--source", "lines:stdin", NULL);
    assert_int_equal(c.source, KL_CFG_SRC_LINES_STDIN);
    assert_int_equal(c.clock_effective, KL_CFG_CLOCK_WALL);
    kl_config_free(&c);

    parse_ok(&c, "--source", "lines:tcp://localhost:9000", NULL);
    assert_int_equal(c.source, KL_CFG_SRC_LINES_TCP);
    assert_string_equal(c.lines_host, "localhost");
    assert_int_equal(c.lines_port, 9000);
    kl_config_free(&c);

    parse_ok(&c, "--source", "lines:tcp://127.0.0.1:65535", NULL);
    assert_string_equal(c.lines_host, "127.0.0.1");
    assert_int_equal(c.lines_port, 65535);
    kl_config_free(&c);

    parse_ok(&c, "--source", "kafka://b1:9092,b2:9092/trades.spot", NULL);
    assert_int_equal(c.source, KL_CFG_SRC_KAFKA);
    assert_string_equal(c.kafka_brokers, "b1:9092,b2:9092");
    assert_string_equal(c.kafka_topic, "trades.spot");
    kl_config_free(&c);

    /* The last source wins and clears the parts of the previous one. */
    parse_ok(&c, "--source", "replay:x.csv", "--source", "binance", NULL);
    assert_int_equal(c.source, KL_CFG_SRC_BINANCE);
    assert_null(c.replay_files);
    assert_int_equal(c.n_replay_files, 0);
    kl_config_free(&c);

    parse_bad("config: source = \"replay\": must be binance, replay:FILE[,FILE...], lines:stdin, "
              "lines:tcp://127.0.0.1:PORT or kafka://BROKERS/TOPIC",
              "--source", "replay", NULL);
    parse_bad("config: source = \"replay:a.csv,,b.csv\": file 2 of the replay list is empty; "
              "must be replay:FILE[,FILE...]",
              "--source", "replay:a.csv,,b.csv", NULL);
    parse_bad(NULL, "--source", "replay:", NULL);
    parse_bad("config: source = \"lines:tcp://0.0.0.0:9000\": the lines host must be 127.0.0.1 "
              "or localhost (a trade feed is not exposed beyond this machine)",
              "--source", "lines:tcp://0.0.0.0:9000", NULL);
    parse_bad(NULL, "--source", "lines:tcp://127.0.0.1:0", NULL);
    parse_bad(NULL, "--source", "lines:tcp://127.0.0.1:65536", NULL);
    parse_bad(NULL, "--source", "lines:tcp://127.0.0.1", NULL);
    parse_bad(NULL, "--source", "lines:tcp://127.0.0.1:", NULL);
    parse_bad(NULL, "--source", "lines:tcp", NULL);
    parse_bad(NULL, "--source", "kafka://b1:9092", NULL);
    parse_bad(NULL, "--source", "kafka:///topic", NULL);
    parse_bad(NULL, "--source", "kafka://b1,,b2/topic", NULL);
    parse_bad(NULL, "--source", "kafka://b1:9092/", NULL);
    parse_bad(NULL, "--source", "kafka://b1:9092/a/b", NULL);
    parse_bad(NULL, "--source", "Binance", NULL);
    parse_bad(NULL, "--source", "", NULL);
}

static void
test_urls(void **state)
{
    (void)state;
    kl_config_t c;
    parse_ok(&c, "--binance-ws", "ws://127.0.0.1:9001/", "--binance-rest", "http://127.0.0.1:9002",
             NULL);
    assert_string_equal(c.binance_ws, "ws://127.0.0.1:9001"); /* trailing '/' dropped */
    assert_string_equal(c.binance_rest, "http://127.0.0.1:9002");
    kl_config_free(&c);

    parse_bad("config: binance-ws = \"https://x\": must be a ws:// or wss:// URL", "--binance-ws",
              "https://x", NULL);
    parse_bad(NULL, "--binance-ws", "wss://", NULL);
    parse_bad("config: binance-rest = \"wss://x\": must be an http:// or https:// URL",
              "--binance-rest", "wss://x", NULL);
    parse_bad(NULL, "--binance-rest", "http://a b", NULL);
}

/* binance-ca-file: checked when loaded (a readable regular file), so a typo fails the start
 * by name instead of as TLS errors later; "" is the system bundle again. */
static void
test_binance_ca_file(void **state)
{
    (void)state;
    char path[] = "/tmp/kl_test_ca_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "-----BEGIN CERTIFICATE-----\n", 28), 28);
    close(fd);
    kl_config_t c;
    parse_ok(&c, "--binance-ca-file", path, NULL);
    assert_string_equal(c.binance_ca_file, path);
    char *d = describe(&c);
    char line[128];
    snprintf(line, sizeof line, "\nbinance-ca-file = %s\n", path);
    assert_non_null(strstr(d, line));
    free(d);
    kl_config_free(&c);

    parse_ok(&c, "--binance-ca-file", path, "--binance-ca-file", "", NULL);
    assert_string_equal(c.binance_ca_file, "");
    kl_config_free(&c);

    parse_bad("config: binance-ca-file = \"/nonexistent/ca.pem\": must be empty (the system CA "
              "bundle) or a readable regular file of PEM CA certificates, path up to 1023 bytes",
              "--binance-ca-file", "/nonexistent/ca.pem", NULL);
    parse_bad(NULL, "--binance-ca-file", "/tmp", NULL); /* a directory */
    if (geteuid() != 0) { /* root reads anything */
        chmod(path, 0);
        parse_bad(NULL, "--binance-ca-file", path, NULL);
    }
    char longp[1100];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    parse_bad(NULL, "--binance-ca-file", longp, NULL);
    unlink(path);
}

/* quote-assets: a comma list of 2..10 [A-Z0-9]; binance-stream: aggTrade or trade, case exact. */
static void
test_quote_assets_stream(void **state)
{
    (void)state;
    kl_config_t c;
    parse_ok(&c, NULL);
    assert_string_equal(c.quote_assets, "");
    assert_string_equal(c.binance_stream, "aggTrade");
    kl_config_free(&c);
    parse_ok(&c, "--quote-assets", "USDT,FDUSD,BTC,1000SATS", "--binance-stream", "aggTrade",
             NULL);
    assert_string_equal(c.quote_assets, "USDT,FDUSD,BTC,1000SATS");
    assert_string_equal(c.binance_stream, "aggTrade");
    kl_config_free(&c);
    parse_ok(&c, "--quote-assets", "", NULL);
    assert_string_equal(c.quote_assets, "");
    kl_config_free(&c);

    parse_bad("config: quote-assets = \"usdt\": must be empty or a comma list of quote assets of "
              "2..10 characters A-Z 0-9 (e.g. USDT,FDUSD)",
              "--quote-assets", "usdt", NULL);
    parse_bad(NULL, "--quote-assets", "USDT,", NULL);
    parse_bad(NULL, "--quote-assets", ",USDT", NULL);
    parse_bad(NULL, "--quote-assets", "USDT,,BTC", NULL);
    parse_bad(NULL, "--quote-assets", "U", NULL);
    parse_bad(NULL, "--quote-assets", "ABCDEFGHIJK", NULL);
    parse_bad(NULL, "--quote-assets", "USDT FDUSD", NULL);
    parse_ok(&c, "--binance-stream", "trade", NULL);
    assert_string_equal(c.binance_stream, "trade");
    kl_config_free(&c);
    parse_bad("config: binance-stream = \"Trade\": must be aggTrade or trade",
              "--binance-stream", "Trade", NULL);
    parse_bad(NULL, "--binance-stream", "aggtrade", NULL);
    parse_bad(NULL, "--binance-stream", "trades", NULL);
    parse_bad(NULL, "--binance-stream", "", NULL);
}

static void
test_pace(void **state)
{
    (void)state;
    kl_config_t c;
    parse_ok(&c, "--source", "replay:a.csv", "--pace", "2.5", NULL);
    assert_true(c.pace == 2.5);
    kl_config_free(&c);
    parse_ok(&c, "--source", "replay:a.csv", "--pace", "1e3", NULL);
    assert_true(c.pace == 1000.0);
    kl_config_free(&c);
    parse_ok(&c, "--pace", "0", NULL); /* 0 = full speed: fine with any source */
    assert_true(c.pace == 0.0);
    kl_config_free(&c);

    const char *bad[] = {"-1", "abc", "inf", "nan", "0x10", " 1", "1e-400", "2000000", ".", "1e"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_bad(NULL, "--source", "replay:a.csv", "--pace", bad[i], NULL);
    parse_bad("config: pace = \"abc\": must be 0 (full speed) or a number > 0 up to 1000000 "
              "(1 = real time)",
              "--pace", "abc", NULL);
    /* Chosen: a pace on a live source is a mistake, not something to ignore silently. */
    parse_bad("config: pace = \"2\": only applies to source = replay:FILE[,FILE...] (use pace = 0 "
              "or drop it)",
              "--pace", "2", NULL);
}

static void
test_store_group_wal(void **state)
{
    (void)state;
    kl_config_t c;
    parse_ok(&c, "--store", "sqlite:/data/k.db", "--group", "g1", "--wal-dir", "/w", NULL);
    assert_int_equal(c.store, KL_CFG_STORE_SQLITE);
    assert_string_equal(c.store_path, "/data/k.db");
    assert_string_equal(c.store_url, "sqlite:/data/k.db");
    assert_string_equal(c.group, "g1");
    assert_string_equal(c.wal_dir, "/w");
    kl_config_free(&c);

    parse_ok(&c, "--store", "postgresql://u:secret@db:5432/k?sslmode=disable", NULL);
    assert_int_equal(c.store, KL_CFG_STORE_POSTGRES);
    assert_string_equal(c.store_url, "postgresql://u:secret@db:5432/k?sslmode=disable");
    assert_null(c.store_path);
    char *d = describe(&c);
    assert_non_null(strstr(d, "store = postgresql://u:***@db:5432/k?sslmode=disable\n"));
    assert_null(strstr(d, "secret"));
    free(d);
    kl_config_free(&c);

    parse_ok(&c, "--store", "postgres://db/k?user=u&password=hunter2&x=1", NULL);
    d = describe(&c);
    assert_non_null(strstr(d, "store = postgres://db/k?user=u&password=***&x=1\n"));
    free(d);
    kl_config_free(&c);

    parse_bad("config: store = \"mysql://x\": must be sqlite:PATH, postgres://... or "
              "postgresql://...",
              "--store", "mysql://x", NULL);
    parse_bad(NULL, "--store", "sqlite:", NULL);
    parse_bad(NULL, "--group", "", NULL);
    parse_bad("config: wal-dir = \"\": must be a directory path", "--wal-dir", "", NULL);
}

static void
test_listen(void **state)
{
    (void)state;
    kl_config_t c;
    parse_ok(&c, "--listen", "0.0.0.0:9090", NULL);
    assert_string_equal(c.listen_host, "0.0.0.0");
    assert_int_equal(c.listen_port, 9090);
    kl_config_free(&c);
    parse_ok(&c, "--listen", "[::1]:80", NULL);
    assert_string_equal(c.listen_host, "::1");
    assert_int_equal(c.listen_port, 80);
    char *d = describe(&c);
    assert_non_null(strstr(d, "\nlisten = [::1]:80\n"));
    free(d);
    kl_config_free(&c);
    parse_ok(&c, "--listen", "localhost:1", NULL);
    assert_string_equal(c.listen_host, "localhost");
    kl_config_free(&c);

    parse_ok(&c, "--listen", "127.0.0.1:0", NULL); /* any free port */
    assert_int_equal(c.listen_port, 0);
    kl_config_free(&c);
    parse_ok(&c, "--api-cpu", "1", NULL);
    assert_int_equal(c.api_cpu, 1);
    kl_config_free(&c);
    parse_ok(&c, "--api-cpu", "none", NULL);
    assert_int_equal(c.api_cpu, -1);
    kl_config_free(&c);
    parse_bad("config: listen = \"127.0.0.1:65536\": must be HOST:PORT with PORT 0..65535 (0: any "
              "free port; IPv6 as [ADDR]:PORT), e.g. 127.0.0.1:8080",
              "--listen", "127.0.0.1:65536", NULL);
    const char *bad[] = {"8080", ":8080", "127.0.0.1:", "127.0.0.1:65536", "::1:80", "[]:80",
                         "[zz]:80", "a b:80", "h:80x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_bad(NULL, "--listen", bad[i], NULL);
}

static void
test_symbols(void **state)
{
    (void)state;
    kl_config_t c;
    parse_ok(&c, "--symbols", "btc/usdt, ETHBTC,1000SATS/USDT", NULL);
    assert_int_equal(c.n_symbols, 3);
    assert_string_equal(c.symbols[0].name, "BTCUSDT");
    assert_string_equal(c.symbols[0].base, "BTC");
    assert_string_equal(c.symbols[0].quote, "USDT");
    assert_string_equal(c.symbols[1].name, "ETHBTC");
    assert_string_equal(c.symbols[1].base, "");
    assert_string_equal(c.symbols[1].quote, "");
    assert_string_equal(c.symbols[2].name, "1000SATSUSDT");
    char *d = describe(&c);
    assert_non_null(strstr(d, "\nsymbols = BTC/USDT,ETHBTC,1000SATS/USDT\n"));
    free(d);
    kl_config_free(&c);

    /* 31 characters is the limit, split or not. */
    parse_ok(&c, "--symbols", "ABCDEFGHIJKLMNOPQRSTUVWXYZ01234,BCDEFGHIJKLMNOPQ/RSTUVWXYZ012345",
             NULL);
    assert_int_equal(c.n_symbols, 2);
    kl_config_free(&c);

    parse_ok(&c, "--symbols", "BTCUSDT", "--symbols", "", NULL); /* empty clears */
    assert_int_equal(c.n_symbols, 0);
    assert_null(c.symbols);
    kl_config_free(&c);

    parse_bad("config: symbols = \"BTC/USDT,btcusdt\": symbol BTCUSDT is listed twice",
              "--symbols", "BTC/USDT,btcusdt", NULL);
    parse_bad("config: symbols = \"BTC-USDT\": symbol \"BTC-USDT\" is neither BASE/QUOTE nor a "
              "name; each part must be letters and digits, 1..31 in all",
              "--symbols", "BTC-USDT", NULL);
    const char *bad[] = {"BTC,,ETH", "BTC,", "/USDT", "BTC/", "A/B/C",
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", "ABCDEFGHIJKLMNOP/QRSTUVWXYZ012345",
                         "BTC USDT", "ÄBC"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_bad(NULL, "--symbols", bad[i], NULL);
}

static void
test_intervals_tz(void **state)
{
    (void)state;
    kl_config_t c;
    parse_ok(&c, "--intervals", "1m,1h,1M", "--tz", "+08:00", NULL);
    assert_int_equal(c.intervals, (1u << KL_IV_1M) | (1u << KL_IV_1H) | (1u << KL_IV_1MO));
    assert_int_equal(c.tz_minutes, 480);
    char *d = describe(&c);
    assert_non_null(strstr(d, "\nintervals = 1m,1h,1M\ntz = +08:00\n"));
    free(d);
    kl_config_free(&c);
    parse_ok(&c, "--tz", "-05:30", NULL);
    assert_int_equal(c.tz_minutes, -330);
    d = describe(&c);
    assert_non_null(strstr(d, "\ntz = -05:30\n"));
    free(d);
    kl_config_free(&c);

    parse_bad("config: intervals = \"1m,2m\": must be all or a comma list of "
              "1s,1m,3m,5m,15m,30m,1h,2h,4h,6h,8h,12h,1d,3d,1w,1M",
              "--intervals", "1m,2m", NULL);
    parse_bad(NULL, "--intervals", "", NULL);
    parse_bad(NULL, "--intervals", "ALL", NULL);
    parse_bad("config: tz = \"+15:00\": must be an offset [+-]HH:MM from -12:00 to +14:00", "--tz",
              "+15:00", NULL);
    parse_bad(NULL, "--tz", "", NULL);
    parse_bad(NULL, "--tz", "8:60", NULL);
}

static void
test_workers_cpus(void **state)
{
    (void)state;
    kl_config_t c;
    parse_ok(&c, "--workers", "64", "--cpus", "2,0,1023", NULL);
    assert_int_equal(c.workers, 64);
    assert_int_equal(c.n_cpus, 3);
    assert_int_equal(c.cpus[0], 2);
    assert_int_equal(c.cpus[1], 0);
    assert_int_equal(c.cpus[2], 1023);
    char *d = describe(&c);
    assert_non_null(strstr(d, "\nworkers = 64\ncpus = 2,0,1023\n"));
    free(d);
    kl_config_free(&c);
    parse_ok(&c, "--cpus", "3", "--cpus", "none", NULL);
    assert_int_equal(c.n_cpus, 0);
    assert_null(c.cpus);
    kl_config_free(&c);

    parse_bad("config: workers = \"0\": must be an integer 1..64", "--workers", "0", NULL);
    parse_bad("config: workers = \"65\": must be an integer 1..64", "--workers", "65", NULL);
    parse_bad(NULL, "--workers", "-1", NULL);
    parse_bad(NULL, "--workers", "4x", NULL);
    parse_bad(NULL, "--workers", "99999999999999999999999", NULL);
    parse_bad("config: cpus = \"1,2,1\": CPU 1 is listed twice", "--cpus", "1,2,1", NULL);
    parse_bad("config: cpus = \"1024\": must be none or a comma list of distinct CPU ids 0..1023",
              "--cpus", "1024", NULL);
    parse_bad(NULL, "--cpus", "", NULL);
    parse_bad(NULL, "--cpus", "1,", NULL);
    parse_bad(NULL, "--cpus", "a", NULL);
}

static void
test_small_keys(void **state)
{
    (void)state;
    kl_config_t c;
    parse_ok(&c, "--shard", "3/4", "--lateness-ms", "1000", "--persist-ms", "50", "--stats-s",
             "0", "--log-level", "debug", "--clock", "event", "--queue-capacity", "1024",
             "--fsync", "always", "--push-ms", "60000", NULL);
    assert_int_equal(c.shard_index, 3);
    assert_int_equal(c.shard_count, 4);
    assert_int_equal(c.lateness_ms, 1000);
    assert_int_equal(c.persist_ms, 50);
    assert_int_equal(c.stats_s, 0);
    assert_int_equal(c.log_level, KL_CFG_LOG_DEBUG);
    assert_int_equal(c.clock, KL_CFG_CLOCK_EVENT);
    assert_int_equal(c.clock_effective, KL_CFG_CLOCK_EVENT); /* explicit beats auto */
    assert_int_equal(c.queue_capacity, 1024);
    assert_int_equal(c.fsync, KL_CFG_FSYNC_ALWAYS);
    assert_int_equal(c.push_ms, 60000);
    kl_config_free(&c);
    parse_ok(&c, "--shard", "1023/1024", "--persist-ms", "60000", "--stats-s", "3600",
             "--log-level", "error", "--clock", "wall", "--queue-capacity", "1048576", "--fsync",
             "no", "--source", "replay:a", NULL);
    assert_int_equal(c.shard_index, 1023);
    assert_int_equal(c.shard_count, 1024);
    assert_int_equal(c.queue_capacity, 1048576);
    assert_int_equal(c.fsync, KL_CFG_FSYNC_NO);
    assert_int_equal(c.clock_effective, KL_CFG_CLOCK_WALL);
    kl_config_free(&c);

    parse_bad("config: shard = \"4/4\": must be i/N with 0 <= i < N <= 1024", "--shard", "4/4",
              NULL);
    parse_bad(NULL, "--shard", "0/0", NULL);
    parse_bad(NULL, "--shard", "0/1025", NULL);
    parse_bad(NULL, "--shard", "1", NULL);
    parse_bad(NULL, "--shard", "/2", NULL);
    parse_bad(NULL, "--lateness-ms", "1001", NULL);
    parse_ok(&c, "--disorder-ms", "0", "--idle-ms", "100", "--max-skew-ms", "3600000", NULL);
    assert_int_equal(c.disorder_ms, 0);
    assert_int_equal(c.idle_ms, 100);
    assert_int_equal(c.max_skew_ms, 3600000);
    kl_config_free(&c);
    parse_bad("config: disorder-ms = \"5001\": must be an integer 0..5000 (how far trades on one "
              "feed connection may be out of time order)",
              "--disorder-ms", "5001", NULL);
    parse_bad(NULL, "--idle-ms", "99", NULL);
    parse_bad(NULL, "--max-skew-ms", "99", NULL);
    parse_bad(NULL, "--max-skew-ms", "-1", NULL);
    parse_bad(NULL, "--persist-ms", "49", NULL);
    parse_bad(NULL, "--persist-ms", "60001", NULL);
    parse_bad(NULL, "--stats-s", "3601", NULL);
    parse_bad("config: log-level = \"INFO\": must be debug, info, warn or error", "--log-level",
              "INFO", NULL);
    parse_bad(NULL, "--clock", "now", NULL);
    parse_bad("config: queue-capacity = \"3000\": must be a power of two 1024..1048576",
              "--queue-capacity", "3000", NULL);
    parse_bad(NULL, "--queue-capacity", "512", NULL);
    parse_bad(NULL, "--queue-capacity", "2097152", NULL);
    parse_bad(NULL, "--fsync", "sometimes", NULL);
    parse_bad(NULL, "--push-ms", "60001", NULL);
}

static void
test_exit_on_eof(void **state)
{
    (void)state;
    kl_config_t c;
    parse_ok(&c, "--exit-on-eof", NULL);
    assert_true(c.exit_on_eof);
    kl_config_free(&c);
    parse_ok(&c, "--exit-on-eof", "--exit-on-eof=no", NULL);
    assert_false(c.exit_on_eof);
    kl_config_free(&c);
    const char *yes[] = {"true", "1", "yes", "TRUE", "Yes"};
    const char *no[] = {"false", "0", "no", "False"};
    char err[512];
    for (size_t i = 0; i < 5; i++) {
        char text[64];
        snprintf(text, sizeof text, "exit-on-eof = %s\n", yes[i]);
        kl_config_defaults(&c);
        assert_int_equal(load_text(&c, text, err), 0);
        assert_true(c.exit_on_eof);
        kl_config_free(&c);
    }
    for (size_t i = 0; i < 4; i++) {
        char text[64];
        snprintf(text, sizeof text, "exit-on-eof = %s\n", no[i]);
        kl_config_defaults(&c);
        c.exit_on_eof = true;
        assert_int_equal(load_text(&c, text, err), 0);
        assert_false(c.exit_on_eof);
        kl_config_free(&c);
    }
    parse_bad("config: exit-on-eof = \"maybe\": must be true, false, 1, 0, yes or no",
              "--exit-on-eof=maybe", NULL);
    /* A no-value flag never eats the next word. */
    parse_bad("config: unexpected argument \"true\" (flags start with --; see --help)",
              "--exit-on-eof", "true", NULL);
}

static void
test_flag_forms(void **state)
{
    (void)state;
    kl_config_t c;
    parse_ok(&c, "--workers=4", "--tz=-03:00", "--symbols=BTC/USDT", "--workers", "5", NULL);
    assert_int_equal(c.workers, 5); /* last wins */
    assert_int_equal(c.tz_minutes, -180);
    assert_int_equal(c.n_symbols, 1);
    kl_config_free(&c);
    parse_ok(&c, "--wal-dir=--odd", NULL); /* = form takes any value */
    assert_string_equal(c.wal_dir, "--odd");
    kl_config_free(&c);

    parse_bad("config: unknown flag \"--worker\"", "--worker", "2", NULL);
    parse_bad("config: unknown flag \"--exit_on_eof\" (did you mean \"--exit-on-eof\"?)",
              "--exit_on_eof", NULL);
    parse_bad("config: --workers needs a value (write --workers=VALUE if it starts with --)",
              "--workers", NULL);
    parse_bad("config: --wal-dir needs a value (write --wal-dir=VALUE if it starts with --)",
              "--wal-dir", "--workers", "2", NULL);
    parse_bad("config: unexpected argument \"-workers\" (flags start with --; see --help)",
              "-workers", "2", NULL);
    parse_bad(NULL, "--", NULL);
    parse_bad("config: workers = \"\": must be an integer 1..64", "--workers=", NULL);
    parse_bad("config: group = \"a\\x0ab\": control characters are not allowed", "--group", "a\nb",
              NULL);

    /* --help wins over everything, even bad flags, and reads nothing. */
    kl_config_defaults(&c);
    char err[512] = "x";
    assert_int_equal(parse(&c, err, "--bogus", "--help", NULL), 0);
    assert_true(c.help);
    assert_null(c.mem_);
    kl_config_free(&c);
    kl_config_defaults(&c);
    assert_int_equal(parse(&c, err, "-h", NULL), 0);
    assert_true(c.help);
    kl_config_free(&c);
}

static void
test_file_precedence(void **state)
{
    (void)state;
    char path[64];
    write_tmp(path, sizeof path,
              "# klined config\n"
              "; another comment style\n"
              "source = replay:a.csv,b.csv\n"
              "workers = 2\n"
              "tz = +08:00\n"
              "exit-on-eof = true\n");
    kl_config_t c;
    parse_ok(&c, "--workers", "3", "--config", path, NULL); /* flags win wherever they are */
    assert_int_equal(c.workers, 3);
    assert_int_equal(c.tz_minutes, 480);
    assert_true(c.exit_on_eof);
    assert_int_equal(c.n_replay_files, 2);
    assert_string_equal(c.replay_files[1], "b.csv");
    assert_string_equal(c.config_path, path);
    kl_config_free(&c);

    parse_ok(&c, "--config=" "/dev/null", NULL); /* an empty file is fine */
    assert_int_equal(c.workers, 1);
    kl_config_free(&c);

    char want[256];
    parse_bad("config: --config given twice (\"a.ini\" and \"b.ini\"); give one file", "--config",
              "a.ini", "--config", "b.ini", NULL);
    parse_bad("config: cannot open config file \"/nonexistent/k.ini\": No such file or directory",
              "--config", "/nonexistent/k.ini", NULL);
    parse_bad("config: --config needs a FILE", "--config=", NULL);
    parse_bad(NULL, "--config", "/tmp", NULL); /* a directory */
    snprintf(want, sizeof want, "config: config file \"/dev/zero\" is larger than 1048576 bytes");
    parse_bad(want, "--config", "/dev/zero", NULL); /* endless input is cut, not read forever */

    /* A bad flag is reported before the file is opened. */
    parse_bad("config: unknown flag \"--nope\"", "--config", "/nonexistent/k.ini", "--nope", NULL);
    /* A bad file value names the file and line; a flag for the same key does not rescue it. */
    char path2[64];
    write_tmp(path2, sizeof path2, "\n\nworkers = 0\n");
    snprintf(want, sizeof want, "config: %s:3: workers = \"0\": must be an integer 1..64", path2);
    parse_bad(want, "--config", path2, "--workers", "2", NULL);
    unlink(path);
    unlink(path2);
}

static void
test_ini_syntax(void **state)
{
    (void)state;
    kl_config_t c;
    char err[512];
    kl_config_defaults(&c);
    assert_int_equal(load_text(&c,
                               "\xef\xbb\xbf# bom then comment\r\n"
                               "workers = 2 ; inline comment\r\n"
                               "[klined]\n"
                               "    symbols = BTC/USDT\n" /* indented keys are plain keys */
                               "\tlisten : 127.0.0.1:9999\n"
                               "  group=g#1\n" /* '#' is only a comment at line start */
                               "\n"
                               "  # indented comment\n",
                               err),
                     0);
    assert_int_equal(c.workers, 2);
    assert_int_equal(c.n_symbols, 1);
    assert_string_equal(c.symbols[0].name, "BTCUSDT");
    assert_int_equal(c.listen_port, 9999);
    assert_string_equal(c.group, "g#1");
    kl_config_free(&c);

    struct {
        const char *text, *want;
    } bad[] = {
        {"workers = 2\n[server]\nlisten = 1.2.3.4:80\n",
         "config: t.ini:3: section [server] is not klined's: keys go before any section or "
         "under [klined]"},
        {"# c\nworkrs = 2\n", "config: t.ini:2: unknown key \"workrs\""},
        {"Workers = 2\n", "config: t.ini:1: unknown key \"Workers\" (did you mean \"workers\"?)"},
        {"config = other.ini\n",
         "config: t.ini:1: \"config\" is a command-line flag only, not a config key"},
        {"workers = 2\njust words\nworkers = 0\n",
         "config: t.ini:2: expected \"key = value\", \"[section]\" or a comment"},
        {"workers = 0\njust words\n", "config: t.ini:1: workers = \"0\": must be an integer 1..64"},
        {"[klined\n", "config: t.ini:1: expected \"key = value\", \"[section]\" or a comment"},
        {"group = a\x02z\n", "config: t.ini:1: control character 0x02 in the line"},
        {"admin-token = short\n",
         "config: t.ini:1: admin-token = (hidden, 5 characters): must be 16..256 printable ASCII "
         "characters without spaces"},
        {"exit-on-eof\n", "config: t.ini:1: expected \"key = value\", \"[section]\" or a comment"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kl_config_defaults(&c);
        int rc = load_text(&c, bad[i].text, err);
        if (rc != KL_ECONFIG)
            fail_msg("case %zu: rc %d", i, rc);
        assert_string_equal(err, bad[i].want);
        assert_null(c.mem_);
    }

    /* Repeated keys in a file: last wins, as for flags. */
    kl_config_defaults(&c);
    assert_int_equal(load_text(&c, "workers = 2\nworkers = 7\n", err), 0);
    assert_int_equal(c.workers, 7);
    kl_config_free(&c);
}

/* Lines longer than inih's 200-byte buffer still parse as one value. */
static void
test_ini_long_line(void **state)
{
    (void)state;
    char text[4096], list[3000];
    size_t o = 0;
    for (int i = 0; i < 60; i++)
        o += (size_t)snprintf(list + o, sizeof list - o, "%sdata/BTCUSDT-%02d.zip", i ? "," : "",
                              i);
    snprintf(text, sizeof text, "workers = 3\nsource = replay:%s ; sixty files\nworkers = 4\n",
             list);
    kl_config_t c;
    char err[512];
    kl_config_defaults(&c);
    int rc = load_text(&c, text, err);
    if (rc != 0)
        fail_msg("%s", err);
    assert_int_equal(c.n_replay_files, 60);
    assert_string_equal(c.replay_files[0], "data/BTCUSDT-00.zip");
    assert_string_equal(c.replay_files[59], "data/BTCUSDT-59.zip");
    assert_int_equal(c.workers, 4); /* the next line is still its own line */
    kl_config_free(&c);

    /* A long bad value is reported on its line, quoted and cut. */
    snprintf(text, sizeof text, "\nsymbols = %s\n", list);
    kl_config_defaults(&c);
    assert_int_equal(load_text(&c, text, err), KL_ECONFIG);
    assert_non_null(strstr(err, "config: t.ini:2: symbols = \"data/BTCUSDT-00.zip,"));
    assert_non_null(strstr(err, "...\": symbol \"data/BTCUSDT-00.zip\" is neither"));
    assert_true(strlen(err) < 300);

    /* A long comment is skipped; a long key name is an error. */
    snprintf(text, sizeof text, "# %s\nworkers = 9\n", list);
    kl_config_defaults(&c);
    assert_int_equal(load_text(&c, text, err), 0);
    assert_int_equal(c.workers, 9);
    snprintf(text, sizeof text, "%s = 1\n", list);
    kl_config_defaults(&c);
    assert_int_equal(load_text(&c, text, err), KL_ECONFIG);
    assert_non_null(strstr(err, "config: t.ini:1: line too long"));
}

static void
test_admin_token_env(void **state)
{
    (void)state;
    kl_config_t c;
    char err[512];
    const char *tok_env = "env-token-0123456789";
    const char *tok_flag = "flag-token-0123456789";
    setenv("KLINED_ADMIN_TOKEN", tok_env, 1);

    parse_ok(&c, NULL);
    assert_string_equal(c.admin_token, tok_env);
    assert_int_equal(c.admin_token_from, KL_CFG_TOKEN_ENV);
    char *d = describe(&c);
    assert_null(strstr(d, tok_env));
    assert_non_null(
        strstr(d, "\n# admin-token = (hidden: 20 characters, from KLINED_ADMIN_TOKEN)\n"));
    free(d);
    kl_config_free(&c);

    parse_ok(&c, "--admin-token", tok_flag, NULL); /* flag beats env */
    assert_string_equal(c.admin_token, tok_flag);
    assert_int_equal(c.admin_token_from, KL_CFG_TOKEN_FLAG);
    d = describe(&c);
    assert_null(strstr(d, tok_flag));
    free(d);
    kl_config_free(&c);

    char path[64];
    write_tmp(path, sizeof path, "admin-token = file-token-0123456789\n");
    parse_ok(&c, "--config", path, NULL); /* file beats env */
    assert_string_equal(c.admin_token, "file-token-0123456789");
    assert_int_equal(c.admin_token_from, KL_CFG_TOKEN_FILE);
    kl_config_free(&c);
    unlink(path);

    /* A bad env token is an error when it would be used, and is never echoed. */
    setenv("KLINED_ADMIN_TOKEN", "tiny", 1);
    parse_bad("config: KLINED_ADMIN_TOKEN = (hidden, 4 characters): must be 16..256 printable "
              "ASCII characters without spaces",
              NULL);
    parse_ok(&c, "--admin-token", tok_flag, NULL); /* ...and ignored when a key is given */
    assert_string_equal(c.admin_token, tok_flag);
    kl_config_free(&c);

    setenv("KLINED_ADMIN_TOKEN", "", 1); /* empty = unset */
    parse_ok(&c, NULL);
    assert_null(c.admin_token);
    kl_config_free(&c);
    unsetenv("KLINED_ADMIN_TOKEN");

    kl_config_defaults(&c);
    assert_int_equal(parse(&c, err, "--admin-token", "has space 0123456789", NULL), KL_ECONFIG);
    assert_null(strstr(err, "0123456789"));
    assert_string_equal(err, "config: admin-token = (hidden, 20 characters): must be 16..256 "
                             "printable ASCII characters without spaces");
    /* control characters (an escape sequence, a CR/LF that would split the header) */
    static const char *const ctl[] = {"tok\x01en-0123456789", "token\r\n0123456789",
                                      "token-0123456789\x1b[0m", "token-0123456789\x7f"};
    for (size_t i = 0; i < sizeof ctl / sizeof ctl[0]; i++) {
        kl_config_defaults(&c);
        assert_int_equal(parse(&c, err, "--admin-token", ctl[i], NULL), KL_ECONFIG);
    }
}

/* describe prints a config file that reads back to the same configuration. */
static void
test_describe_round_trip(void **state)
{
    (void)state;
    kl_config_t a, b;
    parse_ok(&a, "--source", "kafka://b1:9092/t", "--symbols", "eth/btc,BNBUSDT", "--intervals",
             "1s,1w", "--tz", "+05:45", "--cpus", "1,3", "--shard", "2/5", "--exit-on-eof",
             "--clock", "wall", "--listen", "[fe80::1%eth0]:81", "--store", "sqlite:x y.db", NULL);
    char *d1 = describe(&a);
    char err[512];
    kl_config_defaults(&b);
    int rc = load_text(&b, d1, err);
    if (rc != 0)
        fail_msg("%s", err);
    char *d2 = describe(&b);
    assert_string_equal(d1, d2);
    assert_non_null(strstr(d1, "source = kafka://b1:9092/t\n"));
    assert_non_null(strstr(d1, "\nlisten = [fe80::1%eth0]:81\n"));
    free(d1);
    free(d2);
    kl_config_free(&a);
    kl_config_free(&b);

    /* A value starting with ';' must not come back as an inline comment. */
    kl_config_defaults(&a);
    assert_int_equal(load_text(&a, "group =;g\nwal-dir =;w ; real comment\n", err), 0);
    assert_string_equal(a.group, ";g");
    assert_string_equal(a.wal_dir, ";w");
    d1 = describe(&a);
    assert_non_null(strstr(d1, "\ngroup =;g\n"));
    kl_config_defaults(&b);
    assert_int_equal(load_text(&b, d1, err), 0);
    assert_string_equal(b.group, ";g");
    assert_string_equal(b.wal_dir, ";w");
    free(d1);
    kl_config_free(&a);
    kl_config_free(&b);
}

/* Failure leaves the caller's config exactly as it was, whatever had been applied before it. */
static void
test_failure_is_atomic(void **state)
{
    (void)state;
    kl_config_t c;
    parse_ok(&c, "--symbols", "BTC/USDT", "--workers", "3", NULL);
    kl_config_t before = c;
    int64_t live = kl_alloc_live_bytes();
    char err[512];
    assert_int_equal(parse(&c, err, "--symbols", "ETHBTC", "--source", "replay:a", "--workers",
                           "0", NULL),
                     KL_ECONFIG);
    assert_memory_equal(&c, &before, sizeof c);
    assert_int_equal(kl_alloc_live_bytes(), live);
    assert_int_equal(load_text(&c, "symbols = XRPUSDT\nworkers = x\n", err), KL_ECONFIG);
    assert_memory_equal(&c, &before, sizeof c);
    assert_int_equal(kl_alloc_live_bytes(), live);
    assert_string_equal(c.symbols[0].name, "BTCUSDT");
    /* And a later success layers on top. */
    assert_int_equal(load_text(&c, "workers = 4\n", err), 0);
    assert_int_equal(c.workers, 4);
    assert_string_equal(c.symbols[0].name, "BTCUSDT");
    kl_config_free(&c);
    kl_config_free(&c); /* free resets to defaults, so twice is harmless */
    assert_int_equal(c.workers, 1);
}

/* Allocation N fails, for every N: KL_ENOMEM, no leak, untouched struct; then success. */
static void
test_alloc_failures(void **state)
{
    (void)state;
    char path[64];
    write_tmp(path, sizeof path, "symbols = BTC/USDT\nstore = sqlite:/tmp/x.db\n");
    int64_t live = kl_alloc_live_bytes();
    int ok = 0;
    for (int64_t n = 1; n < 100 && !ok; n++) {
        kl_config_t c;
        kl_config_defaults(&c);
        char err[512];
        kl_alloc_fail_after(n);
        int rc = parse(&c, err, "--config", path, "--source", "replay:a,b,c", "--cpus", "1,2",
                       "--symbols", "ETH/BTC,XRPUSDT", NULL);
        kl_alloc_fail_after(0);
        if (rc == 0) {
            ok = 1;
            assert_int_equal(c.n_symbols, 2);
            assert_int_equal(c.n_replay_files, 3);
            kl_config_free(&c);
        } else {
            assert_int_equal(rc, KL_ENOMEM);
            assert_string_equal(err, "config: out of memory");
            assert_null(c.mem_);
        }
        assert_int_equal(kl_alloc_live_bytes(), live);
    }
    assert_true(ok);
    unlink(path);
}

static void
test_usage(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    kl_config_usage(f);
    fclose(f);
    /* Every contract flag is listed. */
    const char *flags[] = {"--source", "--binance-ws", "--binance-rest", "--binance-ca-file",
                           "--pace", "--group",
                           "--store", "--wal-dir", "--listen", "--symbols", "--intervals", "--tz",
                           "--workers", "--cpus", "--admin-token", "--exit-on-eof", "--shard",
                           "--config"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (strstr(buf, flags[i]) == NULL)
            fail_msg("usage lacks %s", flags[i]);
    free(buf);
}

/* Issue 12, C2: the symbol creation bounds, and `symbols` may not list more than max-symbols. */
static void
test_symbol_bounds(void **state)
{
    (void)state;
    kl_config_t c;
    parse_ok(&c, "--max-symbols", "3", "--symbol-create-rate", "0", "--symbol-create-burst", "1",
             "--auto-add-symbols", "yes", "--symbols", "AUSDT,BUSDT,CUSDT", NULL);
    assert_int_equal(c.max_symbols, 3);
    assert_int_equal(c.symbol_create_rate, 0);
    assert_int_equal(c.symbol_create_burst, 1);
    assert_int_equal(c.auto_add, KL_CFG_AUTO_ADD_YES);
    kl_config_free(&c);
    parse_ok(&c, "--auto-add-symbols", "no", NULL);
    assert_int_equal(c.auto_add, KL_CFG_AUTO_ADD_NO);
    assert_int_equal(c.max_symbols, 10000);
    kl_config_free(&c);
    parse_bad("config: max-symbols = \"2\": symbols lists 3 names, more than it allows (raise "
              "max-symbols)",
              "--max-symbols", "2", "--symbols", "AUSDT,BUSDT,CUSDT", NULL);
    parse_bad(NULL, "--max-symbols", "0", NULL);
    parse_bad(NULL, "--max-symbols", "1000001", NULL);
    parse_bad(NULL, "--symbol-create-rate", "-1", NULL);
    parse_bad(NULL, "--symbol-create-burst", "0", NULL);
    parse_bad(NULL, "--auto-add-symbols", "maybe", NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, setup),
        cmocka_unit_test_setup(test_source, setup),
        cmocka_unit_test_setup(test_urls, setup),
        cmocka_unit_test_setup(test_binance_ca_file, setup),
        cmocka_unit_test_setup(test_quote_assets_stream, setup),
        cmocka_unit_test_setup(test_pace, setup),
        cmocka_unit_test_setup(test_store_group_wal, setup),
        cmocka_unit_test_setup(test_listen, setup),
        cmocka_unit_test_setup(test_symbols, setup),
        cmocka_unit_test_setup(test_intervals_tz, setup),
        cmocka_unit_test_setup(test_workers_cpus, setup),
        cmocka_unit_test_setup(test_small_keys, setup),
        cmocka_unit_test_setup(test_exit_on_eof, setup),
        cmocka_unit_test_setup(test_flag_forms, setup),
        cmocka_unit_test_setup(test_file_precedence, setup),
        cmocka_unit_test_setup(test_ini_syntax, setup),
        cmocka_unit_test_setup(test_ini_long_line, setup),
        cmocka_unit_test_setup(test_admin_token_env, setup),
        cmocka_unit_test_setup(test_describe_round_trip, setup),
        cmocka_unit_test_setup(test_failure_is_atomic, setup),
        cmocka_unit_test_setup(test_alloc_failures, setup),
        cmocka_unit_test_setup(test_usage, setup),
        cmocka_unit_test_setup(test_symbol_bounds, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
