/* parse.c: unsigned numbers from arguments and files, checked whole. */
#include <errno.h>
#include <stdbool.h>

#include "parse.h"

/* The value of digit c in base (10 or 16), or -1. */
static int digit_value(char c, unsigned base) {
        int d;

        if (c >= '0' && c <= '9')
                d = c - '0';
        else if (c >= 'a' && c <= 'f')
                d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
                d = c - 'A' + 10;
        else
                return -1;
        return d < (int)base ? d : -1;
}

/* Digits only: -EINVAL for none or for anything else, -ERANGE past max. */
static int parse_digits(const char *s, unsigned base, uint64_t max, uint64_t *ret) {
        bool overflow = false;
        uint64_t v = 0;

        if (!*s)
                return -EINVAL;
        for (; *s; s++) {
                int d = digit_value(*s, base);

                if (d < 0)
                        return -EINVAL;
                if (v > (max - (uint64_t)d) / base)
                        overflow = true;
                else
                        v = v * base + (uint64_t)d;
        }
        if (overflow)
                return -ERANGE;
        *ret = v;
        return 0;
}

static int parse_u32_base(const char *s, unsigned base, uint32_t *ret) {
        uint64_t v;
        int r;

        r = parse_digits(s, base, UINT32_MAX, &v);
        if (r < 0)
                return r;
        *ret = (uint32_t)v;
        return 0;
}

/*
 * parse_u64() - a decimal number, the whole string.
 *
 * No sign, no blanks, nothing after the digits. Returns 0 with *ret set,
 * -EINVAL for anything but digits (or none), -ERANGE for too large a number.
 */
int parse_u64(const char *s, uint64_t *ret) {
        return parse_digits(s, 10, UINT64_MAX, ret);
}

/* parse_u32() - as parse_u64(), up to UINT32_MAX. */
int parse_u32(const char *s, uint32_t *ret) {
        return parse_u32_base(s, 10, ret);
}

/* parse_u32_or_hex() - as parse_u32(), or hexadecimal after "0x" or "0X"
 * (xnsctl's opcodes and arguments). A leading 0 alone is still decimal. */
int parse_u32_or_hex(const char *s, uint32_t *ret) {
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
                return parse_u32_base(s + 2, 16, ret);
        return parse_u32_base(s, 10, ret);
}
