/* kl_strerror(): messages for the KL_ERR_MAP codes and for negative errno values. */
#include <string.h>

#include "kl/err.h"

const char *
kl_strerror(int err)
{
    switch (err) {
#define KL_ERR_CASE(name, code, msg) \
    case KL_##name:                  \
        return msg;
        KL_ERR_MAP(KL_ERR_CASE)
#undef KL_ERR_CASE
    default:
        break;
    }
    if (err < 0 && err > -4096)
        return strerror(-err);
    return err == 0 ? "success" : "unknown error";
}
