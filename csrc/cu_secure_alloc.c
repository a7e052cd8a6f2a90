/*
 * Secret memory: every buffer that holds credential bytes (the file or Keychain read buffer,
 * the decoded Keychain value, the credential block with the token and its header value) comes
 * from here.
 *
 * Each buffer is its own anonymous mapping, like libsodium's sodium_malloc:
 *
 *     [guard page, PROT_NONE][header | ... | user bytes][guard page, PROT_NONE]
 *
 * The user bytes end at the trailing guard page (rounded up to 16 for alignment), so a read or
 * write past the end faults at once instead of reaching other data. The data pages are
 *   - locked (mlock), so they are never written to swap. When RLIMIT_MEMLOCK (or the platform)
 *     refuses, the buffer is used unlocked and the refusal is counted (cu_secure_status);
 *   - excluded from core dumps: MADV_DONTDUMP on Linux, MADV_NOCORE on the BSDs. macOS has no
 *     per-mapping exclusion: there the process-wide RLIMIT_CORE of cu_harden_process is it;
 *   - not inherited by a forked child: MADV_WIPEONFORK on Linux >= 4.14 (the child reads
 *     zeros), minherit(INHERIT_ZERO) on the BSDs, minherit(VM_INHERIT_NONE) on macOS (the
 *     child has no mapping there at all).
 * Release wipes the data pages (cu_memzero), unlocks them, and unmaps the whole mapping.
 *
 * The cache. A mapping costs system calls (mmap, two mprotect, mlock, two madvise, munlock,
 * munmap) and page faults, several microseconds against a file read of about three. So a
 * released one-page buffer, once wiped and unlocked, is kept in one of CU_CACHE_SLOTS slots and
 * handed out again (locked again first): the common read then costs one mlock and one munlock
 * per buffer. A cached page holds only zeros and keeps its guard pages, its dump exclusion and
 * its wipe-on-fork advice; the cache is unmapped at exit.
 */
#if defined(__APPLE__)
#define _DARWIN_C_SOURCE 1 /* MAP_ANON, minherit, madvise */
#elif !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE 1 /* MAP_ANONYMOUS, madvise and its MADV_ flags under -std=c99 */
#endif

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__APPLE__)
#include <mach/vm_inherit.h>
#endif

#include "cu_internal.h"

#if !defined(MAP_ANONYMOUS) && defined(MAP_ANON)
#define MAP_ANONYMOUS MAP_ANON
#endif

#define CU_ALIGN ((size_t)16)
#define CU_MAGIC ((uint64_t)0x63752d7365637265u) /* "cu-secre" */
#define CU_CACHE_SLOTS 4

/* At the start of the first data page; the user bytes follow at the end of the data pages. */
typedef struct {
    uint64_t magic;
    size_t map_bytes;  /* the whole mapping, guard pages included */
    size_t data_bytes; /* the read-write pages between the guards */
    int locked;
    int dump_excluded;
    int wipe_on_fork;
} secret_header;

#define CU_HEADER_BYTES ((sizeof(secret_header) + CU_ALIGN - 1) & ~(CU_ALIGN - 1))

static size_t page_bytes;
/* Whether the advice took on the mappings made so far (the same for every one in a process). */
static int advice_dump_excluded, advice_wipe_on_fork;
static char *cache[CU_CACHE_SLOTS]; /* mappings of one data page, wiped and unlocked */

/* Counters for cu_secure_status; updated atomically (cffi releases the GIL around calls). */
static size_t n_allocations, n_locked, n_dump_excluded, n_wipe_on_fork, n_live, n_lock_failures;
static int last_lock_errno;
static int64_t exposure_start_ns, last_exposure_ns, max_exposure_ns;

#define ADD(counter, n) ((void)__atomic_add_fetch(&(counter), (n), __ATOMIC_RELAXED))
#define LOAD(counter) __atomic_load_n(&(counter), __ATOMIC_RELAXED)

static size_t page_size(void)
{
    size_t page = LOAD(page_bytes);
    if (page == 0) {
        long got = sysconf(_SC_PAGESIZE);
        page = got > 0 ? (size_t)got : 4096;
        __atomic_store_n(&page_bytes, page, __ATOMIC_RELAXED);
    }
    return page;
}

static size_t user_bytes(size_t n)
{
    return n == 0 ? CU_ALIGN : (n + CU_ALIGN - 1) & ~(CU_ALIGN - 1);
}

/* The read-write pages for n user bytes; 0 on overflow. */
static size_t data_bytes_for(size_t n)
{
    size_t page = page_size(), need;
    if (n > SIZE_MAX / 2)
        return 0;
    need = CU_HEADER_BYTES + user_bytes(n);
    return (need + page - 1) / page * page;
}

/* Dump exclusion and fork behaviour of the data pages; each flag says whether it took. */
static void advise(char *data, size_t len, secret_header *h)
{
#if defined(MADV_DONTDUMP)
    h->dump_excluded = madvise(data, len, MADV_DONTDUMP) == 0;
#elif defined(MADV_NOCORE)
    h->dump_excluded = madvise(data, len, MADV_NOCORE) == 0;
#else
    h->dump_excluded = 0;
#endif
#if defined(MADV_WIPEONFORK)
    h->wipe_on_fork = madvise(data, len, MADV_WIPEONFORK) == 0;
#elif defined(INHERIT_ZERO)
    h->wipe_on_fork = minherit(data, len, INHERIT_ZERO) == 0;
#elif defined(__APPLE__)
    h->wipe_on_fork = minherit(data, len, VM_INHERIT_NONE) == 0;
#else
    h->wipe_on_fork = 0;
#endif
}

/* A fresh mapping with guard pages; NULL when the system refuses. */
static char *map_fresh(size_t data_len)
{
    size_t page = page_size(), total = data_len + 2 * page;
    char *map = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    secret_header *h;
    if (map == MAP_FAILED)
        return NULL;
    if (mprotect(map + page, data_len, PROT_READ | PROT_WRITE) != 0) {
        (void)munmap(map, total);
        return NULL;
    }
    h = (secret_header *)(void *)(map + page);
    advise(map + page, data_len, h);
    __atomic_store_n(&advice_dump_excluded, h->dump_excluded, __ATOMIC_RELAXED);
    __atomic_store_n(&advice_wipe_on_fork, h->wipe_on_fork, __ATOMIC_RELAXED);
    return map;
}

static char *take_cached(void)
{
    size_t i;
    for (i = 0; i < CU_CACHE_SLOTS; i++) {
        char *map = __atomic_exchange_n(&cache[i], NULL, __ATOMIC_ACQUIRE);
        if (map != NULL)
            return map;
    }
    return NULL;
}

static int put_cached(char *map)
{
    size_t i;
    for (i = 0; i < CU_CACHE_SLOTS; i++) {
        char *empty = NULL;
        if (__atomic_compare_exchange_n(&cache[i], &empty, map, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
            return 1;
    }
    return 0;
}

void *cu_secret_alloc(size_t n)
{
    size_t page = page_size(), data_len = data_bytes_for(n);
    char *map = NULL, *data;
    secret_header *h;

    if (data_len == 0)
        return NULL;
    if (data_len == page && (map = take_cached()) != NULL) {
        /* Wiped on release already; zeroed again so that calloc's promise does not rest on it. */
        memset(map + page + CU_HEADER_BYTES, 0, data_len - CU_HEADER_BYTES);
    } else if ((map = map_fresh(data_len)) == NULL) {
        return NULL;
    }
    data = map + page;
    h = (secret_header *)(void *)data;
    /* Sizes follow from n alone; the header is written again because a cached page that a
       forked child inherited was wiped by MADV_WIPEONFORK, header and all. */
    h->magic = CU_MAGIC;
    h->map_bytes = data_len + 2 * page;
    h->data_bytes = data_len;
    h->dump_excluded = LOAD(advice_dump_excluded);
    h->wipe_on_fork = LOAD(advice_wipe_on_fork);

    if (mlock(data, data_len) == 0) {
        h->locked = 1;
    } else {
        h->locked = 0;
        __atomic_store_n(&last_lock_errno, errno, __ATOMIC_RELAXED);
        ADD(n_lock_failures, 1);
    }
    ADD(n_allocations, 1);
    ADD(n_locked, (size_t)h->locked);
    ADD(n_dump_excluded, (size_t)h->dump_excluded);
    ADD(n_wipe_on_fork, (size_t)h->wipe_on_fork);
    if (__atomic_fetch_add(&n_live, 1, __ATOMIC_RELAXED) == 0)
        __atomic_store_n(&exposure_start_ns, cu_monotonic_ns(), __ATOMIC_RELAXED);
    return data + data_len - user_bytes(n);
}

static void record_exposure(void)
{
    int64_t took = cu_monotonic_ns() - LOAD(exposure_start_ns);
    int64_t longest = LOAD(max_exposure_ns);
    __atomic_store_n(&last_exposure_ns, took, __ATOMIC_RELAXED);
    while (took > longest
           && !__atomic_compare_exchange_n(&max_exposure_ns, &longest, took, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

void cu_free_secret(void *p, size_t n)
{
    size_t page = page_size(), data_len = data_bytes_for(n);
    char *data, *map;
    secret_header *h;

    if (p == NULL)
        return;
    data = (char *)p + user_bytes(n) - data_len;
    h = (secret_header *)(void *)data;
    /* A header of zeros: the buffer was live when this process was forked from its parent, and
       MADV_WIPEONFORK gave this child zeros for it; the sizes follow from n alone. */
    if (data_len == 0 || (h->magic != CU_MAGIC && h->magic != 0) || (h->magic != 0 && h->data_bytes != data_len))
        abort(); /* not a pointer this allocator gave out, or its size is wrong: stop */
    map = data - page;
    cu_memzero(data + CU_HEADER_BYTES, data_len - CU_HEADER_BYTES);
    /* Every release passes munlock, locked or not (harmless then): the one call where a
       released buffer's bytes are in view, which the wipe checks in tests/ wrap and scan. */
    (void)munlock(data, data_len);
    h->locked = 0;
    if (__atomic_sub_fetch(&n_live, 1, __ATOMIC_RELAXED) == 0)
        record_exposure();
    if (data_len == page && put_cached(map))
        return;
    cu_memzero(data, CU_HEADER_BYTES);
    (void)munmap(map, data_len + 2 * page);
}

__attribute__((destructor)) static void drop_cache(void)
{
    char *map;
    while ((map = take_cached()) != NULL)
        (void)munmap(map, page_size() * 3);
}

void cu_secure_status(cu_secure_info *out)
{
    void *probe;
    memset(out, 0, sizeof *out);
    /* The counters first: the probe below is a buffer too, and would be the last exposure. */
    out->allocations = LOAD(n_allocations);
    out->locked = LOAD(n_locked);
    out->lock_failures = LOAD(n_lock_failures);
    out->last_lock_errno = LOAD(last_lock_errno);
    out->dump_excluded = LOAD(n_dump_excluded);
    out->wipe_on_fork = LOAD(n_wipe_on_fork);
    out->live = LOAD(n_live);
    out->last_exposure_ns = LOAD(last_exposure_ns);
    out->max_exposure_ns = LOAD(max_exposure_ns);
    probe = cu_secret_alloc(1);
    if (probe != NULL) {
        const secret_header *h = (const secret_header *)(const void *)((char *)probe + CU_ALIGN - page_size());
        out->guard_pages = 1;
        out->probe_locked = h->locked;
        out->probe_dump_excluded = h->dump_excluded;
        out->probe_wipe_on_fork = h->wipe_on_fork;
        out->probe_lock_errno = h->locked ? 0 : LOAD(last_lock_errno);
        cu_free_secret(probe, 1);
    }
}
