/* Error codes shared by every module. Functions return 0 on success and a negative KL_E* code
 * (or -errno) on failure; the codes and their messages come from one table, KL_ERR_MAP. */
#ifndef KL_ERR_H
#define KL_ERR_H

#define KL_ERR_MAP(X)                                                                  \
    X(EDEC_SYNTAX, -1001, "not a decimal number")                                      \
    X(EDEC_PRECISION, -1002, "more than 8 decimal places")                             \
    X(EDEC_OVERFLOW, -1003, "decimal out of range")                                    \
    X(EINT_SYNTAX, -1004, "not an integer")                                            \
    X(EINT_OVERFLOW, -1005, "integer out of range")                                    \
    X(EBOOL, -1006, "not a boolean (true/false)")                                      \
    X(ECOLUMNS, -1007, "wrong number of columns")                                      \
    X(ELINE, -1008, "line too long or not terminated")                                 \
    X(ETRADE, -1009, "inconsistent trade (price<=0, qty<=0 or last id < first id)")    \
    X(ETIME, -1010, "timestamp out of range")                                          \
    X(EINTERVAL, -1011, "unknown interval")                                            \
    X(ETZ, -1012, "bad time zone offset (allowed -12:00 .. +14:00)")                   \
    X(ELAYOUT, -1013, "unrecognised CSV layout")                                       \
    X(EZIP, -1014, "zip archive error")                                                \
    X(EARG, -1015, "invalid argument")                                                 \
    X(ENOMEM, -1016, "out of memory")                                                  \
    X(EIO, -1017, "I/O error")                                                         \
    X(EUNIT, -1018, "files of one series disagree on their time unit")                 \
    X(EJSON, -1019, "malformed JSON or a field of the wrong type")                     \
    X(EJSON_FIELD, -1020, "a required field is missing")                               \
    X(EJSON_EVENT, -1021, "not a trade or aggTrade event")                             \
    X(ESTORE, -1022, "store error")                                                    \
    X(ECONFIG, -1023, "invalid configuration")                                         \
    X(EFULL, -1024, "queue full")                                                      \
    X(ESYMLIMIT, -1031, "new symbol refused (max-symbols or symbol-create-rate)")      \
    X(ESHUTDOWN, -1025, "shutting down")                                               \
    X(ESHARD, -1026, "the symbol belongs to another shard (--shard)")                 \
    X(ETRUNC, -1027, "the file shrank while it was read")

enum kl_err {
#define KL_ERR_ENUM(name, code, msg) KL_##name = (code),
    KL_ERR_MAP(KL_ERR_ENUM)
#undef KL_ERR_ENUM
};

/* Message for a KL_E* code or a negative errno. Never NULL; static storage. Any thread. */
const char *kl_strerror(int err);

#endif
