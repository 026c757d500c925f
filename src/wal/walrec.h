/* The worker's WAL records: what a worker logs for each message it applies, encoded for
 * kl_wal_append() and decoded by recovery and `klined wal dump`. Pure functions.
 *
 * FORMAT, little-endian, inside a WAL record's payload (wal.c frames it):
 *   TRADE  (type 1): ts i64, id i64, first_id i64, last_id i64, price i64, qty i64,
 *                    buyer_maker u8, unit u8 (0 = ms, 1 = us), name_len u8, name[name_len]
 *   ADD    (type 2): unit u8, name_len u8, name[name_len]
 *   REMOVE (type 3): name_len u8, name[name_len]
 *   TICK   (type 4): now_ms i64 (the wall clock reached now_ms: rollover of the worker's series)
 *   HOLD   (type 5), RELEASE (type 6): name_len u8, name[name_len] (clock held while a source
 *                    backfills the symbol)
 *   WMARK  (type 7): now_ms i64, name_len u8, name[name_len] (the symbol's feed delivered
 *                    everything before now_ms: its klines that end by then are final)
 * Records carry the symbol's name, not its id: ids are per process, and a record must still mean
 * the same symbol after a restart, whatever worker then owns it. */
#ifndef KL_WAL_WALREC_H
#define KL_WAL_WALREC_H

#include <stddef.h>
#include <stdint.h>

#include "kl/types.h"

enum kl_walrec_type {
    KL_WALREC_TRADE = 1,
    KL_WALREC_ADD = 2,
    KL_WALREC_REMOVE = 3,
    KL_WALREC_TICK = 4,
    KL_WALREC_HOLD = 5,
    KL_WALREC_RELEASE = 6,
    KL_WALREC_WMARK = 7,
};

#define KL_WALREC_MAX 96 /* longest encoded payload */
#define KL_WALREC_NAME_MAX 31

typedef struct kl_walrec {
    int type;
    char name[KL_WALREC_NAME_MAX + 1];
    uint32_t unit_per_ms;
    kl_trade_t trade; /* TRADE only */
    int64_t now_ms;   /* TICK and WMARK only */
} kl_walrec_t;

/* Encodes r into buf (KL_WALREC_MAX bytes); returns the length, 0 if r is invalid. */
size_t kl_walrec_encode(const kl_walrec_t *r, uint8_t *buf);

/* Decodes a payload of the given record type. Returns 0, or KL_EARG when malformed. */
int kl_walrec_decode(uint16_t type, const void *payload, uint32_t len, kl_walrec_t *out);

#endif
