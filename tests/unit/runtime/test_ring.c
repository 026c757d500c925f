/* SPSC ring and futex eventcount tests. Single-threaded cases pin down FIFO order, wraparound,
 * the full/empty outcomes and the stop flag; the threaded cases push millions of sequence-numbered
 * messages through a tiny ring (so the producer keeps hitting backpressure) and ping-pong a
 * token between two parked threads 100k times, which is where a memory-ordering mistake or a lost
 * wakeup would show. They assert counts and content only: a lost wakeup costs a park timeout per
 * occurrence and is counted, never timed. They are meant to run under ThreadSanitizer too. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kl/err.h"
#include "runtime/ring.h"
#include "runtime/wake.h"

static kl_msg_t
msg(uint64_t seq)
{
    kl_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = KL_MSG_TRADE;
    m.flags = (uint16_t)(seq & 0xffff);
    m.sym = (uint32_t)(seq * 2654435761u);
    m.u.trade.id = (int64_t)seq;
    m.u.trade.ts = (int64_t)(seq * 3);
    m.u.trade.price = (int64_t)~seq;
    return m;
}

static void
check_msg(const kl_msg_t *m, uint64_t seq)
{
    assert_int_equal(m->type, KL_MSG_TRADE);
    assert_int_equal(m->flags, seq & 0xffff);
    assert_int_equal(m->sym, (uint32_t)(seq * 2654435761u));
    assert_int_equal(m->u.trade.id, (int64_t)seq);
    assert_int_equal(m->u.trade.ts, (int64_t)(seq * 3));
    assert_int_equal(m->u.trade.price, (int64_t)~seq);
}

static void
init_rejects_bad_capacity(void **state)
{
    (void)state;
    kl_ring_t r;
    assert_int_equal(kl_ring_init(&r, 0), KL_EARG);
    assert_int_equal(kl_ring_init(&r, 1), KL_EARG);
    assert_int_equal(kl_ring_init(&r, 3), KL_EARG);
    assert_int_equal(kl_ring_init(&r, 1000), KL_EARG);
    assert_int_equal(kl_ring_init(&r, 2), 0);
    kl_ring_fini(&r);
}

static void
fifo_and_wraparound(void **state)
{
    (void)state;
    kl_ring_t r;
    assert_int_equal(kl_ring_init(&r, 4), 0);
    kl_msg_t out[8];
    assert_int_equal(kl_ring_pop(&r, out, 8), 0);
    uint64_t next_in = 0, next_out = 0;
    /* Uneven push/pop counts walk the indices around the ring many times. */
    for (int round = 0; round < 1000; round++) {
        size_t np = 1 + (size_t)(round % 4);
        for (size_t i = 0; i < np; i++) {
            kl_msg_t m = msg(next_in++);
            assert_int_equal(kl_ring_try_push(&r, &m), 0);
        }
        assert_int_equal(kl_ring_depth(&r), np);
        size_t got = 0;
        while (got < np) {
            size_t n = kl_ring_pop(&r, out, 3);
            assert_true(n >= 1 && n <= 3);
            for (size_t i = 0; i < n; i++)
                check_msg(&out[i], next_out++);
            got += n;
        }
        assert_int_equal(got, np);
        assert_int_equal(kl_ring_pop(&r, out, 8), 0);
        assert_int_equal(kl_ring_depth(&r), 0);
    }
    assert_int_equal(next_out, next_in);
    assert_int_equal(r.waits, 0);
    kl_ring_fini(&r);
}

static void
try_push_full_then_pop_batches(void **state)
{
    (void)state;
    kl_ring_t r;
    assert_int_equal(kl_ring_init(&r, 8), 0);
    for (uint64_t i = 0; i < 8; i++) {
        kl_msg_t m = msg(100 + i);
        assert_int_equal(kl_ring_try_push(&r, &m), 0);
    }
    kl_msg_t extra = msg(999);
    assert_int_equal(kl_ring_try_push(&r, &extra), KL_EFULL);
    assert_int_equal(kl_ring_depth(&r), 8);
    kl_msg_t out[8];
    assert_int_equal(kl_ring_pop(&r, out, 3), 3);
    for (uint64_t i = 0; i < 3; i++)
        check_msg(&out[i], 100 + i);
    /* Room for exactly three more. */
    for (uint64_t i = 8; i < 11; i++) {
        kl_msg_t m = msg(100 + i);
        assert_int_equal(kl_ring_try_push(&r, &m), 0);
    }
    assert_int_equal(kl_ring_try_push(&r, &extra), KL_EFULL);
    /* The consumer may see fewer than are there (it rereads head only when its cached view
     * is empty), but never more, and successive pops get every message once, in order. */
    size_t got = 0;
    while (got < 8) {
        size_t n = kl_ring_pop(&r, out + got, 8 - got);
        assert_true(n >= 1);
        got += n;
    }
    assert_int_equal(got, 8);
    for (uint64_t i = 0; i < 8; i++)
        check_msg(&out[i], 103 + i);
    assert_int_equal(kl_ring_pop(&r, out, 8), 0);
    /* try_push never counts a wait. */
    assert_int_equal(r.waits, 0);
    kl_ring_fini(&r);
}

static void
push_returns_shutdown_when_stopped_while_full(void **state)
{
    (void)state;
    kl_ring_t r;
    assert_int_equal(kl_ring_init(&r, 2), 0);
    _Atomic int stop = 0;
    kl_msg_t a = msg(1), b = msg(2), c = msg(3);
    assert_int_equal(kl_ring_push(&r, &a, &stop), 0);
    assert_int_equal(kl_ring_push(&r, &b, &stop), 0);
    assert_int_equal(r.waits, 0);
    atomic_store(&stop, 1);
    assert_int_equal(kl_ring_push(&r, &c, &stop), KL_ESHUTDOWN);
    assert_int_equal(r.waits, 1);
    /* Nothing was overwritten or added. */
    kl_msg_t out[4];
    assert_int_equal(kl_ring_pop(&r, out, 4), 2);
    check_msg(&out[0], 1);
    check_msg(&out[1], 2);
    /* The stop flag matters only while full. */
    assert_int_equal(kl_ring_push(&r, &c, &stop), 0);
    assert_int_equal(kl_ring_pop(&r, out, 4), 1);
    check_msg(&out[0], 3);
    kl_ring_fini(&r);
}

/* ---- two threads through a tiny ring ---------------------------------------------------- */

#define SPSC_MESSAGES 500000ULL /* enough wraps of an 8-slot ring; bounded CI time under sanitizers */

typedef struct spsc {
    kl_ring_t ring;
    kl_wake_t wake; /* the consumer parks here when the ring is empty */
    _Atomic int producer_done;
} spsc_t;

static void *
producer_main(void *arg)
{
    spsc_t *t = arg;
    for (uint64_t seq = 0; seq < SPSC_MESSAGES; seq++) {
        kl_msg_t m = msg(seq);
        if (kl_ring_push(&t->ring, &m, NULL) != 0)
            return (void *)1;
        if ((seq & 63) == 0)
            kl_wake_notify(&t->wake);
    }
    /* release: pairs with the consumer's acquire; every push happens before it. */
    atomic_store_explicit(&t->producer_done, 1, memory_order_release);
    kl_wake_notify(&t->wake);
    return NULL;
}

static int
spsc_has_work(void *ctx)
{
    spsc_t *t = ctx;
    return kl_ring_depth(&t->ring) != 0 ||
           atomic_load_explicit(&t->producer_done, memory_order_acquire);
}

static void
spsc_two_threads_every_message_once_in_order(void **state)
{
    (void)state;
    static spsc_t t;
    memset(&t, 0, sizeof t);
    assert_int_equal(kl_ring_init(&t.ring, 8), 0);
    kl_wake_init(&t.wake);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, producer_main, &t), 0);
    kl_msg_t out[5];
    uint64_t next = 0, bad = 0, batches = 0;
    kl_idle_t idle = {0};
    for (;;) {
        size_t n = kl_ring_pop(&t.ring, out, 5);
        for (size_t i = 0; i < n; i++, next++)
            bad += (uint64_t)out[i].u.trade.id != next || out[i].sym != msg(next).sym ||
                   out[i].u.trade.price != msg(next).u.trade.price;
        batches += n > 0;
        if (n == 0 && atomic_load_explicit(&t.producer_done, memory_order_acquire) &&
            kl_ring_depth(&t.ring) == 0)
            break;
        kl_idle(&idle, &t.wake, (int)n, spsc_has_work, &t, 1000);
    }
    void *ret;
    assert_int_equal(pthread_join(th, &ret), 0);
    assert_null(ret);
    assert_int_equal(bad, 0);
    assert_int_equal(next, SPSC_MESSAGES);
    assert_true(batches >= SPSC_MESSAGES / 5);
    /* A capacity of 8 against 5M messages: the producer met a full ring. */
    assert_true(t.ring.waits > 0);
    assert_int_equal(kl_ring_depth(&t.ring), 0);
    kl_ring_fini(&t.ring);
}

/* ---- wakeups: ping-pong between two parked threads --------------------------------------- */

#define PINGPONG_ROUNDS 20000u
#define PARK_MS 2000 /* a lost wakeup costs this much and is counted */

typedef struct pingpong {
    _Atomic uint32_t ball; /* even: A's turn; odd: B's turn */
    kl_wake_t wake[2];
    uint64_t lost[2];  /* waits that ended with the ball ours but nobody woke us */
    uint64_t parks[2]; /* FUTEX_WAITs entered */
    int use_idle;
} pingpong_t;

typedef struct side {
    pingpong_t *pp;
    int me;
} side_t;

static int
my_turn(const pingpong_t *pp, int me)
{
    /* acquire: the other side's writes before handing over the ball are visible. */
    return (int)(atomic_load_explicit(&pp->ball, memory_order_acquire) & 1) == me;
}

typedef struct turn_ctx {
    pingpong_t *pp;
    int me;
} turn_ctx_t;

static int
turn_has_work(void *ctx)
{
    turn_ctx_t *t = ctx;
    return my_turn(t->pp, t->me);
}

/* Waits for the ball, parking on every attempt (no spinning), so each round exercises the
 * prepare / re-check / wait / notify protocol. */
static void
wait_turn_parked(pingpong_t *pp, int me)
{
    kl_wake_t *w = &pp->wake[me];
    for (;;) {
        uint32_t seq = kl_wake_prepare(w);
        if (my_turn(pp, me)) {
            kl_wake_cancel(w);
            return;
        }
        pp->parks[me]++;
        kl_wake_wait(w, seq, PARK_MS);
        /* The ball is ours but seq never moved: the notify missed us and only the timeout
         * brought us back. */
        if (my_turn(pp, me) && atomic_load_explicit(&w->seq, memory_order_relaxed) == seq)
            pp->lost[me]++;
    }
}

static void
wait_turn_idle(pingpong_t *pp, int me)
{
    kl_idle_t idle = {0};
    turn_ctx_t ctx = {pp, me};
    while (!my_turn(pp, me))
        kl_idle(&idle, &pp->wake[me], 0, turn_has_work, &ctx, PARK_MS);
}

/* Plays every round of side me; returns how many times the ball was not the expected value
 * (counted, not asserted: cmocka's asserts must stay on the test's own thread). */
static uint64_t
play(pingpong_t *pp, int me)
{
    uint64_t wrong = 0;
    for (uint32_t r = 0; r < PINGPONG_ROUNDS; r++) {
        if (pp->use_idle)
            wait_turn_idle(pp, me);
        else
            wait_turn_parked(pp, me);
        uint32_t b = atomic_load_explicit(&pp->ball, memory_order_relaxed);
        wrong += b != 2 * r + (uint32_t)me;
        /* release: hand the ball over, then wake the other side. */
        atomic_store_explicit(&pp->ball, b + 1, memory_order_release);
        kl_wake_notify(&pp->wake[1 - me]);
    }
    return wrong;
}

static uint64_t side_b_wrong;

static void *
side_b(void *arg)
{
    side_b_wrong = play(arg, 1);
    return NULL;
}

static void
run_pingpong(int use_idle)
{
    static pingpong_t pp;
    memset(&pp, 0, sizeof pp);
    kl_wake_init(&pp.wake[0]);
    kl_wake_init(&pp.wake[1]);
    pp.use_idle = use_idle;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, side_b, &pp), 0);
    uint64_t wrong = play(&pp, 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(wrong, 0);
    assert_int_equal(side_b_wrong, 0);
    assert_int_equal(atomic_load(&pp.ball), 2 * PINGPONG_ROUNDS);
    assert_int_equal(pp.lost[0], 0);
    assert_int_equal(pp.lost[1], 0);
    if (!use_idle) /* each side had to park at least sometimes: the futex path was exercised */
        assert_true(pp.parks[0] + pp.parks[1] > 0);
}

static void
wake_pingpong_parked_no_lost_wakeup(void **state)
{
    (void)state;
    run_pingpong(0);
}

static void
wake_pingpong_idle_strategy(void **state)
{
    (void)state;
    run_pingpong(1);
}

/* A notify with nobody asleep leaves seq alone; one after prepare bumps it, so a wait on the
 * old value returns at once instead of sleeping its timeout. */
static void
wake_notify_before_wait_is_not_lost(void **state)
{
    (void)state;
    kl_wake_t w;
    kl_wake_init(&w);
    kl_wake_notify(&w);
    assert_int_equal(atomic_load(&w.seq), 0);
    uint32_t seq = kl_wake_prepare(&w);
    assert_int_equal(atomic_load(&w.sleeping), 1);
    kl_wake_notify(&w);
    assert_int_equal(atomic_load(&w.seq), seq + 1);
    kl_wake_wait(&w, seq, 60000); /* must not sleep: seq moved */
    assert_int_equal(atomic_load(&w.sleeping), 0);
    seq = kl_wake_prepare(&w);
    kl_wake_cancel(&w);
    assert_int_equal(atomic_load(&w.sleeping), 0);
    kl_wake_notify(&w);
    assert_int_equal(atomic_load(&w.seq), seq);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(init_rejects_bad_capacity),
        cmocka_unit_test(fifo_and_wraparound),
        cmocka_unit_test(try_push_full_then_pop_batches),
        cmocka_unit_test(push_returns_shutdown_when_stopped_while_full),
        cmocka_unit_test(spsc_two_threads_every_message_once_in_order),
        cmocka_unit_test(wake_notify_before_wait_is_not_lost),
        cmocka_unit_test(wake_pingpong_parked_no_lost_wakeup),
        cmocka_unit_test(wake_pingpong_idle_strategy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
