/*
 * libFuzzer target for the credential JSON reader (tests/c/Makefile: fuzz, fuzz-canary).
 * Besides crashes and sanitizer reports, it traps on a broken invariant of a result.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cu_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int condition)
{
    if (!condition)
        __builtin_trap();
}

static void check_text(const char *p, size_t len)
{
    if (p != NULL)
        require(p[len] == '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cu_error err;
    cu_credential *cred = cu_parse_credential_json((const char *)data, size, &err);
    int status = err.status;

    require((status == CU_OK) == (cred != NULL));
    require(status != CU_ERR_SYNTAX || err.offset <= size);
    if (cred != NULL) {
        size_t len, i;
        int64_t ms;
        const char *token = cu_credential_token(cred, &len);
        require(cu_token_status(token, len) == CU_OK);
        check_text(token, len);
        (void)cu_credential_expires_at(cred, &ms);
        for (i = 0; i < cu_credential_scope_count(cred); i++) {
            const char *scope = cu_credential_scope(cred, i, &len);
            check_text(scope, len);
        }
        check_text(cu_credential_subscription_type(cred, &len), len);
#ifdef CU_FUZZ_CANARY
        /* Only in tests/c/Makefile's fuzz-canary build: a heap overflow planted behind an accepted
           login that lists the scope "user:canary!" (as long as the seeds' "user:profile", so the
           fuzzer can learn the swap from this very comparison), to prove it reaches a whole,
           accepted login with a new value in it, and fails. */
        for (i = 0; i < cu_credential_scope_count(cred); i++) {
            const char *scope = cu_credential_scope(cred, i, &len);
            if (len == 12 && memcmp(scope, "user:canary!", 12) == 0) {
                /* volatile: otherwise the optimiser drops the unused buffer, overflow and all. */
                char *volatile planted = malloc(6);
                volatile size_t overflow = 7;
                if (planted != NULL) {
                    memcpy(planted, scope, overflow);
                    free(planted);
                }
            }
        }
#endif
        check_text(cu_credential_rate_limit_tier(cred, &len), len);
        cu_credential_free(cred);
    }

    cred = cu_credential_from_token((const char *)data, size, &err);
    require((err.status == CU_OK) == (cred != NULL));
    cu_credential_free(cred);
    return 0;
}
