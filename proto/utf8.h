/* utf8.h: strict UTF-8 checks, for names on the wire and text shown to users. */
#pragma once

#include <stddef.h>

size_t utf8_sequence_len(const char *s, size_t left);
void utf8_sanitize(char *s);
