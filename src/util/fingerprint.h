/*
 * Key fingerprints as users see them: "SHA256:" and the unpadded base64 of
 * a SHA-256 digest (43 characters), as OpenSSH prints host keys. Parsing
 * also takes 64 hex digits, with or without colons (openssl x509
 * -fingerprint's form). Pure functions.
 */
#ifndef BURROW_FINGERPRINT_H
#define BURROW_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>

#define FINGERPRINT_LEN 32
/* "SHA256:" + 43 + NUL */
#define FINGERPRINT_STR_MAX 51

/* 0, or -1 with a static reason in *why. */
int fingerprint_parse(const char *s, uint8_t out[FINGERPRINT_LEN], const char **why);
void fingerprint_format(const uint8_t fp[FINGERPRINT_LEN],
    char out[FINGERPRINT_STR_MAX]);

#endif
