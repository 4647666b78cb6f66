/* Small string helpers. */
#ifndef BURROW_STR_H
#define BURROW_STR_H

/* asprintf that returns the string: malloc'd, or NULL if out of memory. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
