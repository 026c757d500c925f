/* Internals of the kline engine shared by its own files (kline.c, kline_state.c) only. */
#ifndef KL_ENGINE_KLINE_INT_H
#define KL_ENGINE_KLINE_INT_H

#include "engine/kline.h"

#define CUR(s, i) (&(s)->st[(i)])
#define PREV(s, i) (&(s)->st[(s)->sched->n + (i)])

/* dst += src; src has at least one trade. dst keeps its open/close times. */
void kl_agg_merge(kl_agg_t *dst, const kl_agg_t *src);

#endif
