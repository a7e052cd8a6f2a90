/*
 * C-level tests of the credential reader: the JSON scanner's bad inputs, the
 * extraction rules, the file reader's paths (missing, directory, FIFO,
 * symlinks, too large, unreadable), and re-reading a store caught
 * mid-rewrite. Built by tests/c/Makefile under ASan+UBSan, under Valgrind, and (with -DCU_TEST_WIPE) linked with
 * -Wl,--wrap=free so every block the library frees is scanned for the test
 * tokens: a hit means a secret reached free() without being wiped.
 *
 * Usage: test_reader [--expect-unwiped]   (the flag is for the sabotaged build)
 */
#define _GNU_SOURCE 1 /* memmem, malloc_usable_size */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cu_internal.h"

#define ACCESS "sk-ant-oat01-TEST-c-runner-access-9f2d1c"
#define REFRESH "sk-ant-ort01-TEST-c-runner-refresh-41b7e0"

static int checks, failures;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        checks++;                                                                    \
        if (!(cond)) {                                                               \
            failures++;                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

/* ---- wrapped free: counts freed blocks still holding a test secret ---- */
#ifdef CU_TEST_WIPE
#include <malloc.h>
#include <sys/uio.h>

void __real_free(void *p);
void __wrap_free(void *p);
static size_t unwiped_frees;

void __wrap_free(void *p)
{
    if (p != NULL) {
        size_t n = malloc_usable_size(p);
        if (memmem(p, n, ACCESS, sizeof ACCESS - 1) != NULL || memmem(p, n, REFRESH, sizeof REFRESH - 1) != NULL)
            unwiped_frees++;
    }
    __real_free(p);
}

/* Secret buffers (csrc/cu_secure_alloc.c) leave use through munlock, after their wipe. */
int __real_munlock(const void *p, size_t n);
int __wrap_munlock(const void *p, size_t n);

/* 1 if the page at p can be read (a guard page cannot: it is skipped). */
static int readable(const char *p)
{
    char byte;
    struct iovec local = { &byte, 1 }, remote = { (void *)p, 1 };
    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == 1;
}

int __wrap_munlock(const void *p, size_t n)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const char *run = p, *end = (const char *)p + n, *at;
    /* The arena's span has guard pages between its slots: scan each readable run. */
    for (at = p; p != NULL && at <= end; at += page) {
        if (at == end || !readable(at)) {
            if (at > run
                && (memmem(run, (size_t)(at - run), ACCESS, sizeof ACCESS - 1) != NULL
                    || memmem(run, (size_t)(at - run), REFRESH, sizeof REFRESH - 1) != NULL))
                unwiped_frees++;
            run = at + page;
        }
    }
    return __real_munlock(p, n);
}

/* One-page buffers go back to the allocator's arena, which stays mapped: scanned right after. */
void __real_cu_free_secret(void *p, size_t n);
void __wrap_cu_free_secret(void *p, size_t n);

void __wrap_cu_free_secret(void *p, size_t n)
{
    __real_cu_free_secret(p, n);
    if (p != NULL && n != 0 && readable(p) && readable((const char *)p + n - 1)
        && (memmem(p, n, ACCESS, sizeof ACCESS - 1) != NULL || memmem(p, n, REFRESH, sizeof REFRESH - 1) != NULL))
        unwiped_frees++;
}
#endif

/* The API returns the login; these give its status too, which most checks are about. */
static int parse_json(const char *doc, size_t len, cu_credential **out, cu_error *err)
{
    *out = cu_parse_credential_json(doc, len, err);
    CHECK((err->status == CU_OK) == (*out != NULL));
    return err->status;
}

static int from_token(const char *token, size_t len, cu_credential **out, cu_error *err)
{
    *out = cu_credential_from_token(token, len, err);
    CHECK((err->status == CU_OK) == (*out != NULL));
    return err->status;
}

/* ---- documents ---- */
#define LOGIN(inner) "{\"claudeAiOauth\":{" inner "}}"
#define TOKEN_FIELD "\"accessToken\":\"" ACCESS "\""
#define REFRESH_FIELD "\"refreshToken\":\"" REFRESH "\""

static const char full_store[] =
    "{\n"
    "  \"claudeAiOauth\": {\n"
    "    \"accessToken\": \"" ACCESS "\",\n"
    "    \"refreshToken\": \"" REFRESH "\",\n"
    "    \"expiresAt\": 1768384301294,\n"
    "    \"scopes\": [\"user:inference\", \"user:profile\", \"user:sessions:claude_code\"],\n"
    "    \"subscriptionType\": \"max\",\n"
    "    \"rateLimitTier\": \"default_claude_max_5x\"\n"
    "  },\n"
    "  \"mcpOAuth\": {\"srv|1\": {\"accessToken\": \"mcp\", \"expiresAt\": 0}}\n"
    "}\n";

typedef struct {
    const char *name;
    const char *doc;
    size_t len;
    int status;
    long offset;       /* CU_ERR_SYNTAX/TOO_DEEP: expected offset, or -1 to skip */
    const char *field; /* CU_ERR_WRONG_TYPE: expected field */
} parse_case;

#define CASE(name, doc, status)                     \
    {                                               \
        name, doc, sizeof doc - 1, status, -1, NULL \
    }
#define AT(name, doc, offset)                                  \
    {                                                          \
        name, doc, sizeof doc - 1, CU_ERR_SYNTAX, offset, NULL \
    }
#define WRONG(name, doc, field)                                 \
    {                                                           \
        name, doc, sizeof doc - 1, CU_ERR_WRONG_TYPE, -1, field \
    }

static const parse_case cases[] = {
    /* empty, white space, not JSON */
    CASE("zero bytes", "", CU_ERR_EMPTY),
    CASE("white space only", " \t\r\n  ", CU_ERR_EMPTY),
    AT("form feed is not JSON white space", "\f{}", 0),
    AT("vertical tab", "{\v}", 1),
    AT("no-break space", "{\xC2\xA0}", 1),
    AT("UTF-8 BOM", "\xEF\xBB\xBF{}", 0),
    AT("not JSON", "hello", 0),
    AT("NUL byte", "{}\0", 2),
    AT("unterminated object", "{", 1),
    AT("trailing garbage", "{} x", 3),
    AT("two documents", "{}{}", 2),
    AT("trailing comma in object", "{\"a\":1,}", 7),
    AT("trailing comma in array", "{\"a\":[1,]}", 8),
    AT("missing colon", "{\"a\" 1}", 5),
    AT("missing value", "{\"a\":}", 5),
    AT("single quotes", "{'a':1}", 1),
    AT("bare key", "{a:1}", 1),
    AT("comment", "{/*x*/}", 1),
    AT("empty member", "{,}", 1),
    AT("unterminated string", "{\"a\":\"abc", 9),
    AT("truncated literal", "{\"a\":tru", 8),
    AT("misspelled literal", "{\"a\":nul1}", 8),
    AT("capitalised literal", "{\"a\":True}", 5),
    /* numbers */
    AT("leading zero", "{\"a\":01}", 6),
    AT("leading plus", "{\"a\":+1}", 5),
    AT("NaN", "{\"a\":NaN}", 5),
    AT("Infinity", "{\"a\":Infinity}", 5),
    AT("-Infinity", "{\"a\":-Infinity}", 6),
    AT("lone minus", "{\"a\":-}", 6),
    AT("fraction without digits", "{\"a\":1.}", 7),
    AT("fraction without integer", "{\"a\":.5}", 5),
    AT("exponent without digits", "{\"a\":1e}", 7),
    AT("exponent sign without digits", "{\"a\":1e+}", 8),
    AT("hex number", "{\"a\":0x10}", 6),
    CASE("every number form", "{\"a\":[0,-0,1.5,-2.25e10,3E-7,4e+2,123456789012345678901234567890,1e999999]}",
         CU_ERR_NOT_LOGGED_IN),
    /* strings */
    AT("raw tab in string", "{\"a\":\"\t\"}", 6),
    AT("raw newline in string", "{\"a\":\"x\ny\"}", 7),
    AT("raw NUL in string", "{\"a\":\"\0\"}", 6),
    AT("unknown escape", "{\"a\":\"\\x\"}", 7),
    AT("short \\u escape", "{\"a\":\"\\u12\"}", 6),
    AT("non-hex \\u escape", "{\"a\":\"\\u12g4\"}", 6),
    AT("lone high surrogate", "{\"a\":\"\\ud800\"}", 12),
    AT("high surrogate then letter", "{\"a\":\"\\ud800\\u0041\"}", 12),
    AT("two high surrogates", "{\"a\":\"\\ud800\\ud800\"}", 12),
    AT("lone low surrogate", "{\"a\":\"\\udc00\"}", 6),
    CASE("every escape", "{\"a\":\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0000 \\u00e9 \\uD83D\\uDE00\"}",
         CU_ERR_NOT_LOGGED_IN),
    /* raw UTF-8 */
    CASE("valid UTF-8", "{\"\xC3\xA9\":\"\xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF \xEF\xBF\xBF\"}",
         CU_ERR_NOT_LOGGED_IN),
    AT("overlong two-byte", "{\"a\":\"\xC0\xAF\"}", 6),
    AT("overlong C1", "{\"a\":\"\xC1\xBF\"}", 6),
    AT("overlong three-byte", "{\"a\":\"\xE0\x80\xAF\"}", 7),
    AT("overlong four-byte", "{\"a\":\"\xF0\x80\x80\xAF\"}", 7),
    AT("UTF-8 encoded surrogate", "{\"a\":\"\xED\xA0\x80\"}", 7),
    AT("beyond U+10FFFF", "{\"a\":\"\xF4\x90\x80\x80\"}", 7),
    AT("F5 lead byte", "{\"a\":\"\xF5\x80\x80\x80\"}", 6),
    AT("FF byte", "{\"a\":\"\xFF\"}", 6),
    AT("stray continuation byte", "{\"a\":\"\x80\"}", 6),
    AT("truncated sequence", "{\"a\":\"\xE2\x82\"}", 8),
    AT("sequence cut by end of data", "{\"a\":\"\xE2\x82", 8),
    AT("non-ASCII outside strings", "{\"a\":1\xC3\xA9}", 6),
    /* top level */
    CASE("array at top level", "[]", CU_ERR_NOT_OBJECT),
    CASE("string at top level", " \"x\" ", CU_ERR_NOT_OBJECT),
    CASE("number at top level", "1", CU_ERR_NOT_OBJECT),
    CASE("null at top level", "null", CU_ERR_NOT_OBJECT),
    AT("syntax error beats not-an-object", "[1,]", 3),
    /* the login object */
    CASE("empty object", "{}", CU_ERR_NOT_LOGGED_IN),
    CASE("only mcpOAuth", "{\"mcpOAuth\":{\"srv\":{\"accessToken\":\"abc\"}}}", CU_ERR_NOT_LOGGED_IN),
    CASE("claudeAiOauth null", "{\"claudeAiOauth\":null}", CU_ERR_NOT_LOGGED_IN),
    WRONG("claudeAiOauth array", "{\"claudeAiOauth\":[]}", "claudeAiOauth"),
    WRONG("claudeAiOauth string", "{\"claudeAiOauth\":\"x\"}", "claudeAiOauth"),
    CASE("claudeAiOauth nested deeper only", "{\"x\":{\"claudeAiOauth\":{" TOKEN_FIELD "}}}", CU_ERR_NOT_LOGGED_IN),
    CASE("accessToken at the top level only", "{" TOKEN_FIELD ",\"claudeAiOauth\":{}}", CU_ERR_NOT_LOGGED_IN),
    CASE("accessToken nested in the login", LOGIN("\"x\":{" TOKEN_FIELD "}"), CU_ERR_NOT_LOGGED_IN),
    CASE("accessToken absent", LOGIN(REFRESH_FIELD), CU_ERR_NOT_LOGGED_IN),
    CASE("accessToken null", LOGIN("\"accessToken\":null"), CU_ERR_NOT_LOGGED_IN),
    CASE("accessToken empty", LOGIN("\"accessToken\":\"\"," REFRESH_FIELD), CU_ERR_NOT_LOGGED_IN),
    WRONG("accessToken number", LOGIN("\"accessToken\":12"), "accessToken"),
    WRONG("accessToken array", LOGIN("\"accessToken\":[\"a\"]"), "accessToken"),
    WRONG("accessToken true", LOGIN("\"accessToken\":true"), "accessToken"),
    /* token characters */
    CASE("escaped CR in token", LOGIN("\"accessToken\":\"abc\\r\""), CU_ERR_BAD_TOKEN),
    CASE("escaped LF in token", LOGIN("\"accessToken\":\"abc\\nX-Evil: 1\""), CU_ERR_BAD_TOKEN),
    CASE("space in token", LOGIN("\"accessToken\":\"abc def\""), CU_ERR_BAD_TOKEN),
    CASE("raw non-ASCII in token", LOGIN("\"accessToken\":\"abc\xC3\xA9\""), CU_ERR_BAD_TOKEN),
    CASE("escaped non-ASCII in token", LOGIN("\"accessToken\":\"abc\\u00e9\""), CU_ERR_BAD_TOKEN),
    CASE("escaped NUL in token", LOGIN("\"accessToken\":\"abc\\u0000\""), CU_ERR_BAD_TOKEN),
    CASE("quote in token", LOGIN("\"accessToken\":\"a\\\"b\""), CU_ERR_BAD_TOKEN),
    CASE("padding only", LOGIN("\"accessToken\":\"==\""), CU_ERR_BAD_TOKEN),
    CASE("text after padding", LOGIN("\"accessToken\":\"ab=c\""), CU_ERR_BAD_TOKEN),
    CASE("padding and every token character", LOGIN("\"accessToken\":\"AZaz09-._~+/==\""), CU_OK),
    /* the order of the checks: token first, then the other fields in order */
    CASE("empty token beats a wrong expiresAt", LOGIN("\"accessToken\":\"\",\"expiresAt\":\"x\""),
         CU_ERR_NOT_LOGGED_IN),
    CASE("bad token beats wrong scopes", LOGIN("\"scopes\":1,\"accessToken\":\"a b\""), CU_ERR_BAD_TOKEN),
    WRONG("expiresAt before scopes", LOGIN("\"scopes\":1,\"expiresAt\":\"1\"," TOKEN_FIELD), "expiresAt"),
    WRONG("scopes before subscriptionType", LOGIN("\"subscriptionType\":1,\"scopes\":1," TOKEN_FIELD), "scopes"),
    WRONG("subscriptionType before rateLimitTier", LOGIN("\"rateLimitTier\":1,\"subscriptionType\":1," TOKEN_FIELD),
          "subscriptionType"),
    /* field types */
    WRONG("expiresAt string", LOGIN(TOKEN_FIELD ",\"expiresAt\":\"1768384301294\""), "expiresAt"),
    WRONG("expiresAt fraction", LOGIN(TOKEN_FIELD ",\"expiresAt\":1.5"), "expiresAt"),
    WRONG("expiresAt integral fraction", LOGIN(TOKEN_FIELD ",\"expiresAt\":1.0"), "expiresAt"),
    WRONG("expiresAt exponent", LOGIN(TOKEN_FIELD ",\"expiresAt\":1e3"), "expiresAt"),
    WRONG("expiresAt true", LOGIN(TOKEN_FIELD ",\"expiresAt\":true"), "expiresAt"),
    WRONG("expiresAt object", LOGIN(TOKEN_FIELD ",\"expiresAt\":{}"), "expiresAt"),
    WRONG("expiresAt just past int64", LOGIN(TOKEN_FIELD ",\"expiresAt\":9223372036854775808"), "expiresAt"),
    WRONG("expiresAt just past -int64", LOGIN(TOKEN_FIELD ",\"expiresAt\":-9223372036854775809"), "expiresAt"),
    WRONG("expiresAt huge", LOGIN(TOKEN_FIELD ",\"expiresAt\":100000000000000000000000000000000"), "expiresAt"),
    WRONG("scopes string", LOGIN(TOKEN_FIELD ",\"scopes\":\"user:profile\""), "scopes"),
    WRONG("scopes object", LOGIN(TOKEN_FIELD ",\"scopes\":{}"), "scopes"),
    WRONG("scopes with a number", LOGIN(TOKEN_FIELD ",\"scopes\":[\"a\",1]"), "scopes"),
    WRONG("scopes with a null", LOGIN(TOKEN_FIELD ",\"scopes\":[null]"), "scopes"),
    WRONG("scopes with an array", LOGIN(TOKEN_FIELD ",\"scopes\":[[\"a\"]]"), "scopes"),
    WRONG("subscriptionType number", LOGIN(TOKEN_FIELD ",\"subscriptionType\":1"), "subscriptionType"),
    WRONG("subscriptionType false", LOGIN(TOKEN_FIELD ",\"subscriptionType\":false"), "subscriptionType"),
    WRONG("rateLimitTier object", LOGIN(TOKEN_FIELD ",\"rateLimitTier\":{}"), "rateLimitTier"),
    WRONG("rateLimitTier array", LOGIN(TOKEN_FIELD ",\"rateLimitTier\":[]"), "rateLimitTier"),
    CASE("other fields take any value",
         LOGIN(TOKEN_FIELD ",\"refreshToken\":[1,{\"a\":null}],\"x\":1e999999,\"y\":-12345678901234567890"), CU_OK),
    /* escaped keys: compared after decoding */
    CASE("escaped key matches", LOGIN("\"\\u0061ccessToken\":\"" ACCESS "\""), CU_OK),
    CASE("escaped login key matches", "{\"claude\\u0041iOauth\":{" TOKEN_FIELD "}}", CU_OK),
    CASE("key with a trailing escaped NUL differs", LOGIN("\"accessToken\\u0000\":\"" ACCESS "\""),
         CU_ERR_NOT_LOGGED_IN),
    CASE("long escaped key matches nothing",
         LOGIN(TOKEN_FIELD ",\"\\u0061\\u0061\\u0061\\u0061\\u0061\\u0061\\u0061\\u0061\\u0061\\u0061"
                           "\\u0061\\u0061\\u0061\\u0061\\u0061\\u0061\\u0061\\u0061\\u0061\\u0061\\u0061\\u0061"
                           "\\ud83d\\ude00\\ud83d\\ude00\\ud83d\\ude00\\ud83d\\ude00\":1"),
         CU_OK),
    WRONG("escaped field key is checked", LOGIN(TOKEN_FIELD ",\"\\u0073copes\":1"), "scopes"),
    /* duplicate keys: the last one wins */
    CASE("last accessToken wins (bad one last)", LOGIN(TOKEN_FIELD ",\"accessToken\":\"a b\""), CU_ERR_BAD_TOKEN),
    CASE("last accessToken wins (good one last)", LOGIN("\"accessToken\":\"a b\"," TOKEN_FIELD), CU_OK),
    CASE("last accessToken wins (null last)", LOGIN(TOKEN_FIELD ",\"accessToken\":null"), CU_ERR_NOT_LOGGED_IN),
    CASE("last claudeAiOauth wins (null last)", "{\"claudeAiOauth\":{" TOKEN_FIELD "},\"claudeAiOauth\":null}",
         CU_ERR_NOT_LOGGED_IN),
    CASE("last claudeAiOauth wins wholesale",
         "{\"claudeAiOauth\":{\"scopes\":1,\"expiresAt\":\"x\"},\"claudeAiOauth\":{" TOKEN_FIELD "}}", CU_OK),
    CASE("a later claudeAiOauth does not merge",
         "{\"claudeAiOauth\":{" TOKEN_FIELD "},\"claudeAiOauth\":{\"scopes\":[]}}", CU_ERR_NOT_LOGGED_IN),
};

static void run_parse_cases(void)
{
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const parse_case *c = &cases[i];
        cu_credential *cred = (cu_credential *)&cred; /* must be overwritten */
        cu_error err;
        int status;

        memset(&err, 0xA5, sizeof err);
        status = parse_json(c->doc, c->len, &cred, &err);
        if (status != c->status) {
            fprintf(stderr, "case \"%s\": status %d, expected %d (offset %zu)\n", c->name, status, c->status,
                    err.offset);
            failures++;
        }
        CHECK(status == err.status);
        CHECK((status == CU_OK) == (cred != NULL));
        if (c->offset >= 0 && status == c->status && err.offset != (size_t)c->offset) {
            fprintf(stderr, "case \"%s\": offset %zu, expected %ld\n", c->name, err.offset, c->offset);
            failures++;
        }
        if (c->field != NULL && status == c->status)
            CHECK(strcmp(c->field, err.field) == 0);
        if (status != CU_ERR_WRONG_TYPE)
            CHECK(err.field[0] == '\0');
        checks++;
        cu_credential_free(cred);
    }
}

static int text_is(const char *ptr, size_t len, const char *want, size_t want_len)
{
    return ptr != NULL && len == want_len && memcmp(ptr, want, len) == 0 && ptr[len] == '\0';
}
#define TEXT_IS(ptr, len, lit) text_is(ptr, len, lit, sizeof lit - 1)

static void check_full_store(const cu_credential *cred)
{
    size_t len;
    int64_t ms = 0;
    const char *p;

    p = cu_credential_token(cred, &len);
    CHECK(TEXT_IS(p, len, ACCESS));
    CHECK(cu_credential_expires_at(cred, &ms) == 1);
    CHECK(ms == INT64_C(1768384301294));
    CHECK(cu_credential_has_scopes(cred) == 1);
    CHECK(cu_credential_scope_count(cred) == 3);
    p = cu_credential_scope(cred, 0, &len);
    CHECK(TEXT_IS(p, len, "user:inference"));
    p = cu_credential_scope(cred, 1, &len);
    CHECK(TEXT_IS(p, len, "user:profile"));
    p = cu_credential_scope(cred, 2, &len);
    CHECK(TEXT_IS(p, len, "user:sessions:claude_code"));
    CHECK(cu_credential_scope(cred, 3, &len) == NULL);
    p = cu_credential_subscription_type(cred, &len);
    CHECK(TEXT_IS(p, len, "max"));
    p = cu_credential_rate_limit_tier(cred, &len);
    CHECK(TEXT_IS(p, len, "default_claude_max_5x"));
    CHECK(strcmp(cu_credential_authorization(cred), "Bearer " ACCESS) == 0);
}

static cu_credential *parse_ok(const char *doc, size_t len)
{
    cu_credential *cred = NULL;
    cu_error err;
    int status = parse_json(doc, len, &cred, &err);
    CHECK(status == CU_OK);
    if (status != CU_OK)
        fprintf(stderr, "  status %d at offset %zu\n", status, err.offset);
    return cred;
}
#define PARSE_OK(lit) parse_ok(lit, sizeof lit - 1)

static void test_extraction(void)
{
    cu_credential *cred;
    size_t len;
    int64_t ms = 7;
    const char *p;

    cred = PARSE_OK(full_store);
    if (cred != NULL)
        check_full_store(cred);
    cu_credential_free(cred);

    /* Optional fields absent, then null: nothing present. */
    cred = PARSE_OK(LOGIN(TOKEN_FIELD));
    if (cred != NULL) {
        CHECK(cu_credential_expires_at(cred, &ms) == 0 && ms == 0);
        CHECK(cu_credential_has_scopes(cred) == 0 && cu_credential_scope_count(cred) == 0);
        CHECK(cu_credential_subscription_type(cred, &len) == NULL && len == 0);
        CHECK(cu_credential_rate_limit_tier(cred, &len) == NULL);
    }
    cu_credential_free(cred);
    cred = PARSE_OK(LOGIN(TOKEN_FIELD ",\"expiresAt\":null,\"scopes\":null,\"subscriptionType\":null,"
                                      "\"rateLimitTier\":null"));
    if (cred != NULL) {
        CHECK(cu_credential_expires_at(cred, &ms) == 0);
        CHECK(cu_credential_has_scopes(cred) == 0);
        CHECK(cu_credential_subscription_type(cred, &len) == NULL);
        CHECK(cu_credential_rate_limit_tier(cred, &len) == NULL);
    }
    cu_credential_free(cred);

    /* Escaped token characters are decoded; empty scopes are present; strings may hold NUL. */
    cred = PARSE_OK(LOGIN("\"accessToken\":\"sk\\u002dant\\/x\\u003d\",\"scopes\":[],"
                          "\"subscriptionType\":\"\",\"rateLimitTier\":\"a\\u0000b\\u00e9\\ud83d\\ude00\""));
    if (cred != NULL) {
        p = cu_credential_token(cred, &len);
        CHECK(TEXT_IS(p, len, "sk-ant/x="));
        CHECK(cu_credential_has_scopes(cred) == 1 && cu_credential_scope_count(cred) == 0);
        p = cu_credential_subscription_type(cred, &len);
        CHECK(TEXT_IS(p, len, ""));
        p = cu_credential_rate_limit_tier(cred, &len);
        CHECK(TEXT_IS(p, len, "a\0b\xC3\xA9\xF0\x9F\x98\x80"));
    }
    cu_credential_free(cred);

    /* int64 limits, and -0. */
    cred = PARSE_OK(LOGIN(TOKEN_FIELD ",\"expiresAt\":9223372036854775807"));
    CHECK(cred != NULL && cu_credential_expires_at(cred, &ms) && ms == INT64_MAX);
    cu_credential_free(cred);
    cred = PARSE_OK(LOGIN(TOKEN_FIELD ",\"expiresAt\":-9223372036854775808"));
    CHECK(cred != NULL && cu_credential_expires_at(cred, &ms) && ms == INT64_MIN);
    cu_credential_free(cred);
    cred = PARSE_OK(LOGIN(TOKEN_FIELD ",\"expiresAt\":-0"));
    CHECK(cred != NULL && cu_credential_expires_at(cred, &ms) && ms == 0);
    cu_credential_free(cred);

    /* Duplicates: the last value of each field, inside the last login object. */
    cred = PARSE_OK("{\"claudeAiOauth\":{\"accessToken\":\"first\",\"subscriptionType\":\"pro\"},"
                    "\"claudeAiOauth\":{\"subscriptionType\":\"team\",\"accessToken\":\"old\","
                    "\"scopes\":[\"a\"],\"accessToken\":\"new\",\"scopes\":[\"b\",\"c\"],"
                    "\"rateLimitTier\":null}}");
    if (cred != NULL) {
        p = cu_credential_token(cred, &len);
        CHECK(TEXT_IS(p, len, "new"));
        CHECK(cu_credential_scope_count(cred) == 2);
        p = cu_credential_scope(cred, 1, &len);
        CHECK(TEXT_IS(p, len, "c"));
        p = cu_credential_subscription_type(cred, &len);
        CHECK(TEXT_IS(p, len, "team"));
        CHECK(cu_credential_rate_limit_tier(cred, &len) == NULL);
    }
    cu_credential_free(cred);
}

static void expect_status(const char *doc, size_t len, int want, size_t offset)
{
    cu_credential *cred = NULL;
    cu_error err;
    int status = parse_json(doc, len, &cred, &err);
    CHECK(status == want);
    if (status != want)
        fprintf(stderr, "  status %d, expected %d\n", status, want);
    if (want == CU_ERR_TOO_DEEP || want == CU_ERR_SYNTAX)
        CHECK(err.offset == offset);
    CHECK(cred == NULL || want == CU_OK);
    cu_credential_free(cred);
}

/* Nesting: the root object counts as one level; CU_MAX_DEPTH levels pass, one more does not. */
static void test_depth(void)
{
    static char doc[4 * CU_MAX_DEPTH + 64];
    const char *head = LOGIN(TOKEN_FIELD ",\"deep\":");
    size_t n, i, levels;

    for (levels = CU_MAX_DEPTH - 2; levels <= CU_MAX_DEPTH - 1; levels++) {
        /* root + claudeAiOauth + levels arrays */
        n = (size_t)snprintf(doc, sizeof doc, "%.*s", (int)(strlen(head) - 2), head);
        for (i = 0; i < levels; i++)
            doc[n++] = '[';
        for (i = 0; i < levels; i++)
            doc[n++] = ']';
        doc[n++] = '}';
        doc[n++] = '}';
        expect_status(doc, n, levels + 2 <= CU_MAX_DEPTH ? CU_OK : CU_ERR_TOO_DEEP,
                      strlen(head) - 2 + (size_t)CU_MAX_DEPTH - 2);
    }
    /* 10 000 open brackets: stops at the limit, no stack exhaustion. */
    {
        size_t big = 10000;
        char *many = malloc(big);
        CHECK(many != NULL);
        if (many != NULL) {
            memset(many, '[', big);
            expect_status(many, big, CU_ERR_TOO_DEEP, CU_MAX_DEPTH);
            memset(many, '{', 1);
            for (i = 1; i + 5 < big; i += 5)
                memcpy(many + i, "\"a\":{", 5);
            expect_status(many, i, CU_ERR_TOO_DEEP, 5 * (size_t)CU_MAX_DEPTH); /* the 64th "a":{ */
            free(many);
        }
    }
    CHECK(cu_max_depth() == CU_MAX_DEPTH);
}

static void test_token_limits(void)
{
    static char doc[2 * CU_MAX_TOKEN_BYTES + 128];
    const char *head = "{\"claudeAiOauth\":{\"accessToken\":\"";
    size_t n, body;
    cu_credential *cred = NULL;
    cu_error err;
    size_t len;
    int64_t ms;

    for (body = CU_MAX_TOKEN_BYTES; body <= CU_MAX_TOKEN_BYTES + 1; body++) {
        n = (size_t)snprintf(doc, sizeof doc, "%s", head);
        memset(doc + n, 'A', body);
        n += body;
        memcpy(doc + n, "\"}}", 3);
        n += 3;
        expect_status(doc, n, body <= CU_MAX_TOKEN_BYTES ? CU_OK : CU_ERR_BAD_TOKEN, 0);
    }
    /* Escaped: 4096 decoded characters pass, 4097 do not. */
    for (body = CU_MAX_TOKEN_BYTES; body <= CU_MAX_TOKEN_BYTES + 1; body++) {
        n = (size_t)snprintf(doc, sizeof doc, "%s\\u0041", head);
        memset(doc + n, 'A', body - 1);
        n += body - 1;
        memcpy(doc + n, "\"}}", 3);
        n += 3;
        expect_status(doc, n, body <= CU_MAX_TOKEN_BYTES ? CU_OK : CU_ERR_BAD_TOKEN, 0);
    }

    CHECK(from_token(ACCESS, sizeof ACCESS - 1, &cred, &err) == CU_OK);
    if (cred != NULL) {
        const char *p = cu_credential_token(cred, &len);
        CHECK(TEXT_IS(p, len, ACCESS));
        CHECK(cu_credential_expires_at(cred, &ms) == 0);
        CHECK(cu_credential_has_scopes(cred) == 0);
        CHECK(cu_credential_subscription_type(cred, &len) == NULL);
    }
    cu_credential_free(cred);
    cred = (cu_credential *)&cred;
    CHECK(from_token("", 0, &cred, &err) == CU_ERR_NOT_LOGGED_IN && cred == NULL);
    CHECK(from_token("abc\r\n", 5, &cred, &err) == CU_ERR_BAD_TOKEN && cred == NULL);
    CHECK(from_token("a b", 3, &cred, &err) == CU_ERR_BAD_TOKEN);
    CHECK(from_token("ab\0c", 4, &cred, &err) == CU_ERR_BAD_TOKEN);
    CHECK(from_token("\xC3\xA9", 2, &cred, &err) == CU_ERR_BAD_TOKEN);
    CHECK(from_token("=", 1, &cred, &err) == CU_ERR_BAD_TOKEN);
    CHECK(from_token("abc==", 5, &cred, &err) == CU_OK);
    cu_credential_free(cred);
    memset(doc, 'A', CU_MAX_TOKEN_BYTES + 1);
    CHECK(from_token(doc, CU_MAX_TOKEN_BYTES, &cred, &err) == CU_OK);
    cu_credential_free(cred);
    CHECK(from_token(doc, CU_MAX_TOKEN_BYTES + 1, &cred, &err) == CU_ERR_BAD_TOKEN);
    CHECK(cu_max_token_bytes() == CU_MAX_TOKEN_BYTES);
}

/* ---- the file reader ---- */

static char dir[] = "/tmp/cu-test-XXXXXX";
static char path_buf[256];

static const char *path_of(const char *name)
{
    snprintf(path_buf, sizeof path_buf, "%s/%s", dir, name);
    return path_buf;
}

static void write_file(const char *name, const char *data, size_t len)
{
    int fd = open(path_of(name), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(write(fd, data, len) == (ssize_t)len);
        close(fd);
    }
}
#define WRITE_FILE(name, lit) write_file(name, lit, sizeof lit - 1)

static int read_login(const char *name, int64_t now_ms, const char *scope, cu_error *err)
{
    cu_credential *cred = cu_read_credential_file(path_of(name), now_ms, scope, err);
    int status = err->status;
    CHECK((status == CU_OK) == (cred != NULL));
    if (cred != NULL)
        check_full_store(cred);
    cu_credential_free(cred);
    return status;
}

static int read_status(const char *name, cu_error *err)
{
    return read_login(name, 0, "user:profile", err);
}

static void expect_file(const char *name, int want)
{
    cu_error err;
    int status = read_status(name, &err);
    CHECK(status == want);
    CHECK(err.status == status);
    if (status != want)
        fprintf(stderr, "  %s: status %d, expected %d (errno %d)\n", name, status, want, err.sys_errno);
}

/* Run as an unprivileged user when root, which reads through any permission bits. */
static void expect_unreadable(void)
{
    pid_t pid;
    int wstatus = 0;

    WRITE_FILE("locked.json", full_store);
    CHECK(chmod(path_of("locked.json"), 0) == 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        cu_error err;
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(100);
        _exit(read_status("locked.json", &err) == CU_ERR_PERMISSION && err.sys_errno == EACCES ? 0 : 101);
    }
    CHECK(waitpid(pid, &wstatus, 0) == pid);
    CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
    unlink(path_of("locked.json"));
}

/* store.json expires at 1768384301294 and lists user:inference, user:profile, user:sessions:claude_code. */
static void test_login_checks(void)
{
    cu_error err;
    CHECK(read_login("store.json", INT64_C(1768384301293), "user:profile", &err) == CU_OK);
    CHECK(read_login("store.json", INT64_C(1768384301294), "user:profile", &err) == CU_ERR_EXPIRED);
    CHECK(err.status == CU_ERR_EXPIRED);
    CHECK(read_login("store.json", 0, "user:admin", &err) == CU_ERR_MISSING_SCOPE);
    CHECK(read_login("store.json", 0, "user:profil", &err) == CU_ERR_MISSING_SCOPE);
    CHECK(read_login("store.json", 0, NULL, &err) == CU_OK);
}

static void test_files(void)
{
    char target[sizeof path_buf];
    int fd;
    cu_error err;

    CHECK(mkdtemp(dir) != NULL);
    CHECK(chmod(dir, 0711) == 0); /* the unprivileged child must reach its file */

    WRITE_FILE("store.json", full_store);
    expect_file("store.json", CU_OK);
    test_login_checks();
    expect_file("missing.json", CU_ERR_NOT_FOUND);
    expect_file("store.json/child", CU_ERR_NOT_FOUND); /* ENOTDIR */
    WRITE_FILE("empty.json", "");
    expect_file("empty.json", CU_ERR_EMPTY);
    WRITE_FILE("blank.json", "\n  \n");
    expect_file("blank.json", CU_ERR_EMPTY);
    WRITE_FILE("text.json", "not json " REFRESH);
    expect_file("text.json", CU_ERR_SYNTAX);
    WRITE_FILE("array.json", "[\"" REFRESH "\"]");
    expect_file("array.json", CU_ERR_NOT_OBJECT);
    WRITE_FILE("mcp.json", "{\"mcpOAuth\":{\"s\":{" REFRESH_FIELD "}}}");
    expect_file("mcp.json", CU_ERR_NOT_LOGGED_IN);
    WRITE_FILE("badtoken.json", LOGIN(REFRESH_FIELD ",\"accessToken\":\"" ACCESS " \""));
    expect_file("badtoken.json", CU_ERR_BAD_TOKEN);
    WRITE_FILE("wrongtype.json", LOGIN(TOKEN_FIELD "," REFRESH_FIELD ",\"scopes\":\"" ACCESS "\""));
    expect_file("wrongtype.json", CU_ERR_WRONG_TYPE);
    WRITE_FILE("late-error.json", LOGIN(TOKEN_FIELD "," REFRESH_FIELD) " x");
    expect_file("late-error.json", CU_ERR_SYNTAX);
    WRITE_FILE("late-deep.json",
               "{" TOKEN_FIELD "," REFRESH_FIELD ",\"d\":"
               "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]");
    expect_file("late-deep.json", CU_ERR_TOO_DEEP);
    WRITE_FILE("truncated.json", LOGIN(TOKEN_FIELD "," REFRESH_FIELD));
    CHECK(truncate(path_of("truncated.json"), (off_t)(sizeof LOGIN(TOKEN_FIELD "," REFRESH_FIELD) - 4)) == 0);
    expect_file("truncated.json", CU_ERR_SYNTAX);

    /* Symlinks are followed; a dangling one is "not found". */
    snprintf(target, sizeof target, "%s", path_of("store.json"));
    CHECK(symlink(target, path_of("link.json")) == 0);
    expect_file("link.json", CU_OK);
    CHECK(symlink("nowhere.json", path_of("dangling.json")) == 0);
    expect_file("dangling.json", CU_ERR_NOT_FOUND);
    CHECK(symlink("loop.json", path_of("loop.json")) == 0);
    expect_file("loop.json", CU_ERR_IO);

    /* Not regular files: refused without reading (a FIFO with no writer would block a read). */
    CHECK(mkdir(path_of("dir.json"), 0700) == 0);
    expect_file("dir.json", CU_ERR_IS_DIRECTORY);
    CHECK(mkfifo(path_of("fifo.json"), 0600) == 0);
    expect_file("fifo.json", CU_ERR_NOT_REGULAR);
    expect_file("../../dev/null", CU_ERR_NOT_REGULAR);

    /* Too large: a 2 MiB sparse file is refused from fstat's size alone. */
    fd = open(path_of("big.json"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && ftruncate(fd, 2 * 1024 * 1024) == 0);
    close(fd);
    expect_file("big.json", CU_ERR_TOO_LARGE);
    fd = open(path_of("limit.json"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && ftruncate(fd, (off_t)CU_MAX_FILE_BYTES + 1) == 0);
    close(fd);
    expect_file("limit.json", CU_ERR_TOO_LARGE);
    fd = open(path_of("limit.json"), O_WRONLY | O_TRUNC, 0600);
    CHECK(fd >= 0 && write(fd, "{}", 2) == 2 && ftruncate(fd, (off_t)CU_MAX_FILE_BYTES) == 0);
    close(fd);
    expect_file("limit.json", CU_ERR_SYNTAX); /* read: NUL padding after the object */
    CHECK(cu_max_file_bytes() == CU_MAX_FILE_BYTES);

    expect_unreadable();
    CHECK(read_status("missing.json", &err) == CU_ERR_NOT_FOUND && err.sys_errno == ENOENT);
}

/* ---- re-reading a store caught mid-rewrite ---- */

/* A cu_login_reader that fails `bad_reads` times with `status`, then reads full_store. */
typedef struct {
    int status;
    int bad_reads;
    int calls;
} scripted_store;

static int scripted_read(void *context, cu_credential **out, cu_error *err)
{
    scripted_store *store = context;
    store->calls++;
    *out = (cu_credential *)&store->calls; /* a reader may leave anything here on failure */
    if (store->calls <= store->bad_reads) {
        cu_fail(err, store->status);
        if (err != NULL)
            err->offset = (size_t)store->calls; /* tells the attempts' errors apart */
        return store->status;
    }
    return cu_parse_login(full_store, sizeof full_store - 1, out, err);
}

/* The status cu_read_retrying gives; *calls how many attempts it made. */
static int read_scripted(int status, int bad_reads, int *calls, cu_error *err)
{
    scripted_store store = { status, bad_reads, 0 };
    cu_credential *cred = (cu_credential *)&cred;
    int got = cu_read_retrying(scripted_read, &store, &cred, err);

    CHECK((got == CU_OK) == (cred != NULL));
    if (got == CU_OK && cred != NULL) { /* on failure cred may be the reader's junk: never freed */
        check_full_store(cred);
        cu_credential_free(cred);
    }
    *calls = store.calls;
    return got;
}

static void test_retrying(void)
{
    static const int lasting[] = { CU_ERR_NOT_FOUND,  CU_ERR_PERMISSION,    CU_ERR_IS_DIRECTORY, CU_ERR_NOT_REGULAR,
                                   CU_ERR_IO,         CU_ERR_TOO_LARGE,     CU_ERR_TOO_DEEP,     CU_ERR_NOT_OBJECT,
                                   CU_ERR_WRONG_TYPE, CU_ERR_NOT_LOGGED_IN, CU_ERR_BAD_TOKEN,    CU_ERR_NO_MEMORY };
    cu_error err;
    int calls, i;

    /* A store that stays empty or not JSON: retried, bounded, and the last attempt's error. */
    CHECK(read_scripted(CU_ERR_EMPTY, INT_MAX, &calls, &err) == CU_ERR_EMPTY);
    CHECK(err.status == CU_ERR_EMPTY);
    CHECK(calls >= CU_RETRY_MIN_ATTEMPTS && calls <= CU_RETRY_MAX_ATTEMPTS);
    CHECK(read_scripted(CU_ERR_SYNTAX, INT_MAX, &calls, &err) == CU_ERR_SYNTAX);
    CHECK(calls >= CU_RETRY_MIN_ATTEMPTS && calls <= CU_RETRY_MAX_ATTEMPTS);
    CHECK(err.offset == (size_t)calls);
    CHECK(read_scripted(CU_ERR_SYNTAX, INT_MAX, &calls, NULL) == CU_ERR_SYNTAX);

    /* Caught mid-rewrite, then whole. */
    CHECK(read_scripted(CU_ERR_EMPTY, 2, &calls, &err) == CU_OK);
    CHECK(calls == 3 && err.status == CU_OK);
    CHECK(read_scripted(CU_ERR_SYNTAX, 5, &calls, &err) == CU_OK);
    CHECK(calls == 6 && err.status == CU_OK && err.offset == 0);

    /* What a rewrite cannot explain is reported at once; so is the first read that succeeds. */
    for (i = 0; i < (int)(sizeof lasting / sizeof lasting[0]); i++) {
        CHECK(read_scripted(lasting[i], INT_MAX, &calls, &err) == lasting[i]);
        CHECK(calls == 1 && err.status == lasting[i]);
    }
    CHECK(read_scripted(CU_OK, 0, &calls, &err) == CU_OK);
    CHECK(calls == 1);
}

static void remove_dir(void)
{
    static const char *const names[] = {
        "store.json",    "empty.json",     "blank.json",      "text.json",      "array.json",     "mcp.json",
        "badtoken.json", "wrongtype.json", "late-error.json", "late-deep.json", "truncated.json", "link.json",
        "dangling.json", "loop.json",      "fifo.json",       "big.json",       "limit.json",
    };
    size_t i;
    for (i = 0; i < sizeof names / sizeof names[0]; i++)
        unlink(path_of(names[i]));
    rmdir(path_of("dir.json"));
    rmdir(dir);
}

int main(int argc, char **argv)
{
    int expect_unwiped = argc > 1 && strcmp(argv[1], "--expect-unwiped") == 0;

    run_parse_cases();
    test_extraction();
    test_depth();
    test_token_limits();
    test_files();
    remove_dir();
    test_retrying();

#ifdef CU_TEST_WIPE
    printf("freed blocks still holding a test token: %zu\n", unwiped_frees);
    if (expect_unwiped)
        CHECK(unwiped_frees > 0); /* the sabotaged build must be caught */
    else
        CHECK(unwiped_frees == 0);
#else
    CHECK(!expect_unwiped); /* only meaningful in the wipe build */
#endif
    printf("%d checks, %d failures\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
