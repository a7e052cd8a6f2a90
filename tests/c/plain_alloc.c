/*
 * Test-only: stands in for csrc/cu_secure_alloc.c in the builds that prove the memory tests can
 * fail (tests/security/test_process_memory.py): secret buffers from plain calloc, wiped and
 * freed, with no lock, no dump exclusion and no wipe-on-fork. Never part of a shipped build.
 */
#include <stdlib.h>
#include <string.h>

#include "cu_internal.h"

void *cu_secret_alloc(size_t n)
{
    return calloc(1, n ? n : 1);
}

void cu_free_secret(void *p, size_t n)
{
    if (p == NULL)
        return;
    cu_memzero(p, n);
    free(p);
}

void cu_secure_status(cu_secure_info *out)
{
    memset(out, 0, sizeof *out);
}
