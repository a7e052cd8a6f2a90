/*
 * Reading a login again when the first read caught its store mid-rewrite.
 *
 * Claude Code renames a finished file into place, but account switchers and scripts
 * rewrite .credentials.json in place: between their truncate and their write a reader
 * sees an empty or cut-short file, mostly for microseconds, for milliseconds when the
 * truncate waits for the disk. Such a store is read again, a few times at once, then after
 * short randomised pauses (a writer that keeps rewriting has a rhythm, and retries in step
 * with it would keep meeting the same gap), until CU_RETRY_BUDGET_NS has passed since the
 * first failure. A store that stays bad costs each read that budget and gives its own
 * status, as without the retry.
 *
 * Sleeping here does not hold up the caller's other Python threads: cffi releases the
 * GIL around every call into this module.
 */
#if defined(__APPLE__)
#define _DARWIN_C_SOURCE 1 /* clock_gettime, which a strict POSIX level hides there */
#elif !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#undef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep under -std=c99 */
#endif

#include <stdint.h>
#include <time.h>

#include "cu_internal.h"

/* Tens of milliseconds: long enough for a rewriter to finish, short against a status line. */
#define CU_RETRY_BUDGET_NS ((int64_t)50 * 1000 * 1000)
#define CU_RETRY_AT_ONCE 2
#define CU_RETRY_FIRST_PAUSE_NS ((int64_t)20 * 1000)
/* Short pauses, so the budget holds many attempts: each one lands at a random moment of
   the writer's cycle, and it is the number of them that makes a run of misses unlikely. */
#define CU_RETRY_MAX_PAUSE_NS ((int64_t)100 * 1000)

/*
 * The parser checks the whole document's syntax before the type of the document or of any
 * field, so a cut-short copy of a good store is empty or not JSON, never anything else
 * (depth cannot grow by cutting). Other statuses describe what is really stored, or its
 * absence, and retrying them would only delay "not logged in".
 */
static int caught_mid_rewrite(int status)
{
    return status == CU_ERR_EMPTY || status == CU_ERR_SYNTAX;
}

int64_t cu_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* xorshift32: spreads the pauses; no secret depends on it. */
static uint32_t next_random(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

/* Sleeps between half and one and a half times pause_ns; a signal only shortens it. */
static void pause_about(int64_t pause_ns, uint32_t *state)
{
    int64_t ns = pause_ns / 2 + (int64_t)(next_random(state) % (uint32_t)pause_ns);
    struct timespec ts;
    ts.tv_sec = 0;
    ts.tv_nsec = (long)ns;
    (void)nanosleep(&ts, NULL);
}

/* The attempts after a first one that caught the store mid-rewrite. */
static int read_again(cu_login_reader read, void *context, cu_credential **out, cu_error *err)
{
    int status, attempts = 1;
    int64_t now = cu_monotonic_ns(), pause_ns = CU_RETRY_FIRST_PAUSE_NS;
    /* The budget ends the retrying; the attempt cap only stands in for a clock that stalls. */
    int64_t deadline = now + CU_RETRY_BUDGET_NS;
    uint32_t state = (uint32_t)now | 1u; /* xorshift's state must not be 0 */

    do {
        if (attempts > CU_RETRY_AT_ONCE) {
            pause_about(pause_ns, &state);
            pause_ns = pause_ns * 2 < CU_RETRY_MAX_PAUSE_NS ? pause_ns * 2 : CU_RETRY_MAX_PAUSE_NS;
        }
        status = read(context, out, err);
        attempts++;
        /* At least CU_RETRY_MIN_ATTEMPTS whatever the clock says: on a loaded machine the
           scheduler may let the budget pass with only a few tries behind it. */
    } while (caught_mid_rewrite(status) && attempts < CU_RETRY_MAX_ATTEMPTS
             && (attempts < CU_RETRY_MIN_ATTEMPTS || cu_monotonic_ns() < deadline));
    return status;
}

int cu_read_retrying(cu_login_reader read, void *context, cu_credential **out, cu_error *err)
{
    int status = read(context, out, err);
    if (caught_mid_rewrite(status)) /* the usual read skips this: no clock read, no pause */
        status = read_again(read, context, out, err);
    if (status != CU_OK)
        *out = NULL; /* whatever a failed attempt left there */
    return status;
}
