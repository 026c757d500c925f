/* Configuration of `klined serve`: built-in defaults, then one INI file (--config FILE), then
 * command-line flags, validated in full before anything starts. The flag names are part of the
 * product contract (SPEC §3); docs/config.md lists every key with its default and allowed values.
 *
 * Threads: every function here is for the main thread at start-up (kl_config_parse reads the
 * environment with getenv). The filled struct is read-only afterwards and may then be read from
 * any thread.
 *
 * Ownership: strings and arrays reachable from a kl_config_t belong to it and live until
 * kl_config_free. Do not copy the struct and free both copies. */
#ifndef KL_CORE_CONFIG_H
#define KL_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum kl_cfg_source {
    KL_CFG_SRC_BINANCE,     /* "binance": live spot */
    KL_CFG_SRC_REPLAY,      /* "replay:FILE[,FILE...]" -> replay_files */
    KL_CFG_SRC_LINES_STDIN, /* "lines:stdin" */
    KL_CFG_SRC_LINES_TCP,   /* "lines:tcp://HOST:PORT" -> lines_host, lines_port */
    KL_CFG_SRC_KAFKA        /* "kafka://BROKERS/TOPIC" -> kafka_brokers, kafka_topic */
};

enum kl_cfg_store { KL_CFG_STORE_SQLITE, KL_CFG_STORE_POSTGRES };
enum kl_cfg_log { KL_CFG_LOG_DEBUG, KL_CFG_LOG_INFO, KL_CFG_LOG_WARN, KL_CFG_LOG_ERROR };
enum kl_cfg_clock { KL_CFG_CLOCK_AUTO, KL_CFG_CLOCK_WALL, KL_CFG_CLOCK_EVENT };
enum kl_cfg_fsync { KL_CFG_FSYNC_ALWAYS, KL_CFG_FSYNC_EVERYSEC, KL_CFG_FSYNC_NO };
/* auto-add-symbols: AUTO = yes for lines:, replay: and kafka:// when `symbols` is empty (Kafka:
 * always), no for binance (its symbols are `symbols` or quote-assets' exchangeInfo list). */
enum kl_cfg_auto_add { KL_CFG_AUTO_ADD_AUTO, KL_CFG_AUTO_ADD_YES, KL_CFG_AUTO_ADD_NO };
/* What a start may cut from a damaged WAL (docs/config.md `wal-repair`). */
enum kl_cfg_wal_repair { KL_CFG_WAL_REPAIR_TAIL, KL_CFG_WAL_REPAIR_CUT };
enum kl_cfg_token_from {
    KL_CFG_TOKEN_NONE, /* no token anywhere: admin endpoints must refuse every request */
    KL_CFG_TOKEN_ENV,  /* KLINED_ADMIN_TOKEN */
    KL_CFG_TOKEN_FILE, /* the config file (or kl_config_load_text) */
    KL_CFG_TOKEN_FLAG  /* --admin-token */
};

#define KL_CFG_SYMBOL_MAX 31 /* longest served symbol name, in bytes */
#define KL_CFG_WORKERS_MAX 64
#define KL_CFG_CPU_MAX 1023
#define KL_CFG_SHARDS_MAX 1024
#define KL_CFG_TOKEN_MIN 16
#define KL_CFG_TOKEN_MAX 256
#define KL_CFG_CA_FILE_MAX 1023 /* binance-ca-file path, in bytes */

/* One entry of symbols. name is what klined serves ("BTCUSDT"); base/quote are set only when
 * the entry was written BASE/QUOTE, otherwise they are "" and come from exchangeInfo. */
typedef struct kl_cfg_symbol {
    char name[KL_CFG_SYMBOL_MAX + 1];
    char base[KL_CFG_SYMBOL_MAX + 1];
    char quote[KL_CFG_SYMBOL_MAX + 1];
} kl_cfg_symbol_t;

typedef struct kl_config {
    /* source */
    enum kl_cfg_source source;
    const char *const *replay_files; /* REPLAY: n_replay_files >= 1 paths, in the given order */
    size_t n_replay_files;
    const char *lines_host;          /* LINES_TCP: "127.0.0.1" or "localhost" */
    uint16_t lines_port;             /* LINES_TCP: 1..65535 */
    const char *kafka_brokers;       /* KAFKA: "host:port[,host:port...]" as given */
    const char *kafka_topic;         /* KAFKA */
    const char *binance_ws;          /* ws:// or wss://, trailing '/' removed */
    const char *binance_rest;        /* http:// or https://, trailing '/' removed */
    const char *binance_ca_file;     /* "" = the system CA bundle; else a PEM file that was a
                                        readable regular file when the config was loaded */
    const char *quote_assets;        /* "" or "USDT,FDUSD": with no symbols, the binance source
                                        follows every TRADING symbol of these quote assets */
    const char *binance_stream;      /* "aggTrade" (default) or "trade" (raw trades, backfilled
                                        from historicalTrades); keep it per store */
    double pace;                     /* 0 = full speed; > 0 only with REPLAY (1 = real time) */
    const char *group;               /* Kafka consumer group */
    const char *bridge_brokers;      /* klined bridge: bridge-to = kafka://BROKERS/TOPIC */
    const char *bridge_topic;        /* NULL when not set */
    const char *sink_brokers;        /* kline-sink = kafka://BROKERS/TOPIC; NULL: no sink */
    const char *sink_topic;
    bool sink_live;                  /* kline-sink-live: the open klines of each commit too */
    uint64_t sink_queue_bytes;       /* kline-sink-queue-bytes: klines waiting for the broker;
                                        beyond, new ones are dropped and counted */
    bool lines_ack;                  /* lines-ack: lines:tcp clients get "ack N" lines back */

    /* storage */
    enum kl_cfg_store store;
    const char *store_url;  /* the whole value: "sqlite:PATH" or "postgres(ql)://..." */
    const char *store_path; /* SQLITE: PATH; NULL for POSTGRES (pass store_url to libpq) */
    const char *wal_dir;
    enum kl_cfg_fsync fsync;
    enum kl_cfg_wal_repair wal_repair;
    int persist_ms; /* snapshot/commit period, 50..60000 */

    /* API */
    const char *listen_host; /* without IPv6 brackets */
    uint16_t listen_port;
    const char *admin_token; /* NULL when admin_token_from == KL_CFG_TOKEN_NONE */
    enum kl_cfg_token_from admin_token_from;
    int push_ms; /* WS push cadence; 0 = every update */
    const char *web_root; /* directory served at / (the chart page) */
    int api_cpu;          /* CPU the API thread is pinned to; -1: not pinned */
    int max_connections;  /* WS + HTTP clients at once */
    int max_streams;      /* WS subscriptions per connection */
    int ws_queue;         /* frames queued per WS client before it is disconnected as slow */
    /* API store reads (api/reader.c) and the API's per-symbol memory (api/hub.c) */
    int api_readers;          /* reader threads, each with its own store connection */
    int api_read_queue;       /* klines reads queued or running at once; more: 503 */
    int64_t api_read_queue_bytes; /* their estimated answers' bytes at once; more: 503 */
    int64_t max_query_rows;   /* base klines one query may read or fold; more: 400 */
    int64_t api_cache_bytes;  /* the API's per-symbol memory; idle symbols evicted beyond */
    int pg_statement_timeout_ms; /* statement_timeout of the API's PostgreSQL reads; 0: none */
    int64_t ws_queue_bytes;       /* bytes queued per WS client before it is disconnected */
    int64_t ws_total_queue_bytes; /* bytes queued for all WS clients together */
    int max_conns_per_ip;         /* connections (HTTP + WS) from one address at once */
    int header_timeout_s;         /* a connection without a complete request is closed after */
    const char *allowed_origins;  /* comma list of origins, "*"; NULL: the service's own page */

    /* what to compute */
    const kl_cfg_symbol_t *symbols; /* n_symbols entries, distinct names; none = empty list */
    size_t n_symbols;
    uint32_t intervals;             /* bit mask of enum kl_iv; KL_IV_ALL by default */
    int32_t tz_minutes;             /* -720..840 */
    int lateness_ms;                /* 0..1000 */
    int disorder_ms;                /* 0..5000: allowed time disorder on one feed connection */
    int idle_ms;                    /* 100..600000: a silent lines client or Kafka
                                       partition closes its klines */
    int max_skew_ms;                /* 100..3600000: live trades further ahead are refused */
    enum kl_cfg_clock clock;        /* as configured */
    enum kl_cfg_clock clock_effective; /* WALL or EVENT: AUTO resolved against the source */

    /* threads */
    int workers;          /* 1..64 */
    const int *cpus;      /* n_cpus distinct ids 0..1023; worker i runs on cpus[i % n_cpus] */
    size_t n_cpus;        /* 0 = workers are not pinned */
    uint32_t queue_capacity; /* per-worker queue slots, power of two 1024..1048576 */
    uint32_t max_pending_rows; /* per worker: rows held for the store before the worker stops
                                  taking trades (backpressure during a store outage) */
    uint32_t parked_symbols; /* per worker: removed symbols whose series stay in memory for a
                                re-add, 0..100000 (beyond: resumed from the store) */
    /* symbol creation bounds (issue 12, C2) */
    uint32_t max_symbols;         /* live symbols, 1..1000000; >= n_symbols */
    uint32_t symbol_create_rate;  /* new symbols per second from trades, 0 (unpaced)..1000000 */
    uint32_t symbol_create_burst; /* ... at once, 1..1000000 */
    enum kl_cfg_auto_add auto_add; /* unknown symbols met in trades are added */

    /* scale-out and run control */
    uint32_t shard_index; /* shard_index < shard_count <= 1024 */
    uint32_t shard_count;
    bool exit_on_eof;
    uint32_t log_buffer_bytes; /* log-buffer-bytes: log lines waiting for a slow stderr */
    int shutdown_timeout_ms; /* shutdown-timeout-ms: graceful stop bound; the rest stays in the
                                WAL for the next start */
    int stats_s;          /* 0 = no periodic stats line, else 1..3600 */
    enum kl_cfg_log log_level;

    const char *config_path; /* the --config FILE, or NULL */
    bool help;               /* --help or -h was given: print kl_config_usage, exit 0 */

    void *mem_; /* private: every allocation above, freed by kl_config_free */
} kl_config_t;

/* Fills *c with the defaults. Allocates nothing; a defaulted struct needs no kl_config_free
 * (calling it is harmless). */
void kl_config_defaults(kl_config_t *c);

/* Applies `serve` arguments on top of *c (normally fresh from kl_config_defaults): first the
 * file named by --config, if any, then every other flag in argv order (last one wins), then
 * KLINED_ADMIN_TOKEN if no admin-token was given, then cross-key checks. argv[0] is the
 * subcommand name and is skipped. If --help/-h appears anywhere, sets c->help and returns 0
 * without reading anything else.
 * Returns 0, KL_ECONFIG (bad value, unknown flag, unreadable file) or KL_ENOMEM; on error writes
 * one line, without newline, to err[0..cap) and leaves *c exactly as it was. */
int kl_config_parse(kl_config_t *c, int argc, char **argv, char *err, size_t cap);

/* Applies INI text on top of *c, then the same env and cross-key steps as kl_config_parse.
 * origin names the text in messages ("ORIGIN:LINE: ..."). Same returns and error contract. */
int kl_config_load_text(kl_config_t *c, const char *text, const char *origin, char *err,
                        size_t cap);

/* Frees what *c owns and resets it to the defaults. */
void kl_config_free(kl_config_t *c);

/* Writes one "key = value" line per key, with the effective values, in a form that reads back
 * as a config file. The admin token is never printed (only its length and origin), nor a
 * password inside a postgres URL. */
void kl_config_describe(const kl_config_t *c, FILE *f);

/* The `klined serve` flag summary, for --help. */
void kl_config_usage(FILE *f);

#endif
