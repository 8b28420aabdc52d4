/*
 * numfmt.c: shortest round-trip formatting with ECMAScript's layout rules (ECMA-262
 * Number::toString): with k significant digits and decimal exponent n (value = 0.d1..dk x 10^n),
 * fixed notation when -6 < n <= 21, otherwise d.ddde+/-x.
 */
#include "util/numfmt.h"

#include <stdbool.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t hs_fmt_double(double v, char *buf, size_t len)
{
    if (isnan(v))
        return (size_t)snprintf(buf, len, "NaN");
    if (isinf(v))
        return (size_t)snprintf(buf, len, v > 0 ? "Infinity" : "-Infinity");
    if (v == 0)
        return (size_t)snprintf(buf, len, "0");
    char tmp[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    /* tmp: [-]d[.ddd]e[+-]xx -> digits and exponent */
    char digits[24];
    size_t k = 0;
    const char *p = tmp;
    int neg = *p == '-';
    if (neg)
        p++;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[k++] = *p;
    while (k > 1 && digits[k - 1] == '0')
        k--;
    digits[k] = 0;
    int n = atoi(p + 1) + 1;
    char out[64];
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    if ((int)k <= n && n <= 21) {
        memcpy(out + o, digits, k);
        o += k;
        for (int i = 0; i < n - (int)k; i++)
            out[o++] = '0';
    } else if (0 < n && n <= 21) {
        memcpy(out + o, digits, (size_t)n);
        o += (size_t)n;
        out[o++] = '.';
        memcpy(out + o, digits + n, k - (size_t)n);
        o += k - (size_t)n;
    } else if (-6 < n && n <= 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -n; i++)
            out[o++] = '0';
        memcpy(out + o, digits, k);
        o += k;
    } else {
        out[o++] = digits[0];
        if (k > 1) {
            out[o++] = '.';
            memcpy(out + o, digits + 1, k - 1);
            o += k - 1;
        }
        o += (size_t)snprintf(out + o, sizeof(out) - o, "e%c%d", n - 1 >= 0 ? '+' : '-',
                              abs(n - 1));
    }
    out[o] = 0;
    return (size_t)snprintf(buf, len, "%s", out);
}

int hs_parse_int64(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == len)
        return 0;
    /* accumulate as a negative number so that INT64_MIN fits */
    int64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        int d = s[i] - '0';
        if (v < (INT64_MIN + d) / 10)
            return 0;
        v = v * 10 - d;
    }
    if (!neg) {
        if (v == INT64_MIN)
            return 0;
        v = -v;
    }
    *out = v;
    return 1;
}
