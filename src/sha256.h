/* SPDX-License-Identifier: GPL-2.0-only */
/* SHA-256 (FIPS 180-4), for content hashes people can compare with `sha256sum FILE`. */
#ifndef AEGIS_SHA256_H
#define AEGIS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_HEX_LEN 65	/* 64 hex digits and a NUL */

void sha256(const void *data, size_t len, uint8_t out[32]);
/* Lower-case hex of the digest of data, as sha256sum prints it. */
void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN]);

#endif
