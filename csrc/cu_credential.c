/* The credential object: allocation, accessors, wiping release, token validation. */
#include <stdlib.h>
#include <string.h>

#include "cu_internal.h"

int cu_fail(cu_error *err, int status)
{
    if (err != NULL) {
        memset(err, 0, sizeof *err); /* no secret in it: plain memset is enough */
        err->status = status;
    }
    return status;
}

int cu_fail_errno(cu_error *err, int status, int sys_errno)
{
    cu_fail(err, status);
    if (err != NULL)
        err->sys_errno = sys_errno;
    return status;
}

int cu_ok(cu_error *err)
{
    return cu_fail(err, CU_OK);
}

cu_credential *cu_credential_alloc(size_t scope_count, size_t text_bytes)
{
    const size_t head = sizeof(cu_credential);
    cu_credential *cred;
    size_t table, total;

    /* Overflow-checked: head + scope_count * sizeof(cu_text) + text_bytes. */
    if (scope_count > (SIZE_MAX - head) / sizeof(cu_text))
        return NULL;
    table = scope_count * sizeof(cu_text);
    if (text_bytes > SIZE_MAX - head - table)
        return NULL;
    total = head + table + text_bytes;

    cred = cu_secret_alloc(total);
    if (cred == NULL)
        return NULL;
    cred->block_bytes = total;
    /* head is a multiple of the struct's alignment, which covers cu_text's. */
    cred->scopes = scope_count ? (cu_text *)(void *)((char *)cred + head) : NULL;
    cred->text = (char *)cred + head + table;
    cred->text_bytes = text_bytes;
    return cred;
}

void cu_credential_free(cu_credential *cred)
{
    if (cred != NULL)
        cu_free_secret(cred, cred->block_bytes);
}

const char *cu_credential_token(const cu_credential *cred, size_t *len)
{
    *len = cred->token.len;
    return cred->token.ptr;
}

int cu_credential_expires_at(const cu_credential *cred, int64_t *ms)
{
    *ms = cred->has_expires_at ? cred->expires_at_ms : 0;
    return cred->has_expires_at;
}

const char *cu_credential_authorization(const cu_credential *cred)
{
    return cred->token.ptr - CU_BEARER_LEN;
}

static int login_status(const cu_credential *cred, int64_t now_ms, const char *required_scope)
{
    size_t i, wanted;

    if (cred->has_expires_at && cred->expires_at_ms <= now_ms)
        return CU_ERR_EXPIRED;
    if (required_scope == NULL || !cred->has_scopes)
        return CU_OK;
    wanted = strlen(required_scope);
    for (i = 0; i < cred->scope_count; i++) {
        if (cred->scopes[i].len == wanted && memcmp(cred->scopes[i].ptr, required_scope, wanted) == 0)
            return CU_OK;
    }
    return CU_ERR_MISSING_SCOPE;
}

cu_credential *cu_checked_login(int status, cu_credential *cred, int64_t now_ms, const char *required_scope,
                                cu_error *err)
{
    if (status == CU_OK && (status = login_status(cred, now_ms, required_scope)) != CU_OK)
        cu_fail(err, status);
    if (status == CU_OK)
        return cred;
    cu_credential_free(cred);
    return NULL;
}

int cu_credential_has_scopes(const cu_credential *cred)
{
    return cred->has_scopes;
}

size_t cu_credential_scope_count(const cu_credential *cred)
{
    return cred->scope_count;
}

const char *cu_credential_scope(const cu_credential *cred, size_t index, size_t *len)
{
    if (index >= cred->scope_count) {
        *len = 0;
        return NULL;
    }
    *len = cred->scopes[index].len;
    return cred->scopes[index].ptr;
}

static const char *optional_text(const cu_text *text, size_t *len)
{
    *len = text->ptr != NULL ? text->len : 0;
    return text->ptr;
}

const char *cu_credential_subscription_type(const cu_credential *cred, size_t *len)
{
    return optional_text(&cred->subscription_type, len);
}

const char *cu_credential_rate_limit_tier(const cu_credential *cred, size_t *len)
{
    return optional_text(&cred->rate_limit_tier, len);
}

size_t cu_max_file_bytes(void)
{
    return CU_MAX_FILE_BYTES;
}
size_t cu_max_token_bytes(void)
{
    return CU_MAX_TOKEN_BYTES;
}
int cu_max_depth(void)
{
    return CU_MAX_DEPTH;
}

/* 1 for each b64token character other than the '=' padding. */
/* clang-format off */
static const unsigned char cu_token_alphabet[256] = { /* bytes from 128 up are 0: not in it */
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1,
    ['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1, ['+'] = 1, ['/'] = 1,
};
/* clang-format on */

int cu_token_status(const char *token, size_t len)
{
    const unsigned char *p = (const unsigned char *)token;
    size_t i = 0;

    if (len == 0)
        return CU_ERR_NOT_LOGGED_IN;
    if (len > CU_MAX_TOKEN_BYTES)
        return CU_ERR_BAD_TOKEN;
    while (i < len && cu_token_alphabet[p[i]])
        i++;
    if (i == 0)
        return CU_ERR_BAD_TOKEN; /* padding needs something to pad */
    while (i < len && p[i] == '=')
        i++;
    return i == len ? CU_OK : CU_ERR_BAD_TOKEN;
}

cu_credential *cu_credential_from_token(const char *token, size_t len, cu_error *err)
{
    cu_credential *cred;
    int status = cu_token_status(token, len);

    if (status != CU_OK) {
        cu_fail(err, status);
        return NULL;
    }
    cred = cu_credential_alloc(0, CU_BEARER_LEN + len + 1);
    if (cred == NULL) {
        cu_fail(err, CU_ERR_NO_MEMORY);
        return NULL;
    }
    memcpy(cred->text, CU_BEARER, CU_BEARER_LEN);
    memcpy(cred->text + CU_BEARER_LEN, token, len);
    cred->token.ptr = cred->text + CU_BEARER_LEN;
    cred->token.len = len;
    cu_ok(err);
    return cred;
}
