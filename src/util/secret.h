/*
 * Memory for secrets (the token): its own pages, excluded from core dumps
 * (MADV_DONTDUMP) and kept out of swap where the limit allows (mlock), wiped
 * before it is returned.
 */
#ifndef BURROW_SECRET_H
#define BURROW_SECRET_H

/* A copy of s in secret memory; NULL if out of memory. */
char *secret_strdup(const char *s);
/* Wipes and frees a secret_strdup() copy; NULL is fine. */
void secret_free(char *s);

#endif
