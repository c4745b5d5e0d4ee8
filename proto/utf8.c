/* utf8.c: strict UTF-8 checks, for names on the wire and text shown to users. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "utf8.h"

/* How long the sequence that lead byte c starts is; 0 when c starts none. */
static size_t utf8_lead_len(unsigned char c) {
        if (c < 0x80)
                return 1;
        if ((c & 0xe0) == 0xc0)
                return 2;
        if ((c & 0xf0) == 0xe0)
                return 3;
        if ((c & 0xf8) == 0xf0)
                return 4;
        return 0;
}

/* Continuation bytes s[1] to s[n - 1]. */
static bool utf8_continues(const unsigned char *s, size_t n) {
        for (size_t i = 1; i < n; i++)
                if ((s[i] & 0xc0) != 0x80)
                        return false;
        return true;
}

/* The length of the sequence at s, within left bytes; 0 when it is not
 * strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
size_t utf8_sequence_len(const char *s, size_t left) {
        static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
        const unsigned char *u = (const unsigned char *)s;
        size_t n = utf8_lead_len(u[0]);
        uint32_t cp;

        if (n == 0 || n > left || !utf8_continues(u, n))
                return 0;
        if (n == 1)
                return 1;
        cp = u[0] & (0x7f >> n);
        for (size_t i = 1; i < n; i++)
                cp = (cp << 6) | (u[i] & 0x3f);
        if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

/* Makes the string s valid UTF-8 in place: a sequence cut short at the end
 * (the kernel cuts a command name at 15 bytes, not at a character) is
 * dropped, and every other byte that starts no valid sequence becomes '?'. */
void utf8_sanitize(char *s) {
        size_t len = strlen(s);

        for (size_t i = 0; i < len;) {
                const unsigned char *u = (const unsigned char *)s + i;
                size_t n = utf8_sequence_len(s + i, len - i);

                if (n) {
                        i += n;
                } else if (utf8_lead_len(u[0]) > len - i && utf8_continues(u, len - i)) {
                        s[i] = '\0';
                        return;
                } else {
                        s[i++] = '?';
                }
        }
}
