/* Exchange time: anchored wall clock + monotonic elapsed + server offset (see evtime.h). */
#include "core/evtime.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

static pthread_once_t anchor_once = PTHREAD_ONCE_INIT;
static int64_t anchor_wall_ms, anchor_mono_ms;
static _Atomic int64_t offset_ms;

static int64_t
clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
anchor(void)
{
    anchor_mono_ms = clock_ms(CLOCK_MONOTONIC);
    anchor_wall_ms = clock_ms(CLOCK_REALTIME);
}

static int64_t
local_ms(void)
{
    pthread_once(&anchor_once, anchor);
    return anchor_wall_ms + (clock_ms(CLOCK_MONOTONIC) - anchor_mono_ms);
}

int64_t
kl_evtime_now_ms(void)
{
    return local_ms() + atomic_load_explicit(&offset_ms, memory_order_relaxed);
}

void
kl_evtime_sync(int64_t server_ms)
{
    atomic_store_explicit(&offset_ms, server_ms - local_ms(), memory_order_relaxed);
}

int64_t
kl_evtime_offset_ms(void)
{
    pthread_once(&anchor_once, anchor);
    return atomic_load_explicit(&offset_ms, memory_order_relaxed);
}

void
kl_evtime_shift_for_test(int64_t delta_ms)
{
    atomic_fetch_add_explicit(&offset_ms, delta_ms, memory_order_relaxed);
}
