/*
 * Test-only sabotage: stands in for csrc/cu_memzero.c in the builds that prove the wipe checks
 * can fail (tests/c/Makefile, target `wipe`; tests/security/test_c_wipe.py). It is the wipe an
 * optimiser deletes as a dead store before free or munmap, already deleted: it leaves the bytes
 * as they were. Never part of a shipped build (csrc/ffi_build.py does not list it).
 */
#include <stddef.h>

#include "cu_internal.h"

void cu_memzero(void *p, size_t n)
{
    (void)p;
    (void)n;
}
