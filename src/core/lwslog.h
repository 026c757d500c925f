/* The one owner of libwebsockets' log callback. lws keeps a single, process-wide callback (and
 * level): two modules setting it would race and steal each other's lines. Here it is set once,
 * on the main thread before any thread starts, and each thread that runs an lws context says
 * under which component its lines go and, optionally, a hook that sees them first; that state is
 * thread-local, as lws logs from the thread that services the context. */
#ifndef KL_CORE_LWSLOG_H
#define KL_CORE_LWSLOG_H

#include <stddef.h>

/* Sees one lws line (without its trailing newline) before it is logged. */
typedef void (*kl_lwslog_hook_t)(int lws_level, const char *line, size_t n);

/* Installs the callback (errors and warnings of lws). Idempotent; call it on the main thread
 * before starting threads (every module that creates an lws context calls it at creation). */
void kl_lwslog_init(void);

/* The calling thread's lws lines go to component comp (a static string), through hook when it
 * is not NULL, at most one per second (the rest are counted in the next line). Thread-local:
 * call it on the thread that services the context. A thread that never calls it logs under
 * "lws". */
void kl_lwslog_bind(const char *comp, kl_lwslog_hook_t hook);

#endif
