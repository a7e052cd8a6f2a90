/* Declarations shared by the C sources of the native module; not part of the cffi API. */
#ifndef CU_INTERNAL_H
#define CU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cu_api.h"

#define CU_MAX_FILE_BYTES ((size_t)1024 * 1024)
#define CU_MAX_TOKEN_BYTES ((size_t)4096)
#define CU_MAX_DEPTH 64

/* Every token is stored right after this prefix, so the header value needs no second copy. */
#define CU_BEARER "Bearer "
#define CU_BEARER_LEN ((size_t)7)

/* cu_memzero.c: wiping the compiler cannot remove. */
void cu_memzero(void *p, size_t n);
/* cu_secure_alloc.c: n zeroed bytes of guarded, locked memory for secrets (16-byte aligned),
   NULL when the system refuses; released only with cu_free_secret(p, that same n). */
void *cu_secret_alloc(size_t n);
/* Wipes the buffer cu_secret_alloc(n) gave, unlocks and releases it. NULL-safe. */
void cu_free_secret(void *p, size_t n);

/* cu_credential.c: records status (and clears the rest of *err); returns status for `return cu_fail(...)`. */
int cu_fail(cu_error *err, int status);
/* cu_fail, and the errno of the system call that failed in cu_error.sys_errno. */
int cu_fail_errno(cu_error *err, int status, int sys_errno);
/* Records success (a cleared *err); returns CU_OK. */
int cu_ok(cu_error *err);

/* A string inside a credential: ptr NULL means absent; a NUL follows ptr[len]. */
typedef struct {
    const char *ptr;
    size_t len;
} cu_text;

/*
 * One allocation holds the struct, then its scope table, then a text arena
 * where every string lives; cu_credential_free wipes all block_bytes of it.
 */
struct cu_credential {
    size_t block_bytes;
    cu_text token;
    int has_expires_at;
    int64_t expires_at_ms;
    int has_scopes;
    size_t scope_count;
    cu_text *scopes;
    cu_text subscription_type;
    cu_text rate_limit_tier;
    char *text; /* the arena: text_bytes bytes, zeroed */
    size_t text_bytes;
};

/* A zeroed credential with room for scope_count scopes and text_bytes of strings; NULL on OOM. */
cu_credential *cu_credential_alloc(size_t scope_count, size_t text_bytes);

/*
 * The one token rule, for the JSON reader (on the decoded string) and for
 * cu_credential_from_token: RFC 6750 b64token, that is
 * 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=", at most
 * CU_MAX_TOKEN_BYTES. Returns CU_OK, CU_ERR_NOT_LOGGED_IN (empty) or CU_ERR_BAD_TOKEN.
 */
int cu_token_status(const char *token, size_t len);

/*
 * The stored-login readers' last step: cred if status is CU_OK and the login can work at
 * now_ms (see cu_api.h); otherwise cred is freed, err says why, and NULL is returned.
 */
cu_credential *cu_checked_login(int status, cu_credential *cred, int64_t now_ms, const char *required_scope,
                                cu_error *err);

/* One attempt at reading a stored login: a cu_status, and *out set on CU_OK. */
typedef int (*cu_login_reader)(void *context, cu_credential **out, cu_error *err);

/*
 * cu_retry.c: runs read once and, while it fails in a way that a store caught mid-rewrite
 * explains (empty, or not yet whole JSON), again after short pauses, within a bounded time.
 * A store that stays bad gives the last attempt's status.
 */
int cu_read_retrying(cu_login_reader read, void *context, cu_credential **out, cu_error *err);
/* The most attempts cu_read_retrying makes, whatever the clock says. */
#define CU_RETRY_MAX_ATTEMPTS 1024
/* The fewest it makes before giving up on the time budget (a few milliseconds of pauses). */
#define CU_RETRY_MIN_ATTEMPTS 64

/* cu_retry.c: CLOCK_MONOTONIC in nanoseconds, for every deadline the readers keep. */
int64_t cu_monotonic_ns(void);

/* cu_json.c: cu_parse_credential_json with a status result, for the readers. */
int cu_parse_login(const char *data, size_t len, cu_credential **out, cu_error *err);

/* cu_json.c: the value of the hex digit c (a byte value), or -1. */
int cu_hex_value(int c);

#endif
