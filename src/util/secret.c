#include "util/secret.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

static size_t
secret_size(size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	return (len + 1 + page - 1) / page * page;
}

char *
secret_strdup(const char *s)
{
	size_t len = strlen(s), size = secret_size(len);
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	madvise(p, size, MADV_DONTDUMP);
	mlock(p, size); /* best effort: RLIMIT_MEMLOCK may forbid it */
	memcpy(p, s, len + 1);
	return p;
}

void
secret_free(char *s)
{
	if (s == NULL)
		return;
	size_t len = strlen(s);
	OPENSSL_cleanse(s, len);
	munlock(s, secret_size(len));
	munmap(s, secret_size(len));
}
