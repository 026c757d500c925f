/* Snapshot module tests: every transition of the dirty set and double buffer (take, ack, fail
 * and merge back, rollover between takes, a slot updated while its batch is in flight, grow),
 * driven single-threaded with hand-built rows. A fake "worker" keeps one version number per slot;
 * its fill callback writes that version into open_time, so a batch row says exactly which state
 * of which slot it carries. Allocation failures are injected to check that no row is lost. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "kl/err.h"
#include "runtime/snapshot.h"

#define MAX_SLOTS 4096

/* The fake owner of the slots: version[slot] is that slot's current kline (its open_time). */
typedef struct owner {
    int64_t version[MAX_SLOTS];
    unsigned fills[MAX_SLOTS]; /* fill calls per slot, this take */
    int fail_slot;             /* fill of this slot fails with KL_EIO; -1: never */
    int rows_per_slot;         /* non-final rows appended per fill */
} owner_t;

static void
owner_init(owner_t *o)
{
    memset(o, 0, sizeof *o);
    o->fail_slot = -1;
    o->rows_per_slot = 1;
}

static kl_store_row_t
make_row(uint32_t slot, int iv, int64_t open_time, int final)
{
    kl_store_row_t r;
    memset(&r, 0, sizeof r);
    snprintf(r.symbol, sizeof r.symbol, "S%u", slot);
    r.iv = (uint8_t)iv;
    r.is_final = (uint8_t)final;
    r.unit_per_ms = 1;
    r.k.open_time = open_time;
    r.k.close_time = open_time + 59999;
    r.k.trades = (int64_t)slot;
    return r;
}

static int
fill(void *ctx, kl_snap_t *s, uint32_t slot)
{
    owner_t *o = ctx;
    o->fills[slot]++;
    if ((int)slot == o->fail_slot)
        return KL_EIO;
    for (int i = 0; i < o->rows_per_slot; i++) {
        kl_store_row_t r = make_row(slot, i, o->version[slot], 0);
        int rc = kl_snap_add_row(s, &r);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Asserts that row is (slot, version, final). */
static void
check_row(const kl_store_row_t *r, uint32_t slot, int64_t version, int final)
{
    char name[16];
    snprintf(name, sizeof name, "S%u", slot);
    assert_string_equal(r->symbol, name);
    assert_int_equal(r->k.open_time, version);
    assert_int_equal(r->k.trades, (int64_t)slot);
    assert_int_equal(r->is_final, final);
}

static void
add_final(kl_snap_t *s, uint32_t slot, int64_t open_time)
{
    kl_store_row_t r = make_row(slot, 0, open_time, 1);
    assert_int_equal(kl_snap_add_row(s, &r), 0);
}

static void
take_ok(kl_snap_t *s, owner_t *o, kl_snap_batch_t *b)
{
    memset(o->fills, 0, sizeof o->fills);
    b->rows = NULL;
    b->n = 12345;
    assert_int_equal(kl_snap_take(s, fill, o, b), 0);
    assert_true(kl_snap_in_flight(s));
}

static void
take_with_nothing_dirty(void **state)
{
    (void)state;
    owner_t o;
    owner_init(&o);
    kl_snap_t *s = kl_snap_create(16);
    assert_non_null(s);
    assert_false(kl_snap_in_flight(s));
    kl_snap_batch_t b;
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 0);
    /* Even an empty batch is in flight until acked. */
    kl_snap_batch_t b2 = {NULL, 777};
    assert_int_equal(kl_snap_take(s, fill, &o, &b2), KL_EFULL);
    assert_int_equal(b2.n, 777); /* not written on failure */
    kl_snap_ack(s);
    assert_false(kl_snap_in_flight(s));
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 0);
    kl_snap_ack(s);
    kl_snap_destroy(s);
}

static void
take_fills_each_dirty_slot_once(void **state)
{
    (void)state;
    owner_t o;
    owner_init(&o);
    kl_snap_t *s = kl_snap_create(8);
    assert_non_null(s);
    for (int i = 0; i < 1000; i++)
        kl_snap_mark(s, 5);
    assert_int_equal(kl_snap_dirty_count(s), 1);
    o.version[5] = 42;
    kl_snap_batch_t b;
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 1);
    check_row(&b.rows[0], 5, 42, 0);
    assert_int_equal(o.fills[5], 1);
    kl_snap_ack(s);
    kl_snap_destroy(s);
}

static void
take_order_and_fill_counts(void **state)
{
    (void)state;
    owner_t o;
    owner_init(&o);
    o.rows_per_slot = 2;
    kl_snap_t *s = kl_snap_create(200);
    assert_non_null(s);
    const uint32_t marks[] = {3, 130, 3, 64, 3, 0, 199, 130, 63};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
        o.version[marks[i]] = 1000 + marks[i];
        kl_snap_mark(s, marks[i]);
    }
    const uint32_t want[] = {3, 130, 64, 0, 199, 63};
    const size_t nw = sizeof want / sizeof want[0];
    assert_int_equal(kl_snap_dirty_count(s), nw);
    kl_snap_batch_t b;
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 2 * nw);
    for (size_t i = 0; i < nw; i++) {
        check_row(&b.rows[2 * i], want[i], 1000 + want[i], 0);
        check_row(&b.rows[2 * i + 1], want[i], 1000 + want[i], 0);
        assert_int_equal(b.rows[2 * i].iv, 0);
        assert_int_equal(b.rows[2 * i + 1].iv, 1);
    }
    for (uint32_t slot = 0; slot < 200; slot++) {
        int dirty = 0;
        for (size_t i = 0; i < nw; i++)
            dirty |= want[i] == slot;
        assert_int_equal(o.fills[slot], dirty ? 1 : 0);
    }
    /* The dirty set is now the in-flight set. */
    assert_int_equal(kl_snap_dirty_count(s), 0);
    assert_int_equal(kl_snap_pending_rows(s), 0);
    kl_snap_destroy(s);
}

static void
ack_releases(void **state)
{
    (void)state;
    owner_t o;
    owner_init(&o);
    kl_snap_t *s = kl_snap_create(64);
    assert_non_null(s);
    add_final(s, 5, 60000);
    kl_snap_mark(s, 5);
    kl_snap_mark(s, 6);
    o.version[5] = 120000;
    o.version[6] = 7;
    kl_snap_batch_t b;
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 3);
    check_row(&b.rows[0], 5, 60000, 1);
    check_row(&b.rows[1], 5, 120000, 0);
    check_row(&b.rows[2], 6, 7, 0);
    kl_snap_ack(s);
    assert_false(kl_snap_in_flight(s));
    assert_int_equal(kl_snap_dirty_count(s), 0);
    assert_int_equal(kl_snap_pending_rows(s), 0);
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 0);
    for (uint32_t i = 0; i < 64; i++)
        assert_int_equal(o.fills[i], 0);
    kl_snap_ack(s);
    /* The released slots can be marked again, and come back once. */
    kl_snap_mark(s, 6);
    kl_snap_mark(s, 6);
    o.version[6] = 8;
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 1);
    check_row(&b.rows[0], 6, 8, 0);
    kl_snap_ack(s);
    /* Ack and fail with nothing in flight change nothing. */
    kl_snap_ack(s);
    assert_int_equal(kl_snap_fail(s), 0);
    assert_int_equal(kl_snap_dirty_count(s), 0);
    assert_int_equal(kl_snap_pending_rows(s), 0);
    kl_snap_destroy(s);
}

static void
fail_merges_back_finals_first(void **state)
{
    (void)state;
    owner_t o;
    owner_init(&o);
    kl_snap_t *s = kl_snap_create(64);
    assert_non_null(s);
    /* Batch 1: final F1 of slot 1, current rows of slots 1 and 2. */
    add_final(s, 1, 100);
    kl_snap_mark(s, 1);
    kl_snap_mark(s, 2);
    o.version[1] = 200;
    o.version[2] = 300;
    kl_snap_batch_t b;
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 3);
    /* While it is in flight: slot 1 rolls over again (final F2 = its kline 200, a correction of
     * nothing older), slot 3 changes for the first time and slot 2 changes again. */
    add_final(s, 1, 200);
    o.version[1] = 400;
    kl_snap_mark(s, 1);
    o.version[3] = 500;
    kl_snap_mark(s, 3);
    assert_int_equal(kl_snap_dirty_count(s), 2);
    assert_int_equal(kl_snap_pending_rows(s), 1);
    /* The store failed. */
    assert_int_equal(kl_snap_fail(s), 0);
    assert_false(kl_snap_in_flight(s));
    /* Dirty again: slots 1 and 3 (already dirty) plus 2 (from the batch), each once. */
    assert_int_equal(kl_snap_dirty_count(s), 3);
    /* F1 then F2; the batch's non-final rows are not kept (they are re-read). */
    assert_int_equal(kl_snap_pending_rows(s), 2);
    o.version[2] = 301;
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 5);
    check_row(&b.rows[0], 1, 100, 1);
    check_row(&b.rows[1], 1, 200, 1);
    check_row(&b.rows[2], 1, 400, 0);
    check_row(&b.rows[3], 3, 500, 0);
    check_row(&b.rows[4], 2, 301, 0);
    assert_int_equal(o.fills[1], 1);
    assert_int_equal(o.fills[2], 1);
    assert_int_equal(o.fills[3], 1);
    /* Fail a second time in a row: nothing is duplicated either. */
    assert_int_equal(kl_snap_fail(s), 0);
    assert_int_equal(kl_snap_dirty_count(s), 3);
    assert_int_equal(kl_snap_pending_rows(s), 2);
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 5);
    check_row(&b.rows[0], 1, 100, 1);
    check_row(&b.rows[1], 1, 200, 1);
    size_t finals = 0;
    for (size_t i = 0; i < b.n; i++)
        finals += b.rows[i].is_final;
    assert_int_equal(finals, 2);
    kl_snap_ack(s);
    assert_int_equal(kl_snap_dirty_count(s), 0);
    assert_int_equal(kl_snap_pending_rows(s), 0);
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 0);
    kl_snap_ack(s);
    kl_snap_destroy(s);
}

static void
rollover_between_two_takes(void **state)
{
    (void)state;
    owner_t o;
    owner_init(&o);
    kl_snap_t *s = kl_snap_create(8);
    assert_non_null(s);
    kl_snap_mark(s, 4);
    o.version[4] = 60000;
    kl_snap_batch_t b;
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 1);
    check_row(&b.rows[0], 4, 60000, 0);
    kl_snap_ack(s);
    /* The kline 60000 ends (a rollover) and the next one starts. */
    add_final(s, 4, 60000);
    o.version[4] = 120000;
    kl_snap_mark(s, 4);
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 2);
    check_row(&b.rows[0], 4, 60000, 1);
    check_row(&b.rows[1], 4, 120000, 0);
    kl_snap_ack(s);
    /* Exactly once: the next take has nothing. */
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 0);
    kl_snap_ack(s);
    /* A rollover with no trade after it (a tick): the final row alone, no dirty slot. */
    add_final(s, 4, 120000);
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 1);
    check_row(&b.rows[0], 4, 120000, 1);
    assert_int_equal(o.fills[4], 0);
    kl_snap_ack(s);
    kl_snap_destroy(s);
}

static void
slot_updated_while_in_flight(void **state)
{
    (void)state;
    owner_t o;
    owner_init(&o);
    kl_snap_t *s = kl_snap_create(8);
    assert_non_null(s);
    kl_snap_mark(s, 1);
    o.version[1] = 10;
    kl_snap_batch_t b;
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 1);
    const kl_store_row_t *frozen = b.rows;
    /* Updated while the batch is being committed: dirty again, for the next batch. */
    o.version[1] = 11;
    kl_snap_mark(s, 1);
    assert_int_equal(kl_snap_dirty_count(s), 1);
    /* Many rollovers meanwhile (the active buffer grows): the frozen batch is untouched. */
    for (int i = 0; i < 3000; i++)
        add_final(s, 2, 1000 + i);
    assert_int_equal(kl_snap_pending_rows(s), 3000);
    assert_ptr_equal(b.rows, frozen);
    check_row(&b.rows[0], 1, 10, 0);
    /* Take while in flight: refused, nothing changes. */
    kl_snap_batch_t b2 = {NULL, 99};
    assert_int_equal(kl_snap_take(s, fill, &o, &b2), KL_EFULL);
    assert_int_equal(b2.n, 99);
    assert_int_equal(kl_snap_dirty_count(s), 1);
    assert_int_equal(kl_snap_pending_rows(s), 3000);
    kl_snap_ack(s);
    assert_int_equal(kl_snap_dirty_count(s), 1);
    assert_int_equal(kl_snap_pending_rows(s), 3000);
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 3001);
    for (int i = 0; i < 3000; i++)
        check_row(&b.rows[i], 2, 1000 + i, 1);
    check_row(&b.rows[3000], 1, 11, 0);
    kl_snap_ack(s);
    kl_snap_destroy(s);
}

static void
grow_keeps_dirty_and_in_flight_sets(void **state)
{
    (void)state;
    owner_t o;
    owner_init(&o);
    kl_snap_t *s = kl_snap_create(10);
    assert_non_null(s);
    kl_snap_mark(s, 2);
    kl_snap_mark(s, 9);
    assert_int_equal(kl_snap_grow(s, 5), 0); /* never shrinks */
    assert_int_equal(kl_snap_grow(s, 200), 0);
    assert_int_equal(kl_snap_dirty_count(s), 2);
    kl_snap_mark(s, 9); /* still known as dirty after the copy */
    kl_snap_mark(s, 150);
    assert_int_equal(kl_snap_dirty_count(s), 3);
    o.version[2] = 2;
    o.version[9] = 9;
    o.version[150] = 150;
    kl_snap_batch_t b;
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 3);
    check_row(&b.rows[0], 2, 2, 0);
    check_row(&b.rows[1], 9, 9, 0);
    check_row(&b.rows[2], 150, 150, 0);
    /* Grow while in flight: the in-flight set survives and merges back on failure. */
    assert_int_equal(kl_snap_grow(s, 1000), 0);
    kl_snap_mark(s, 999);
    kl_snap_mark(s, 150);
    add_final(s, 998, 998);
    o.version[999] = 999;
    assert_int_equal(kl_snap_fail(s), 0);
    assert_int_equal(kl_snap_dirty_count(s), 4);
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 5);
    check_row(&b.rows[0], 998, 998, 1);
    check_row(&b.rows[1], 999, 999, 0);
    check_row(&b.rows[2], 150, 150, 0);
    check_row(&b.rows[3], 2, 2, 0);
    check_row(&b.rows[4], 9, 9, 0);
    kl_snap_ack(s);
    assert_int_equal(kl_snap_dirty_count(s), 0);
    /* The bitset was cleared too: the slots can be marked again. */
    kl_snap_mark(s, 999);
    kl_snap_mark(s, 2);
    assert_int_equal(kl_snap_dirty_count(s), 2);
    kl_snap_destroy(s);
}

static void
grow_from_zero(void **state)
{
    (void)state;
    owner_t o;
    owner_init(&o);
    kl_snap_t *s = kl_snap_create(0); /* as a worker creates it */
    assert_non_null(s);
    kl_snap_batch_t b;
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 0);
    kl_snap_ack(s);
    assert_int_equal(kl_snap_grow(s, 256), 0);
    for (uint32_t i = 0; i < 256; i++) {
        o.version[i] = i;
        kl_snap_mark(s, 255 - i);
    }
    assert_int_equal(kl_snap_grow(s, 512), 0);
    assert_int_equal(kl_snap_dirty_count(s), 256);
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 256);
    for (uint32_t i = 0; i < 256; i++)
        check_row(&b.rows[i], 255 - i, 255 - i, 0);
    kl_snap_ack(s);
    kl_snap_destroy(s);
}

static void
fill_error_changes_nothing(void **state)
{
    (void)state;
    owner_t o;
    owner_init(&o);
    o.rows_per_slot = 3;
    kl_snap_t *s = kl_snap_create(16);
    assert_non_null(s);
    add_final(s, 7, 5);
    kl_snap_mark(s, 1);
    kl_snap_mark(s, 2);
    kl_snap_mark(s, 3);
    o.version[1] = 1;
    o.version[2] = 2;
    o.version[3] = 3;
    o.fail_slot = 2;
    kl_snap_batch_t b = {NULL, 55};
    assert_int_equal(kl_snap_take(s, fill, &o, &b), KL_EIO);
    assert_int_equal(b.n, 55);
    assert_false(kl_snap_in_flight(s));
    assert_int_equal(kl_snap_dirty_count(s), 3);
    assert_int_equal(kl_snap_pending_rows(s), 1); /* slot 1's rows were undone */
    o.fail_slot = -1;
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 1 + 9);
    check_row(&b.rows[0], 7, 5, 1);
    for (int i = 0; i < 9; i++)
        check_row(&b.rows[1 + i], (uint32_t)(1 + i / 3), 1 + i / 3, 0);
    kl_snap_ack(s);
    kl_snap_destroy(s);
}

static void
enomem_in_add_row_loses_nothing(void **state)
{
    (void)state;
    kl_snap_t *s = kl_snap_create(4);
    assert_non_null(s);
    /* The first row allocates the buffer. */
    kl_alloc_fail_after(1);
    kl_store_row_t r = make_row(0, 0, 0, 1);
    assert_int_equal(kl_snap_add_row(s, &r), KL_ENOMEM);
    kl_alloc_fail_after(0);
    assert_int_equal(kl_snap_pending_rows(s), 0);
    /* Fill the first 1024-row buffer, then fail its doubling. */
    for (int i = 0; i < 1024; i++)
        add_final(s, 0, i);
    kl_alloc_fail_after(1);
    r = make_row(0, 0, 1024, 1);
    assert_int_equal(kl_snap_add_row(s, &r), KL_ENOMEM);
    kl_alloc_fail_after(0);
    assert_int_equal(kl_snap_pending_rows(s), 1024);
    assert_int_equal(kl_snap_add_row(s, &r), 0);
    assert_int_equal(kl_snap_pending_rows(s), 1025);
    owner_t o;
    owner_init(&o);
    kl_snap_batch_t b;
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 1025);
    for (int i = 0; i < 1025; i++)
        check_row(&b.rows[i], 0, i, 1);
    kl_snap_ack(s);
    kl_snap_destroy(s);
}

static void
enomem_in_take_changes_nothing(void **state)
{
    (void)state;
    owner_t o;
    owner_init(&o);
    o.rows_per_slot = 600; /* two slots overflow the first 1024-row buffer */
    kl_snap_t *s = kl_snap_create(4);
    assert_non_null(s);
    add_final(s, 3, 77);
    kl_snap_mark(s, 0);
    kl_snap_mark(s, 1);
    kl_alloc_fail_after(1);
    kl_snap_batch_t b = {NULL, 1};
    assert_int_equal(kl_snap_take(s, fill, &o, &b), KL_ENOMEM);
    kl_alloc_fail_after(0);
    assert_false(kl_snap_in_flight(s));
    assert_int_equal(kl_snap_dirty_count(s), 2);
    assert_int_equal(kl_snap_pending_rows(s), 1);
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 1201);
    check_row(&b.rows[0], 3, 77, 1);
    check_row(&b.rows[1], 0, 0, 0);
    check_row(&b.rows[1200], 1, 0, 0);
    kl_snap_ack(s);
    kl_snap_destroy(s);
}

static void
enomem_in_fail_keeps_batch_in_flight(void **state)
{
    (void)state;
    owner_t o;
    owner_init(&o);
    kl_snap_t *s = kl_snap_create(8);
    assert_non_null(s);
    add_final(s, 0, 1);
    add_final(s, 0, 2);
    kl_snap_mark(s, 0);
    kl_snap_mark(s, 5);
    o.version[0] = 3;
    o.version[5] = 50;
    kl_snap_batch_t b;
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 4);
    /* 1100 rollovers while in flight: merging them behind the 2 frozen finals needs more than
     * the frozen buffer's 1024 rows, so kl_snap_fail must allocate. */
    for (int i = 0; i < 1100; i++)
        add_final(s, 6, 100 + i);
    kl_snap_mark(s, 6);
    o.version[6] = 60;
    kl_alloc_fail_after(1);
    assert_int_equal(kl_snap_fail(s), KL_ENOMEM);
    kl_alloc_fail_after(0);
    assert_true(kl_snap_in_flight(s)); /* may be retried */
    assert_int_equal(kl_snap_pending_rows(s), 1100);
    assert_int_equal(kl_snap_fail(s), 0);
    assert_false(kl_snap_in_flight(s));
    assert_int_equal(kl_snap_dirty_count(s), 3);
    assert_int_equal(kl_snap_pending_rows(s), 1102);
    o.version[0] = 4;
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 1102 + 3);
    check_row(&b.rows[0], 0, 1, 1);
    check_row(&b.rows[1], 0, 2, 1);
    for (int i = 0; i < 1100; i++)
        check_row(&b.rows[2 + i], 6, 100 + i, 1);
    check_row(&b.rows[1102], 6, 60, 0);
    check_row(&b.rows[1103], 0, 4, 0);
    check_row(&b.rows[1104], 5, 50, 0);
    kl_snap_ack(s);
    kl_snap_destroy(s);
}

static void
enomem_in_grow_changes_nothing(void **state)
{
    (void)state;
    owner_t o;
    owner_init(&o);
    kl_snap_t *s = kl_snap_create(64);
    assert_non_null(s);
    kl_snap_mark(s, 10);
    kl_snap_batch_t b;
    take_ok(s, &o, &b); /* slot 10 in flight */
    kl_snap_mark(s, 63);
    kl_snap_mark(s, 11);
    int64_t live = kl_alloc_live_bytes();
    /* Each of grow's allocations in turn fails; then it succeeds. */
    int n;
    for (n = 1; n < 20; n++) {
        kl_alloc_fail_after(n);
        int rc = kl_snap_grow(s, 4096);
        kl_alloc_fail_after(0);
        if (rc == 0)
            break;
        assert_int_equal(rc, KL_ENOMEM);
        assert_int_equal(kl_alloc_live_bytes(), live); /* nothing leaked */
        assert_int_equal(kl_snap_dirty_count(s), 2);
        assert_true(kl_snap_in_flight(s));
    }
    assert_true(n > 1 && n < 20);
    kl_snap_mark(s, 4095);
    kl_snap_mark(s, 63);
    add_final(s, 4000, 4000);
    assert_int_equal(kl_snap_dirty_count(s), 3);
    assert_int_equal(kl_snap_fail(s), 0);
    assert_int_equal(kl_snap_dirty_count(s), 4);
    for (uint32_t i = 0; i < 4096; i++)
        o.version[i] = (int64_t)i;
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 5);
    check_row(&b.rows[0], 4000, 4000, 1);
    check_row(&b.rows[1], 63, 63, 0);
    check_row(&b.rows[2], 11, 11, 0);
    check_row(&b.rows[3], 4095, 4095, 0);
    check_row(&b.rows[4], 10, 10, 0);
    kl_snap_ack(s);
    kl_snap_destroy(s);
}

static void
create_fails_cleanly(void **state)
{
    (void)state;
    int64_t live = kl_alloc_live_bytes();
    int n;
    kl_snap_t *s = NULL;
    for (n = 1; n < 20; n++) {
        kl_alloc_fail_after(n);
        s = kl_snap_create(300);
        kl_alloc_fail_after(0);
        if (s)
            break;
        assert_int_equal(kl_alloc_live_bytes(), live);
    }
    assert_non_null(s);
    assert_true(n > 1);
    kl_snap_destroy(s);
    assert_int_equal(kl_alloc_live_bytes(), live);
}

/* The first batch of a fresh state fails while nothing was added meanwhile: the other buffer has
 * never been allocated. kl_snap_fail must merge back without touching it (memcpy from a NULL
 * buffer is undefined behaviour even for 0 bytes; UBSan stops the program there). This is the
 * worker's path when the store is down from the start. Kept last: if it aborts, the others have
 * already run. */
static void
fail_first_batch_with_nothing_added_in_flight(void **state)
{
    (void)state;
    owner_t o;
    owner_init(&o);
    kl_snap_t *s = kl_snap_create(8);
    assert_non_null(s);
    add_final(s, 1, 1);
    kl_snap_mark(s, 2);
    o.version[2] = 2;
    kl_snap_batch_t b;
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 2);
    assert_int_equal(kl_snap_fail(s), 0);
    assert_false(kl_snap_in_flight(s));
    assert_int_equal(kl_snap_dirty_count(s), 1);
    assert_int_equal(kl_snap_pending_rows(s), 1);
    take_ok(s, &o, &b);
    assert_int_equal(b.n, 2);
    check_row(&b.rows[0], 1, 1, 1);
    check_row(&b.rows[1], 2, 2, 0);
    kl_snap_ack(s);
    kl_snap_destroy(s);
}

/* kl_snap_clean: what a removal waits for before the worker may free a parked slot. */
static void
clean_until_committed(void **state)
{
    (void)state;
    owner_t o;
    owner_init(&o);
    kl_snap_t *s = kl_snap_create(200);
    assert_non_null(s);
    assert_true(kl_snap_clean(s, 130));
    assert_true(kl_snap_clean(s, 5000)); /* past the slots: never dirty */
    kl_snap_mark(s, 130);
    assert_false(kl_snap_clean(s, 130));
    assert_true(kl_snap_clean(s, 131));
    kl_snap_batch_t b;
    take_ok(s, &o, &b);
    assert_false(kl_snap_clean(s, 130)); /* in flight */
    assert_int_equal(kl_snap_fail(s), 0);
    assert_false(kl_snap_clean(s, 130)); /* merged back: dirty again */
    take_ok(s, &o, &b);
    kl_snap_ack(s);
    assert_true(kl_snap_clean(s, 130)); /* committed */
    /* Marked again while in flight: not clean after the ack. */
    kl_snap_mark(s, 7);
    take_ok(s, &o, &b);
    kl_snap_mark(s, 7);
    kl_snap_ack(s);
    assert_false(kl_snap_clean(s, 7));
    take_ok(s, &o, &b);
    kl_snap_ack(s);
    assert_true(kl_snap_clean(s, 7));
    kl_snap_destroy(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(take_with_nothing_dirty),
        cmocka_unit_test(take_fills_each_dirty_slot_once),
        cmocka_unit_test(take_order_and_fill_counts),
        cmocka_unit_test(ack_releases),
        cmocka_unit_test(fail_merges_back_finals_first),
        cmocka_unit_test(rollover_between_two_takes),
        cmocka_unit_test(slot_updated_while_in_flight),
        cmocka_unit_test(grow_keeps_dirty_and_in_flight_sets),
        cmocka_unit_test(grow_from_zero),
        cmocka_unit_test(fill_error_changes_nothing),
        cmocka_unit_test(enomem_in_add_row_loses_nothing),
        cmocka_unit_test(enomem_in_take_changes_nothing),
        cmocka_unit_test(enomem_in_fail_keeps_batch_in_flight),
        cmocka_unit_test(enomem_in_grow_changes_nothing),
        cmocka_unit_test(create_fails_cleanly),
        cmocka_unit_test(fail_first_batch_with_nothing_added_in_flight),
        cmocka_unit_test(clean_until_committed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
