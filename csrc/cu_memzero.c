/*
 * Wiping that the compiler cannot remove.
 *
 * A memset right before free (or before a buffer goes out of scope) is a dead
 * store to an optimiser, which may delete it. explicit_bzero and memset_s are
 * specified never to be elided; elsewhere a volatile function pointer hides
 * memset from the optimiser, so it must assume the call has effects.
 *
 * tests/c/broken_memzero.c stands in for this file in the builds that prove the wipe
 * checks can fail.
 *
 * The feature macros must precede the first #include: they decide what the
 * libc headers declare.
 */
#if defined(__linux__) && !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE 1 /* explicit_bzero in glibc's <string.h> */
#endif
#if defined(__APPLE__) && !defined(__STDC_WANT_LIB_EXT1__)
#define __STDC_WANT_LIB_EXT1__ 1 /* memset_s in Apple's <string.h> */
#endif

#include <string.h>

#include "cu_internal.h"

#if defined(__GLIBC__) && defined(__GLIBC_MINOR__)
#if __GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 25)
#define CU_HAVE_EXPLICIT_BZERO 1
#endif
#elif defined(__OpenBSD__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__DragonFly__)
#include <strings.h>
#define CU_HAVE_EXPLICIT_BZERO 1
#endif

#if !defined(CU_HAVE_EXPLICIT_BZERO) && !defined(__APPLE__)
/* volatile: the optimiser must load the pointer at each call and cannot prove it is memset. */
static void *(*const volatile cu_memset_ptr)(void *, int, size_t) = memset;
#endif

void cu_memzero(void *p, size_t n)
{
    if (p == NULL || n == 0)
        return;
#if defined(CU_HAVE_EXPLICIT_BZERO)
    explicit_bzero(p, n);
#elif defined(__APPLE__)
    (void)memset_s(p, n, 0, n);
#else
    cu_memset_ptr(p, 0, n);
#endif
}
