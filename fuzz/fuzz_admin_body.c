/* libFuzzer target for kl_admin_body_symbol(), which reads admin POST bodies. Beyond "no crash,
 * no read past n", it checks: the result is -1, 0 or 1; a found symbol is NUL-terminated, fits
 * the buffer and holds no NUL; whitespace around the body changes nothing; and a found symbol,
 * written back as {"symbol":"<it, escaped>"}, reads back as itself. Any violation is a trap. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Compiled into this target for coverage inside the parser. */
#include "api/adminbody.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (!(cond))                                                                             \
            __builtin_trap();                                                                    \
    } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    char v[64], w[64];
    int rc = kl_admin_body_symbol((const char *)data, size, v, sizeof v);
    CHECK(rc >= -1 && rc <= 1);
    if (rc == 1)
        CHECK(strlen(v) < sizeof v);

    char *padded = malloc(size + 4);
    if (!padded)
        return 0;
    padded[0] = ' ';
    padded[1] = '\n';
    memcpy(padded + 2, data, size);
    padded[size + 2] = '\t';
    padded[size + 3] = ' ';
    int rc2 = kl_admin_body_symbol(padded, size + 4, w, sizeof w);
    free(padded);
    CHECK(rc2 == rc);
    if (rc == 1)
        CHECK(strcmp(v, w) == 0);

    if (rc == 1) {
        char body[64 * 6 + 16];
        size_t o = (size_t)snprintf(body, sizeof body, "{\"symbol\":\"");
        for (const char *c = v; *c; c++) {
            unsigned char b = (unsigned char)*c;
            if (b == '"' || b == '\\' || b < 0x20)
                o += (size_t)snprintf(body + o, sizeof body - o, "\\u%04x", b);
            else
                body[o++] = (char)b;
        }
        o += (size_t)snprintf(body + o, sizeof body - o, "\"}");
        CHECK(kl_admin_body_symbol(body, o, w, sizeof w) == 1);
        CHECK(strcmp(v, w) == 0);
    }
    return 0;
}
