/* Hex and base64 text forms of binary data, over libsodium. */
#include "common/encoding.h"

#include <sodium.h>
#include <string.h>

size_t ebb_hex_size(size_t bin_len)
{
    return bin_len * 2 + 1;
}

ebb_code ebb_hex_encode(const uint8_t *bin, size_t bin_len, char *out, size_t out_size,
                        ebb_error *err)
{
    if (out_size < ebb_hex_size(bin_len))
        return ebb_error_set(err, EBB_E_INVALID, "hex: %zu bytes need a buffer of %zu, got %zu",
                             bin_len, ebb_hex_size(bin_len), out_size);
    sodium_bin2hex(out, out_size, bin, bin_len);
    return EBB_OK;
}

ebb_code ebb_hex_decode(const char *hex, uint8_t *out, size_t out_size, size_t *out_len,
                        ebb_error *err)
{
    size_t hex_len = strlen(hex);
    if (hex_len % 2 != 0)
        return ebb_error_set(err, EBB_E_INVALID, "hex: odd length %zu", hex_len);
    if (hex_len / 2 > out_size)
        return ebb_error_set(err, EBB_E_INVALID, "hex: %zu bytes do not fit in %zu", hex_len / 2,
                             out_size);
    size_t bin_len = 0;
    const char *end = NULL;
    /* sodium stops at the first non-hex character; demand it consumed all. */
    if (sodium_hex2bin(out, out_size, hex, hex_len, NULL, &bin_len, &end) != 0 ||
        end != hex + hex_len)
        return ebb_error_set(err, EBB_E_INVALID, "hex: not a hex string: '%.64s'", hex);
    *out_len = bin_len;
    return EBB_OK;
}

size_t ebb_base64_size(size_t bin_len)
{
    return sodium_base64_ENCODED_LEN(bin_len, sodium_base64_VARIANT_ORIGINAL);
}

ebb_code ebb_base64_encode(const uint8_t *bin, size_t bin_len, char *out, size_t out_size,
                           ebb_error *err)
{
    if (out_size < ebb_base64_size(bin_len))
        return ebb_error_set(err, EBB_E_INVALID, "base64: %zu bytes need a buffer of %zu, got %zu",
                             bin_len, ebb_base64_size(bin_len), out_size);
    sodium_bin2base64(out, out_size, bin, bin_len, sodium_base64_VARIANT_ORIGINAL);
    return EBB_OK;
}

ebb_code ebb_base64_decode(const char *b64, uint8_t *out, size_t out_size, size_t *out_len,
                           ebb_error *err)
{
    size_t b64_len = strlen(b64);
    size_t bin_len = 0;
    const char *end = NULL;
    if (sodium_base642bin(out, out_size, b64, b64_len, NULL, &bin_len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != b64 + b64_len)
        return ebb_error_set(err, EBB_E_INVALID,
                             "base64: not valid base64 of at most %zu bytes: '%.64s'", out_size,
                             b64);
    *out_len = bin_len;
    return EBB_OK;
}
