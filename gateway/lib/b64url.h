/* b64url: base64url (RFC 4648 §5) without padding, as JWS uses it.
 *
 * Decoding is strict on purpose: a token has exactly one encoding, so '=',
 * '+', '/', whitespace, an impossible length (len % 4 == 1) and non-zero
 * trailing bits are all refused. That keeps two different strings from
 * verifying as the same token and keeps the token cache key canonical. */
#ifndef GW_B64URL_H
#define GW_B64URL_H

#include <stddef.h>

/* Decoded size of n encoded chars (exact when n is a valid length). */
#define B64URL_DECODED_LEN(n) (((n) / 4) * 3 + ((n) % 4 > 1 ? (n) % 4 - 1 : 0))
/* Encoded size of n bytes, without padding and without the NUL. */
#define B64URL_ENCODED_LEN(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))

/* Decodes in[0..len) into out (cap bytes). Returns 0 and sets *outlen, or -1
 * when the input is not canonical unpadded base64url or does not fit. */
int b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap, size_t *outlen);

/* Encodes in[0..len) into out, NUL-terminated. Returns 0 and sets *outlen
 * (without the NUL; outlen may be NULL), or -1 when cap is too small. */
int b64url_encode(const unsigned char *in, size_t len, char *out, size_t cap, size_t *outlen);

#endif
