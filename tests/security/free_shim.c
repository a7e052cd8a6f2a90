/*
 * LD_PRELOAD shim for the wipe check (tests/security/test_c_wipe.py).
 *
 * Wraps free() and realloc(): before a block goes back to the allocator, it is
 * searched for the test's access and refresh tokens. A hit is a secret left in
 * freed memory. Hits are counted per caller object (the shared object the
 * free() call came from, found with dladdr), so the native module's own frees
 * can be told apart from the interpreter's. The native module's secret buffers are
 * mappings of its guarded allocator, released through munlock() after their wipe:
 * munlock() is wrapped too, and the range it is given scanned the same way.
 *
 * Input, read once in a constructor (before the interpreter starts):
 *   CU_SHIM_ACCESS, CU_SHIM_REFRESH  the tokens; their values are overwritten in
 *                                    place and the variables removed, so the
 *                                    process under test never sees them
 *   CU_SHIM_REPORT                   file the counts are written to at exit
 * Output, one line per caller object with hits, then a total line:
 *   <object path> <access hits> <refresh hits>
 *   total <blocks scanned> <access hits> <refresh hits>
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_TOKEN 512
#define MAX_CALLERS 32

typedef struct {
    const char *path;
    unsigned long access;
    unsigned long refresh;
} caller_hits;

static char access_token[MAX_TOKEN], refresh_token[MAX_TOKEN];
static size_t access_len, refresh_len;
static char report_path[4096];
static caller_hits callers[MAX_CALLERS];
static unsigned long blocks_scanned;
static char table_lock;
static void (*real_free)(void *);
static void *(*real_realloc)(void *, size_t);
static __thread int inside; /* dladdr and stdio may allocate: do not scan our own frees */

static size_t take(const char *name, char *out, size_t cap)
{
    char *value = getenv(name);
    size_t len = value ? strlen(value) : 0;
    if (len == 0 || len >= cap)
        return 0;
    memcpy(out, value, len);
    memset(value, 'x', len); /* the copy in the initial environment block */
    unsetenv(name);
    return len;
}

__attribute__((constructor)) static void shim_start(void)
{
    real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    access_len = take("CU_SHIM_ACCESS", access_token, sizeof access_token);
    refresh_len = take("CU_SHIM_REFRESH", refresh_token, sizeof refresh_token);
    const char *report = getenv("CU_SHIM_REPORT");
    if (report != NULL && strlen(report) < sizeof report_path)
        strcpy(report_path, report);
}

static caller_hits *caller_of(void *return_address)
{
    Dl_info info;
    const char *path = "?";
    if (dladdr(return_address, &info) && info.dli_fname != NULL)
        path = info.dli_fname;
    for (int i = 0; i < MAX_CALLERS; i++) {
        if (callers[i].path == NULL)
            callers[i].path = path; /* dli_fname stays valid while the object is loaded */
        if (callers[i].path == path || strcmp(callers[i].path, path) == 0)
            return &callers[i];
    }
    return &callers[MAX_CALLERS - 1];
}

/* Hits are rare (the goal is none), so one lock around the table costs nothing. */
static void count_hit(void *return_address, int has_access, int has_refresh)
{
    while (__atomic_test_and_set(&table_lock, __ATOMIC_ACQUIRE))
        ;
    caller_hits *hits = caller_of(return_address);
    hits->access += (unsigned long)has_access;
    hits->refresh += (unsigned long)has_refresh;
    __atomic_clear(&table_lock, __ATOMIC_RELEASE);
}

static void scan(void *block, void *return_address)
{
    if (block == NULL || inside)
        return;
    inside = 1;
    size_t size = malloc_usable_size(block);
    int has_access = access_len && memmem(block, size, access_token, access_len) != NULL;
    int has_refresh = refresh_len && memmem(block, size, refresh_token, refresh_len) != NULL;
    __atomic_add_fetch(&blocks_scanned, 1, __ATOMIC_RELAXED);
    if (has_access || has_refresh)
        count_hit(return_address, has_access, has_refresh);
    inside = 0;
}

void free(void *block)
{
    if (real_free == NULL) { /* a free before the constructor ran: nothing of ours yet */
        if (inside)
            return; /* dlsym freeing while it looks free up: leak that block rather than recurse */
        inside = 1;
        real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
        inside = 0;
    }
    scan(block, __builtin_return_address(0));
    real_free(block);
}

static int reported;
static void shim_report(void);

/* 1 if the page at p can be read (a guard page cannot). */
static int readable(const char *p)
{
    char byte;
    struct iovec local = { &byte, 1 }, remote = { (void *)p, 1 };
    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == 1;
}

/* The guarded allocator (csrc/cu_secure_alloc.c) releases every secret buffer through munlock. */
int munlock(const void *address, size_t length)
{
    static int (*real_munlock)(const void *, size_t);
    if (real_munlock == NULL)
        real_munlock = (int (*)(const void *, size_t))dlsym(RTLD_NEXT, "munlock");
    if (address != NULL && !inside) {
        /* The arena's span has guard pages between its slots: each readable run is scanned. */
        const size_t page = (size_t)sysconf(_SC_PAGESIZE);
        const char *run = address, *end = (const char *)address + length;
        int has_access = 0, has_refresh = 0;
        inside = 1;
        for (const char *at = address; at <= end; at += page) {
            if (at == end || !readable(at)) {
                if (at > run) {
                    has_access |= access_len && memmem(run, (size_t)(at - run), access_token, access_len) != NULL;
                    has_refresh |= refresh_len && memmem(run, (size_t)(at - run), refresh_token, refresh_len) != NULL;
                }
                run = at + page;
            }
        }
        __atomic_add_fetch(&blocks_scanned, 1, __ATOMIC_RELAXED);
        if (has_access || has_refresh)
            count_hit(__builtin_return_address(0), has_access, has_refresh);
        inside = 0;
        /* The native module's arena is unlocked by its destructor, which may run after ours. */
        if (reported)
            shim_report();
    }
    return real_munlock(address, length);
}

/* A realloc that moves a block frees the old one without calling free(). */
void *realloc(void *block, size_t size)
{
    if (real_realloc == NULL)
        real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    if (block == NULL || inside)
        return real_realloc(block, size);
    inside = 1;
    size_t old_size = malloc_usable_size(block);
    int has_access = access_len && memmem(block, old_size, access_token, access_len) != NULL;
    int has_refresh = refresh_len && memmem(block, old_size, refresh_token, refresh_len) != NULL;
    inside = 0;
    void *moved = real_realloc(block, size);
    if (moved != NULL && moved != block && (has_access || has_refresh)) {
        inside = 1;
        count_hit(__builtin_return_address(0), has_access, has_refresh);
        inside = 0;
    }
    return moved;
}

/* reported: the report was written; a later munlock writes it again. */
__attribute__((destructor)) static void shim_report(void)
{
    if (report_path[0] == '\0')
        return;
    inside = 1;
    reported = 1;
    FILE *out = fopen(report_path, "w");
    if (out == NULL) {
        inside = 0;
        return;
    }
    unsigned long access = 0, refresh = 0;
    for (int i = 0; i < MAX_CALLERS && callers[i].path != NULL; i++) {
        fprintf(out, "%s %lu %lu\n", callers[i].path, callers[i].access, callers[i].refresh);
        access += callers[i].access;
        refresh += callers[i].refresh;
    }
    fprintf(out, "total %lu %lu %lu\n", blocks_scanned, access, refresh);
    fclose(out);
    inside = 0;
}
