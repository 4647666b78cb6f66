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
/* The fingerprint of a DER SubjectPublicKeyInfo: its SHA-256. */
void fingerprint_of_spki(const uint8_t *der, size_t n, uint8_t fp[FINGERPRINT_LEN]);
/*
 * The fingerprint of the key in a PEM certificate (the first one in pem):
 * SHA-256 over the DER of its SubjectPublicKeyInfo, found by walking the
 * certificate's DER, without OpenSSL's X.509 machinery (whose decoders
 * cost a server that never serves TLS megabytes of resident memory).
 * 0, or -1 if pem holds no well-formed certificate.
 */
int fingerprint_of_cert_pem(const char *pem, size_t len, uint8_t fp[FINGERPRINT_LEN]);

#endif
