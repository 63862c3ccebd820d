/* Hex and base64 text forms of binary data (key ids, keys, nonces), over libsodium. */
#ifndef EBB_COMMON_ENCODING_H
#define EBB_COMMON_ENCODING_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Buffer size (with the NUL) that ebb_hex_encode needs for bin_len bytes. */
size_t ebb_hex_size(size_t bin_len);

/*
 * Lower-case hex of bin into out (caller's buffer of out_size bytes, at least
 * ebb_hex_size(bin_len)); NUL-terminated. EBB_E_INVALID when out is too small.
 */
EBB_MUSTCHECK ebb_code ebb_hex_encode(const uint8_t *bin, size_t bin_len, char *out,
                                      size_t out_size, ebb_error *err);

/*
 * Decode the whole NUL-terminated hex string into out (caller's buffer of
 * out_size bytes). Strict: an odd length, a non-hex character or more bytes
 * than out_size is EBB_E_INVALID. *out_len is set only on success.
 */
EBB_MUSTCHECK ebb_code ebb_hex_decode(const char *hex, uint8_t *out, size_t out_size,
                                      size_t *out_len, ebb_error *err);

/* Buffer size (with the NUL) that ebb_base64_encode needs for bin_len bytes. */
size_t ebb_base64_size(size_t bin_len);

/* Standard base64 (RFC 4648, with padding) of bin into out; NUL-terminated. */
EBB_MUSTCHECK ebb_code ebb_base64_encode(const uint8_t *bin, size_t bin_len, char *out,
                                         size_t out_size, ebb_error *err);

/*
 * Decode the whole NUL-terminated standard base64 string into out (caller's
 * buffer). Strict: no whitespace, correct padding, at most out_size bytes.
 * *out_len is set only on success.
 */
EBB_MUSTCHECK ebb_code ebb_base64_decode(const char *b64, uint8_t *out, size_t out_size,
                                         size_t *out_len, ebb_error *err);

#endif
