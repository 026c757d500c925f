/* A strict reader of admin request bodies (adminbody.h). Before, the symbol was the first
 * string after the first "symbol" substring anywhere in the body: {"x":"\"symbol\":\"A\""}
 * named symbol A. Here the body is parsed as JSON (RFC 8259 grammar for the flat object shape
 * we accept) and only a top-level member named exactly "symbol" counts. */
#include "api/adminbody.h"

#include <string.h>

typedef struct rd {
    const char *s;
    size_t n, i;
} rd_t;

static void
ws(rd_t *r)
{
    while (r->i < r->n && (r->s[r->i] == ' ' || r->s[r->i] == '\t' || r->s[r->i] == '\n' ||
                           r->s[r->i] == '\r'))
        r->i++;
}

static int
hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The string at r->i (on its quote), decoded into out[0..cap) when out is given (the decoded
 * length in *len, which may exceed cap). UTF-8 is passed through as is (only its bytes are
 * checked for control characters); \u escapes are decoded, surrogate pairs joined, a lone
 * surrogate refused. Returns 0 or -1. */
static int
string(rd_t *r, char *out, size_t cap, size_t *len)
{
    size_t o = 0;
    r->i++;
    for (;;) {
        if (r->i >= r->n)
            return -1;
        unsigned char c = (unsigned char)r->s[r->i++];
        if (c == '"')
            break;
        if (c < 0x20)
            return -1;
        unsigned cp = c;
        if (c == '\\') {
            if (r->i >= r->n)
                return -1;
            char e = r->s[r->i++];
            const char *simple = strchr("\"\\/bfnrt", e);
            if (e && simple) {
                static const char to[] = "\"\\/\b\f\n\r\t";
                cp = (unsigned char)to[simple - "\"\\/bfnrt"];
            } else if (e == 'u') {
                unsigned v[2] = {0, 0};
                int k;
                for (k = 0; k < 2; k++) {
                    if (r->n - r->i < 4)
                        return -1;
                    for (int d = 0; d < 4; d++) {
                        int h = hexval(r->s[r->i + (size_t)d]);
                        if (h < 0)
                            return -1;
                        v[k] = v[k] * 16 + (unsigned)h;
                    }
                    r->i += 4;
                    if (k == 0 && !(v[0] >= 0xd800 && v[0] <= 0xdbff))
                        break;
                    if (k == 0 && (r->n - r->i < 2 || r->s[r->i] != '\\' || r->s[r->i + 1] != 'u'))
                        return -1;
                    if (k == 0)
                        r->i += 2;
                }
                if (v[0] >= 0xdc00 && v[0] <= 0xdfff)
                    return -1;
                if (v[0] >= 0xd800 && v[0] <= 0xdbff) {
                    if (v[1] < 0xdc00 || v[1] > 0xdfff)
                        return -1;
                    cp = 0x10000 + ((v[0] - 0xd800) << 10) + (v[1] - 0xdc00);
                } else {
                    cp = v[0];
                }
            } else {
                return -1;
            }
        }
        unsigned char b[4];
        size_t bn;
        if (cp < 0x80 || c != '\\') { /* a raw byte, or an escape of an ASCII one */
            b[0] = (unsigned char)cp;
            bn = 1;
        } else if (cp < 0x800) {
            b[0] = (unsigned char)(0xc0 | (cp >> 6));
            b[1] = (unsigned char)(0x80 | (cp & 0x3f));
            bn = 2;
        } else if (cp < 0x10000) {
            b[0] = (unsigned char)(0xe0 | (cp >> 12));
            b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
            b[2] = (unsigned char)(0x80 | (cp & 0x3f));
            bn = 3;
        } else {
            b[0] = (unsigned char)(0xf0 | (cp >> 18));
            b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
            b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
            b[3] = (unsigned char)(0x80 | (cp & 0x3f));
            bn = 4;
        }
        for (size_t k = 0; k < bn; k++, o++)
            if (out && o < cap)
                out[o] = (char)b[k];
    }
    if (len)
        *len = o;
    return 0;
}

static int
number(rd_t *r)
{
    size_t st = r->i;
    if (r->i < r->n && r->s[r->i] == '-')
        r->i++;
    if (r->i >= r->n)
        return -1;
    if (r->s[r->i] == '0') {
        r->i++;
    } else if (r->s[r->i] >= '1' && r->s[r->i] <= '9') {
        while (r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9')
            r->i++;
    } else {
        return -1;
    }
    if (r->i < r->n && r->s[r->i] == '.') {
        size_t d = ++r->i;
        while (r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9')
            r->i++;
        if (r->i == d)
            return -1;
    }
    if (r->i < r->n && (r->s[r->i] == 'e' || r->s[r->i] == 'E')) {
        r->i++;
        if (r->i < r->n && (r->s[r->i] == '+' || r->s[r->i] == '-'))
            r->i++;
        size_t d = r->i;
        while (r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9')
            r->i++;
        if (r->i == d)
            return -1;
    }
    return r->i > st ? 0 : -1;
}

static int
literal(rd_t *r, const char *w)
{
    size_t k = strlen(w);
    if (r->n - r->i < k || memcmp(r->s + r->i, w, k) != 0)
        return -1;
    r->i += k;
    return 0;
}

int
kl_admin_body_symbol(const char *body, size_t n, char *out, size_t cap)
{
    rd_t r = {body, n, 0};
    int found = 0;
    if (cap == 0)
        return -1;
    out[0] = '\0';
    ws(&r);
    if (r.i >= r.n || body[r.i] != '{')
        return -1;
    r.i++;
    ws(&r);
    if (r.i < r.n && body[r.i] == '}') {
        r.i++;
    } else {
        for (;;) {
            if (r.i >= r.n || body[r.i] != '"')
                return -1;
            char key[8];
            size_t kl;
            if (string(&r, key, sizeof key, &kl) != 0)
                return -1;
            ws(&r);
            if (r.i >= r.n || body[r.i] != ':')
                return -1;
            r.i++;
            ws(&r);
            if (r.i >= r.n)
                return -1;
            int is_symbol = kl == 6 && memcmp(key, "symbol", 6) == 0;
            char c = body[r.i];
            if (is_symbol) {
                size_t vl;
                if (found || c != '"' || string(&r, out, cap, &vl) != 0 || vl >= cap ||
                    memchr(out, '\0', vl))
                    return -1;
                out[vl] = '\0';
                found = 1;
            } else if (c == '"') {
                if (string(&r, NULL, 0, NULL) != 0)
                    return -1;
            } else if (c == 't' || c == 'f' || c == 'n') {
                if (literal(&r, c == 't' ? "true" : c == 'f' ? "false" : "null") != 0)
                    return -1;
            } else if (number(&r) != 0) {
                return -1; /* objects and arrays too: flat bodies only */
            }
            ws(&r);
            if (r.i < r.n && body[r.i] == ',') {
                r.i++;
                ws(&r);
                continue;
            }
            if (r.i < r.n && body[r.i] == '}') {
                r.i++;
                break;
            }
            return -1;
        }
    }
    ws(&r);
    if (r.i != r.n) {
        out[0] = '\0';
        return -1;
    }
    if (!found)
        out[0] = '\0';
    return found;
}
