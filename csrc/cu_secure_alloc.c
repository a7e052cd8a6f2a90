/*
 * Secret memory: every buffer that holds credential bytes (the file or Keychain read buffer,
 * the decoded Keychain value, the credential block with the token and its header value) comes
 * from here, as in libsodium's sodium_malloc:
 *
 *     [guard page, PROT_NONE][header | ... | user bytes][guard page, PROT_NONE]
 *
 * The user bytes end at the trailing guard page (their size rounded up to 16, for alignment), so
 * a read or write past the end faults at once instead of reaching other data. The data pages are
 *   - locked (mlock), so they are never written to swap. When RLIMIT_MEMLOCK (or the platform)
 *     refuses, the buffer is used unlocked and the refusal is counted (cu_secure_status);
 *   - excluded from core dumps: MADV_DONTDUMP on Linux, MADV_NOCORE on the BSDs. macOS has no
 *     per-mapping exclusion: there the process-wide RLIMIT_CORE 0 of cu_harden_process is it;
 *   - not inherited by a forked child: MADV_WIPEONFORK on Linux >= 4.14 (the child reads zeros),
 *     minherit(INHERIT_ZERO) on the BSDs, minherit(VM_INHERIT_NONE) on macOS (the child has no
 *     mapping there at all).
 * Release wipes the user bytes (cu_memzero); a buffer with a mapping of its own is then unlocked
 * and unmapped, an arena slot (below) stays mapped and locked, holding zeros.
 *
 * The arena. A mapping of its own costs a buffer seven system calls and page faults, and even
 * an mlock plus munlock per buffer, or per read, doubled a file read (2.9 µs to 5.1 and 6.4).
 * So buffers of one data page (every login Claude Code writes, and the credential block) come
 * from one arena made at the first use, like OpenSSL's secure heap, whose CU_ARENA_SLOTS slots
 * each sit between guard pages:
 *
 *     [G][slot 0][G][slot 1][G] ... [slot N-1][G]
 *
 * It is locked once, when made, and stays locked and mapped while the module is loaded: a read
 * then makes no system call for its secret memory. A slot given back holds zeros (its user
 * bytes are wiped); VmLck grows by the arena's span once, at the first read, and no read adds to
 * it. The lock is mlock2(MLOCK_ONFAULT) over the span (Linux >= 4.4): a plain mlock would try
 * to fault in its guard pages and fail; elsewhere, or on an older kernel, each slot is locked on
 * its own. Larger buffers get a mapping of their own, locked, unlocked and unmapped with them.
 * At exit the arena is unlocked (the wipe checks in tests/ scan what munlock is given).
 */
#if defined(__APPLE__)
#define _DARWIN_C_SOURCE 1 /* MAP_ANON, minherit, madvise */
#elif defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE 1 /* syscall, MAP_ANONYMOUS, madvise and its MADV_ flags under -std=c99 */
#elif !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE 1
#endif

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__APPLE__)
#include <mach/vm_inherit.h>
#endif
#if defined(__linux__)
#include <sys/syscall.h>
#define CU_MLOCK_ONFAULT 1 /* MLOCK_ONFAULT, <linux/mman.h> */
#endif

#include "cu_internal.h"

/* Under AddressSanitizer (tests/c), the bytes of a mapping outside the buffer are poisoned, so an
   overflow is reported at the first byte past n, not only at the guard page. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CU_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CU_ASAN 1
#endif
#if defined(CU_ASAN)
#include <sanitizer/asan_interface.h>
#define CU_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define CU_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define CU_POISON(p, n) ((void)(p), (void)(n))
#define CU_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#if !defined(MAP_ANONYMOUS) && defined(MAP_ANON)
#define MAP_ANONYMOUS MAP_ANON
#endif

#define CU_ALIGN ((size_t)16)
#define CU_MAGIC ((uint64_t)0x63752d7365637265u) /* "cu-secre" */
#define CU_ARENA_SLOTS 4

/* At the start of the first data page; the user bytes end with the data pages. */
typedef struct {
    uint64_t magic;
    int locked;
    int dump_excluded;
    int wipe_on_fork;
} secret_header;

#define CU_HEADER_BYTES ((sizeof(secret_header) + CU_ALIGN - 1) & ~(CU_ALIGN - 1))

static size_t page_bytes;

/* The arena; its state changes under arena_mutex (cffi releases the GIL around every call). */
static pthread_mutex_t arena_mutex = PTHREAD_MUTEX_INITIALIZER;
static char *arena;         /* NULL until first used; (char *)-1: could not be made */
static unsigned arena_busy; /* a bit per slot in use */
static int arena_locked;    /* the slots are locked (since the arena was made) */
static int arena_dump_excluded, arena_wipe_on_fork;

/* Counters for cu_secure_status. */
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

/* The read-write pages for n user bytes; 0 when n is absurd. */
static size_t data_bytes_for(size_t n)
{
    size_t page = page_size();
    if (n > SIZE_MAX / 2)
        return 0;
    return (CU_HEADER_BYTES + user_bytes(n) + page - 1) / page * page;
}

/* Dump exclusion and fork behaviour of [p, p + len); each result says whether it took. */
static void advise(char *p, size_t len, int *dump_excluded, int *wipe_on_fork)
{
#if defined(MADV_DONTDUMP)
    *dump_excluded = madvise(p, len, MADV_DONTDUMP) == 0;
#elif defined(MADV_NOCORE)
    *dump_excluded = madvise(p, len, MADV_NOCORE) == 0;
#else
    *dump_excluded = 0;
#endif
#if defined(MADV_WIPEONFORK)
    *wipe_on_fork = madvise(p, len, MADV_WIPEONFORK) == 0;
#elif defined(INHERIT_ZERO)
    *wipe_on_fork = minherit(p, len, INHERIT_ZERO) == 0;
#elif defined(__APPLE__)
    *wipe_on_fork = minherit(p, len, VM_INHERIT_NONE) == 0;
#else
    *wipe_on_fork = 0;
#endif
    (void)p;
    (void)len;
}

/* count data areas of data_len bytes, each between guard pages; NULL when the system refuses. */
static char *map_guarded(size_t data_len, size_t count, int *dump_excluded, int *wipe_on_fork)
{
    size_t page = page_size(), stride = data_len + page, total = count * stride + page, i;
    char *map = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
        return NULL;
    for (i = 0; i < count; i++)
        if (mprotect(map + page + i * stride, data_len, PROT_READ | PROT_WRITE) != 0) {
            (void)munmap(map, total);
            return NULL;
        }
    advise(map, total, dump_excluded, wipe_on_fork);
    return map;
}

/* The span that one mlock covers: from the first slot to the end of the last. */
static size_t arena_span(void)
{
    return (2 * CU_ARENA_SLOTS - 1) * page_size();
}

static char *arena_slot(unsigned i)
{
    return arena + (2 * (size_t)i + 1) * page_size();
}

static void note_lock_failure(int error)
{
    __atomic_store_n(&last_lock_errno, error, __ATOMIC_RELAXED);
    ADD(n_lock_failures, 1);
}

/* Locks the arena's slots: 1 if it took. */
static int lock_arena(void)
{
    unsigned i;
#if defined(__linux__) && defined(SYS_mlock2)
    /* The system call, not libc's mlock2: glibc has it from 2.27 only, and musl may not. */
    if (syscall(SYS_mlock2, arena_slot(0), arena_span(), CU_MLOCK_ONFAULT) == 0)
        return 1;
    if (errno != EINVAL && errno != ENOSYS)
        return 0;
#endif
    for (i = 0; i < CU_ARENA_SLOTS; i++)
        if (mlock(arena_slot(i), page_size()) != 0) {
            int error = errno;
            while (i-- > 0)
                (void)munlock(arena_slot(i), page_size());
            errno = error;
            return 0;
        }
    return 1;
}

/* At exit: munlock is where the wipe checks in tests/ look at released bytes (they hold zeros). */
__attribute__((destructor)) static void unlock_arena(void)
{
    char *slots = __atomic_load_n(&arena, __ATOMIC_RELAXED);
    if (slots == NULL || slots == (char *)-1)
        return;
#if defined(__linux__)
    (void)munlock(arena_slot(0), arena_span()); /* Linux unlocks a span with guard pages in it */
#else
    {
        unsigned i;
        for (i = 0; i < CU_ARENA_SLOTS; i++)
            (void)munlock(arena_slot(i), page_size());
    }
#endif
}

/* A slot of the arena, locked if the system allows; NULL when none is free. */
static char *take_slot(secret_header *flags)
{
    char *data = NULL;
    unsigned i;

    pthread_mutex_lock(&arena_mutex);
    if (arena == NULL) {
        char *made = map_guarded(page_size(), CU_ARENA_SLOTS, &arena_dump_excluded, &arena_wipe_on_fork);
        __atomic_store_n(&arena, made != NULL ? made : (char *)-1, __ATOMIC_RELEASE);
        if (made != NULL && !(arena_locked = lock_arena()))
            note_lock_failure(errno);
    }
    if (arena != (char *)-1) {
        for (i = 0; i < CU_ARENA_SLOTS && (arena_busy & (1u << i)); i++) {
        }
        if (i < CU_ARENA_SLOTS) {
            arena_busy |= 1u << i;
            data = arena_slot(i);
            flags->locked = arena_locked;
            flags->dump_excluded = arena_dump_excluded;
            flags->wipe_on_fork = arena_wipe_on_fork;
        }
    }
    pthread_mutex_unlock(&arena_mutex);
    return data;
}

/* 1 if data was a slot of the arena (now given back), else 0. */
static int give_slot(char *data)
{
    size_t page = page_size(), offset;
    char *slots = __atomic_load_n(&arena, __ATOMIC_RELAXED); /* set once, before any slot is out */
    if (slots == NULL || slots == (char *)-1 || data < slots + page || data >= slots + page + arena_span())
        return 0;
    offset = (size_t)(data - slots - page);
    pthread_mutex_lock(&arena_mutex);
    arena_busy &= ~(1u << (offset / (2 * page)));
    pthread_mutex_unlock(&arena_mutex);
    return 1;
}

/* A forked child must not inherit the mutex held by a thread that does not exist there. */
static void before_fork(void)
{
    pthread_mutex_lock(&arena_mutex);
}
static void after_fork_in_parent(void)
{
    pthread_mutex_unlock(&arena_mutex);
}

/* A child inherits the arena (zeroed by MADV_WIPEONFORK) but not its lock: lock it again. */
static void after_fork_in_child(void)
{
    char *slots = arena;
    if (slots != NULL && slots != (char *)-1 && !(arena_locked = lock_arena()))
        note_lock_failure(errno);
    pthread_mutex_unlock(&arena_mutex);
}

__attribute__((constructor)) static void register_fork_handlers(void)
{
    (void)pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
}

void *cu_secret_alloc(size_t n)
{
    size_t page = page_size(), data_len = data_bytes_for(n);
    secret_header flags = { CU_MAGIC, 0, 0, 0 };
    char *data = NULL;

    if (data_len == 0)
        return NULL;
    if (data_len == page)
        data = take_slot(&flags);
    if (data == NULL) {
        char *map = map_guarded(data_len, 1, &flags.dump_excluded, &flags.wipe_on_fork);
        if (map == NULL)
            return NULL;
        data = map + page;
        flags.locked = mlock(data, data_len) == 0;
        if (!flags.locked)
            note_lock_failure(errno);
    }
    /* A slot holds zeros once given back; zeroed again here so that the calloc-like promise does
       not rest on the wipe (tests/c/broken_memzero.c breaks that on purpose). */
    CU_UNPOISON(data, data_len);
    memset(data + data_len - user_bytes(n), 0, user_bytes(n));
    memcpy(data, &flags, sizeof flags);
    CU_POISON(data, data_len);
    CU_UNPOISON(data + data_len - user_bytes(n), n ? n : 1);
    ADD(n_allocations, 1);
    ADD(n_locked, (size_t)flags.locked);
    ADD(n_dump_excluded, (size_t)flags.dump_excluded);
    ADD(n_wipe_on_fork, (size_t)flags.wipe_on_fork);
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

/* Where the data pages of the buffer p of n bytes begin: its header. */
static char *data_of(void *p, size_t n)
{
    return (char *)p + user_bytes(n) - data_bytes_for(n);
}

void cu_free_secret(void *p, size_t n)
{
    size_t page = page_size(), data_len = data_bytes_for(n);
    char *data;
    secret_header *h;

    if (p == NULL)
        return;
    data = data_of(p, n);
    CU_UNPOISON(data, data_len);
    h = (secret_header *)(void *)data;
    /* A header of zeros: the buffer was in use when this process was forked from its parent,
       and MADV_WIPEONFORK gave this child zeros for it. */
    if (data_len == 0 || (h->magic != CU_MAGIC && h->magic != 0))
        abort(); /* not a pointer this allocator gave out, or not its size: stop */
    cu_memzero(p, user_bytes(n));
    if (__atomic_sub_fetch(&n_live, 1, __ATOMIC_RELAXED) == 0)
        record_exposure();
    if (give_slot(data)) {
        CU_POISON(data, data_len);
        return;
    }
    /* munlock even when mlock failed (harmless): the one call where a released buffer's bytes
       are in view, which the wipe checks in tests/ wrap and scan. */
    (void)munlock(data, data_len);
    (void)munmap(data - page, data_len + 2 * page);
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
        secret_header h;
        CU_UNPOISON(data_of(probe, 1), sizeof h);
        memcpy(&h, data_of(probe, 1), sizeof h);
        out->guard_pages = 1;
        out->probe_locked = h.locked;
        out->probe_dump_excluded = h.dump_excluded;
        out->probe_wipe_on_fork = h.wipe_on_fork;
        out->probe_lock_errno = h.locked ? 0 : LOAD(last_lock_errno);
        cu_free_secret(probe, 1);
    }
}
