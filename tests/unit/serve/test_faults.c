/* Allocation faults on the start-up and crash-recovery paths of the service (STYLE: "fail
 * allocation N for N = 1, 2, 3..."). For every N, kl_service_start() runs with the Nth
 * allocation failing and must either fail cleanly (an error message, every byte it allocated
 * freed, no crash) or start a service whose result, once its replay source is done and it is
 * stopped, equals a single-threaded kl_series_t reference of the same trades, field by field.
 * The loop ends at the first N past the number of allocations the start makes (a start that
 * succeeds with the countdown still armed). The recovery pass does the same on copies of a
 * directory that a forked child left behind like a crash (a checkpoint of the first half of the
 * trades, the second half only in the WAL), and after each clean failure restarts without a
 * fault on the same directory: a failed recovery must leave nothing that a later start gets
 * wrong.
 *
 * The counting allocator is compiled into this program (core/alloc.c included below, so the
 * library's copy is not linked) to read the countdown: that is the only way to tell whether the
 * injected failure fired. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.c"
#include "core/config.h"
#include "core/log.h"
#include "engine/kline.h"
#include "kl/err.h"
#include "serve/service.h"
#include "store/store.h"
#include "wal/wal.h"
#include "wal/walrec.h"

#define T0 1704153600000LL /* 2024-01-02T00:00:00Z */
#define N_SYMS 2
#define TRADES 300 /* per symbol; the first half goes into the checkpoint of the crash run */
#define WAIT_MS 20000
#define MAX_N 5000 /* a start never makes this many allocations: the loop must end before */
#define INTERVALS "1m,5m,1h,1d"

static const char *const syms[N_SYMS] = {"AUSDT", "BUSDT"};
static char tmpdir[64];

/* Misbehaviours are collected over the whole loop, so that one run lists every N that goes
 * wrong (the first 40 are printed); each test fails at its end if there was any. */
static long problems;

static void
problem(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (problems++ < 40)
        print_error("PROBLEM: %s\n", msg);
}

/* ---- the reference: every trade through a single-threaded kl_series_t ------------------- */

typedef struct klist {
    kl_kline_t k[1024];
    uint8_t final[1024];
    size_t n;
} klist_t;

static void
klist_put(klist_t *l, const kl_kline_t *k, int final)
{
    if (l->n > 0 && l->k[l->n - 1].open_time == k->open_time) {
        l->k[l->n - 1] = *k;
        l->final[l->n - 1] = (uint8_t)final;
        return;
    }
    assert_true(l->n < 1024);
    l->k[l->n] = *k;
    l->final[l->n++] = (uint8_t)final;
}

typedef struct ref {
    kl_sched_t sched;
    kl_series_t series;
    klist_t iv[KL_IV_COUNT];
} ref_t;

static ref_t refs[N_SYMS];

static void
ref_emit(void *ctx, const kl_series_t *s, int iv, const kl_kline_t *k, unsigned flags)
{
    (void)s;
    (void)flags;
    klist_put(&((ref_t *)ctx)->iv[iv], k, 1);
}

/* ---- dumps -------------------------------------------------------------------------------- */

static uint64_t rng_state;

static uint32_t
rng(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33);
}

static void
fmt_dec(char *buf, size_t cap, int64_t v)
{
    snprintf(buf, cap, "%lld.%08lld", (long long)(v / 100000000), (long long)(v % 100000000));
}

/* Writes dir/<SYM>-aggTrades-2024-01-02.csv holding the symbol's first n trades (the same
 * sequence whatever n), and feeds them to the reference when r is not NULL. */
static void
write_dump(const char *dir, int sym, int n, ref_t *r)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s-aggTrades-2024-01-02.csv", dir, syms[sym]);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    rng_state = 0x9e3779b97f4a7c15ULL * (uint64_t)(sym + 3);
    int64_t t = T0 + sym * 911, id = 1000 * (sym + 1), raw = 50000 * (sym + 1);
    int64_t price = (20 + 13 * sym) * 100000000LL + 5555;
    for (int i = 0; i < n; i++) {
        t += (int64_t)(rng() % 20000); /* ~50 minutes in all: several 5m and 1h klines */
        price += (int64_t)(rng() % 200001) - 100000;
        kl_trade_t tr = {
            .ts = t,
            .id = id++,
            .first_id = raw,
            .last_id = raw + (rng() % 5 == 0 ? 2 : 0),
            .price = price,
            .qty = 1 + (int64_t)(rng() % 100000000),
            .buyer_maker = (uint8_t)(rng() & 1),
        };
        raw = tr.last_id + 1;
        char p[32], q[32];
        fmt_dec(p, sizeof p, tr.price);
        fmt_dec(q, sizeof q, tr.qty);
        fprintf(f, "%lld,%s,%s,%lld,%lld,%lld,%s,True\n", (long long)tr.id, p, q,
                (long long)tr.first_id, (long long)tr.last_id, (long long)tr.ts,
                tr.buyer_maker ? "True" : "False");
        if (r) {
            assert_int_equal(kl_trade_validate(&tr, 1), 0);
            (void)kl_series_apply(&r->series, &tr, ref_emit, r);
        }
    }
    assert_int_equal(fclose(f), 0);
}

/* ---- store comparison --------------------------------------------------------------------- */

static int
scan_row(void *ctx, const kl_store_row_t *row)
{
    klist_t *l = ctx;
    if (l->n > 0 && l->k[l->n - 1].open_time >= row->k.open_time)
        return 1;
    klist_put(l, &row->k, row->is_final);
    return 0;
}

static klist_t got_buf;

/* The store at db equals the reference in every enabled interval of every symbol; a
 * difference is a problem(). */
static void
check_store(const char *db, const char *what, long n)
{
    char url[256], err[512] = "";
    snprintf(url, sizeof url, "sqlite:%s", db);
    kl_store_t *st = NULL;
    if (kl_store_open(url, &st, err, sizeof err) != 0)
        fail_msg("%s N=%ld: store: %s", what, n, err);
    size_t rows = 0;
    for (int s = 0; s < N_SYMS; s++) {
        for (int i = 0; i < refs[s].sched.n; i++) {
            int iv = refs[s].sched.spec[i].iv;
            const klist_t *want = &refs[s].iv[iv];
            klist_t *got = &got_buf;
            got->n = 0;
            assert_int_equal(kl_store_scan(st, syms[s], iv, scan_row, got), 0);
            if (got->n != want->n) {
                problem("%s N=%ld: %s %s: store has %zu rows, reference %zu", what, n, syms[s],
                        kl_iv_name(iv), got->n, want->n);
                kl_store_close(st);
                return;
            }
            for (size_t j = 0; j < got->n; j++) {
                const kl_kline_t *a = &got->k[j], *b = &want->k[j];
                if (a->open_time != b->open_time || a->close_time != b->close_time ||
                    a->open != b->open || a->high != b->high || a->low != b->low ||
                    a->close != b->close || a->volume != b->volume || a->quote != b->quote ||
                    a->taker_base != b->taker_base || a->taker_quote != b->taker_quote ||
                    a->trades != b->trades || a->first_id != b->first_id ||
                    a->last_id != b->last_id || got->final[j] != want->final[j]) {
                    problem("%s N=%ld: %s %s row %zu (open %lld) differs from the reference "
                            "(store trades %lld, reference %lld)",
                            what, n, syms[s], kl_iv_name(iv), j, (long long)b->open_time,
                            (long long)a->trades, (long long)b->trades);
                    kl_store_close(st);
                    return;
                }
            }
            rows += got->n;
        }
    }
    assert_true(rows > 2 * 10); /* the comparison saw real data */
    kl_store_close(st);
}

/* ---- service helpers ---------------------------------------------------------------------- */

static void
sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void
load_config(kl_config_t *cfg, const char *src_dir, const char *run_dir, int persist_ms)
{
    char text[2048], err[512] = "";
    snprintf(text, sizeof text,
             "source = replay:%s/%s-aggTrades-2024-01-02.csv,%s/%s-aggTrades-2024-01-02.csv\n"
             "store = sqlite:%s/db.sqlite\nwal-dir = %s/wal\nworkers = 2\npersist-ms = %d\n"
             "clock = event\nstats-s = 0\nintervals = " INTERVALS "\n",
             src_dir, syms[0], src_dir, syms[1], run_dir, run_dir, persist_ms);
    kl_config_defaults(cfg);
    if (kl_config_load_text(cfg, text, "test.ini", err, sizeof err) != 0)
        fail_msg("config: %s", err);
    cfg->listen_port = 0; /* the API on a free port: tests run side by side */
}

/* Waits for the source's end, then stops; returns kl_service_stop's status. */
static int
run_to_end(kl_service_t *svc)
{
    int done = 0;
    for (int waited = 0; waited < WAIT_MS && !done; waited += 5) {
        done = kl_service_source_done(svc);
        if (!done)
            sleep_ms(5);
    }
    assert_true(done);
    return kl_service_stop(svc);
}

/* Disarms the countdown and says whether it was still armed (the failure never fired). */
static int
disarm(void)
{
    return atomic_exchange_explicit(&fail_countdown, 0, memory_order_relaxed) > 0;
}

typedef struct outcome {
    long clean_failures, tolerated; /* tolerated: the failure fired, yet the run was right */
} outcome_t;

/* One start with allocation n failing, on the directory run_dir (already prepared). Returns 1
 * when the start succeeded with the countdown still armed (n is past the start's allocations). */
static int
one_start(const kl_config_t *cfg, const char *what, long n, const char *run_dir, outcome_t *o,
          int restart_after_failure)
{
    char db[256];
    snprintf(db, sizeof db, "%s/db.sqlite", run_dir);
    int64_t live0 = kl_alloc_live_bytes();
    char err[1024] = "";
    kl_service_t *svc = NULL;
    kl_alloc_fail_after(n);
    int rc = kl_service_start(cfg, &svc, err, sizeof err);
    int armed = disarm();
    if (rc != 0) {
        if (armed)
            problem("%s N=%ld: start failed although no allocation failed: %s", what, n, err);
        if (err[0] == '\0')
            problem("%s N=%ld: start failed (%s) with an empty error message", what, n,
                    kl_strerror(rc));
        if (kl_alloc_live_bytes() != live0)
            problem("%s N=%ld: failed start leaked %lld bytes (error: %s)", what, n,
                    (long long)(kl_alloc_live_bytes() - live0), err);
        o->clean_failures++;
        if (restart_after_failure) {
            /* What the failed attempt left must still recover to the right result. */
            live0 = kl_alloc_live_bytes();
            err[0] = '\0';
            if (kl_service_start(cfg, &svc, err, sizeof err) != 0) {
                problem("%s N=%ld: restart after the failure: %s", what, n, err);
                return 0;
            }
            if (run_to_end(svc) != 0)
                problem("%s N=%ld: restart after the failure: stop failed", what, n);
            check_store(db, "restart after a failed recovery", n);
            if (kl_alloc_live_bytes() != live0)
                problem("%s N=%ld: restart after the failure leaked %lld bytes", what, n,
                        (long long)(kl_alloc_live_bytes() - live0));
        }
        return 0;
    }
    int status = run_to_end(svc);
    if (kl_alloc_live_bytes() != live0)
        problem("%s N=%ld: leaked %lld bytes after stop", what, n,
                (long long)(kl_alloc_live_bytes() - live0));
    if (status != 0) {
        /* Only an injected failure (in a thread started by start) may make the run fail. */
        if (armed)
            problem("%s N=%ld: stop failed without an injected failure", what, n);
        o->tolerated++;
        return 0;
    }
    check_store(db, what, n);
    if (armed)
        return 1;
    o->tolerated++;
    return 0;
}

/* ---- tests -------------------------------------------------------------------------------- */

static int
setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/kl_test_faults_XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    kl_log_set_level(getenv("KL_FAULTS_VERBOSE") ? KL_LOG_WARN : KL_LOG_ERROR + 1);
    sh("mkdir -p %s/full %s/half", tmpdir, tmpdir);
    char half[128];
    snprintf(half, sizeof half, "%s/half", tmpdir);
    for (int s = 0; s < N_SYMS; s++)
        write_dump(half, s, TRADES / 2, NULL);
    kl_config_t defaults;
    load_config(&defaults, half, tmpdir, 50);
    for (int s = 0; s < N_SYMS; s++) {
        kl_sched_cfg_t sc;
        kl_sched_cfg_default(&sc);
        sc.iv_mask = defaults.intervals;
        sc.tz_minutes = defaults.tz_minutes;
        sc.lateness_ms = defaults.lateness_ms;
        assert_int_equal(kl_sched_init(&refs[s].sched, &sc), 0);
        kl_series_init(&refs[s].series, &refs[s].sched, &refs[s]);
        char dir[128];
        snprintf(dir, sizeof dir, "%s/full", tmpdir);
        write_dump(dir, s, TRADES, &refs[s]);
        /* The live klines are in the store as not final when the service stops. */
        for (int i = 0; i < refs[s].sched.n; i++) {
            int iv = refs[s].sched.spec[i].iv;
            kl_kline_t k;
            if (kl_series_get(&refs[s].series, iv, &k) == 0)
                klist_put(&refs[s].iv[iv], &k, 0);
        }
    }
    kl_config_free(&defaults);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void
startup_allocation_faults(void **state)
{
    (void)state;
    char full[128], run[128];
    snprintf(full, sizeof full, "%s/full", tmpdir);
    snprintf(run, sizeof run, "%s/run", tmpdir);
    kl_config_t cfg;
    load_config(&cfg, full, run, 50);
    /* A fault-free run first: the reference holds, and one-time allocations are made. */
    sh("rm -rf %s && mkdir -p %s", run, run);
    outcome_t o = {0};
    assert_int_equal(one_start(&cfg, "startup warm-up", MAX_N * 100, run, &o, 0), 1);
    problems = 0;
    long n;
    for (n = 1; n <= MAX_N; n++) {
        sh("rm -rf %s && mkdir -p %s", run, run);
        if (one_start(&cfg, "startup", n, run, &o, 0))
            break;
    }
    assert_true(n <= MAX_N);
    print_message("startup: %ld allocations checked: %ld clean failures, %ld tolerated\n", n - 1,
                  o.clean_failures, o.tolerated);
    assert_true(o.clean_failures > 5); /* the loop really injected failures */
    kl_config_free(&cfg);
    assert_int_equal(problems, 0);
}

/* Counts the TRADE records of one log. */
static int
count_trades(void *ctx, uint64_t seq, uint16_t type, const void *payload, uint32_t len)
{
    (void)seq;
    (void)payload;
    (void)len;
    *(long *)ctx += type == KL_WALREC_TRADE;
    return 0;
}

/* Leaves crash/ like a process killed after the second half of the trades reached the WAL: a
 * clean run over the first half (checkpointed), then a forked child over all trades that exits
 * without stopping once both logs hold the second half. */
static void
make_crash_dir(const char *crash)
{
    char half[128], full[128];
    snprintf(half, sizeof half, "%s/half", tmpdir);
    snprintf(full, sizeof full, "%s/full", tmpdir);
    sh("rm -rf %s && mkdir -p %s", crash, crash);
    kl_config_t cfg;
    load_config(&cfg, half, crash, 60000);
    char err[1024] = "";
    kl_service_t *svc = NULL;
    if (kl_service_start(&cfg, &svc, err, sizeof err) != 0)
        fail_msg("first half: %s", err);
    assert_int_equal(run_to_end(svc), 0);
    kl_config_free(&cfg);
    /* The last segment of each log outlives the final checkpoint: count what is already there. */
    char wal[256];
    snprintf(wal, sizeof wal, "%s/wal", crash);
    long base = 0;
    for (int w = 0; w < 2; w++)
        assert_int_equal(kl_wal_scan(wal, w, 0, 0, count_trades, &base, NULL), 0);
    const long want = base + N_SYMS * (TRADES - TRADES / 2);

    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        load_config(&cfg, full, crash, 60000);
        if (kl_service_start(&cfg, &svc, err, sizeof err) != 0)
            _exit(2);
        for (int waited = 0; waited < WAIT_MS; waited += 5) {
            long trades = 0;
            for (int w = 0; w < 2; w++)
                if (kl_wal_scan(wal, w, 0, 0, count_trades, &trades, NULL) != 0)
                    _exit(3);
            if (kl_service_source_done(svc) && trades == want)
                _exit(0); /* the crash: no stop, no final checkpoint */
            sleep_ms(5);
            if (waited + 5 >= WAIT_MS)
                fprintf(stderr, "crash child: source_done=%d, %ld trades in the WAL, want %ld\n",
                        kl_service_source_done(svc), trades, want);
        }
        _exit(4);
    }
    int wst = 0;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFEXITED(wst));
    assert_int_equal(WEXITSTATUS(wst), 0);
}

static void
recovery_allocation_faults(void **state)
{
    (void)state;
    char crash[128], run[128], full[128];
    snprintf(crash, sizeof crash, "%s/crash", tmpdir);
    snprintf(run, sizeof run, "%s/run", tmpdir);
    snprintf(full, sizeof full, "%s/full", tmpdir);
    make_crash_dir(crash);
    kl_config_t cfg;
    load_config(&cfg, full, run, 50);
    outcome_t o = {0};
    /* Fault-free recovery first: it must reproduce the reference by itself. */
    sh("rm -rf %s && cp -a %s %s", run, crash, run);
    assert_int_equal(one_start(&cfg, "recovery warm-up", MAX_N * 100, run, &o, 0), 1);
    problems = 0;
    long n;
    for (n = 1; n <= MAX_N; n++) {
        sh("rm -rf %s && cp -a %s %s", run, crash, run);
        if (one_start(&cfg, "recovery", n, run, &o, 1))
            break;
    }
    assert_true(n <= MAX_N);
    print_message("recovery: %ld allocations checked: %ld clean failures, %ld tolerated\n",
                  n - 1, o.clean_failures, o.tolerated);
    assert_true(o.clean_failures > 5);
    kl_config_free(&cfg);
    assert_int_equal(problems, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(startup_allocation_faults),
        cmocka_unit_test(recovery_allocation_faults),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
