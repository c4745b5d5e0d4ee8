/* parse.h: unsigned numbers from arguments and files, checked whole. */
#pragma once

#include <stdint.h>

int parse_u64(const char *s, uint64_t *ret);
int parse_u32(const char *s, uint32_t *ret);
int parse_u32_or_hex(const char *s, uint32_t *ret);
