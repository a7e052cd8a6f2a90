/*
 * A strict RFC 8259 scanner that extracts the Claude login from a credential
 * document in a single validating pass.
 *
 * Pass one validates the whole document (so a syntax error anywhere wins over
 * anything found before it) and remembers where the values that matter start:
 * the last top-level "claudeAiOauth" and, inside that very object, the last
 * occurrence of each known field (duplicate keys: the last one wins, as in
 * Python's json; a later "claudeAiOauth" replaces an earlier one wholesale).
 * Extraction then revisits only those values, which are known to be valid.
 *
 * Nothing but the five fields is ever copied: other values, the refresh token
 * among them, are only scanned in place. All strings go into one arena inside
 * the credential's single allocation; key decoding uses a wiped stack buffer.
 *
 * Checks after validation, in this order (the Python oracle in
 * tests/test_native_differential.py mirrors it):
 *   claudeAiOauth absent/null: NOT_LOGGED_IN; not an object: WRONG_TYPE
 *   accessToken absent/null/"": NOT_LOGGED_IN; not a string: WRONG_TYPE;
 *     outside the RFC 6750 alphabet or too long: BAD_TOKEN
 *   expiresAt (integer fitting int64), scopes (array of strings),
 *   subscriptionType, rateLimitTier (strings): absent/null allowed, else WRONG_TYPE
 */
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "cu_internal.h"

typedef unsigned char uchar;

enum field {
    F_ACCESS_TOKEN,
    F_EXPIRES_AT,
    F_SCOPES,
    F_SUBSCRIPTION_TYPE,
    F_RATE_LIMIT_TIER,
    F_COUNT,
    F_CLAUDE_AI_OAUTH = F_COUNT /* a top-level key, not a field of the login */
};

/* Hand-laid tables: */
/* clang-format off */
#define NAME(text) { text, sizeof text - 1 }
static const struct {
    const char *text;
    size_t len;
} field_names[F_COUNT + 1] = {
    NAME("accessToken"), NAME("expiresAt"), NAME("scopes"), NAME("subscriptionType"), NAME("rateLimitTier"),
    NAME("claudeAiOauth"),
};
#undef NAME
/* clang-format on */

/* What an object's keys mean: only the root and the login object have keys we look for. */
enum role { ROLE_OTHER, ROLE_ROOT, ROLE_LOGIN };

typedef struct {
    const uchar *start;
    const uchar *end;
    int status;                      /* first error found, CU_OK while none */
    size_t offset;                   /* its byte offset */
    const uchar *login;              /* value of the last top-level claudeAiOauth, or NULL */
    const uchar *field[F_COUNT];     /* inside that value: where each field's last value starts */
    const uchar *field_end[F_COUNT]; /* and where it ends */
} scanner;

/* Byte classes inside a string. */
enum { C_PLAIN, C_QUOTE, C_ESCAPE, C_CONTROL, C_UTF8 };

/* One row per 8 bytes: */
/* clang-format off */
static const uchar string_class[256] = {
    /* 0x00-0x1f: control characters must be escaped */
    C_CONTROL, C_CONTROL, C_CONTROL, C_CONTROL, C_CONTROL, C_CONTROL, C_CONTROL, C_CONTROL,
    C_CONTROL, C_CONTROL, C_CONTROL, C_CONTROL, C_CONTROL, C_CONTROL, C_CONTROL, C_CONTROL,
    C_CONTROL, C_CONTROL, C_CONTROL, C_CONTROL, C_CONTROL, C_CONTROL, C_CONTROL, C_CONTROL,
    C_CONTROL, C_CONTROL, C_CONTROL, C_CONTROL, C_CONTROL, C_CONTROL, C_CONTROL, C_CONTROL,
    C_PLAIN, C_PLAIN, C_QUOTE, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, /* 0x20-0x27 */
    C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN,
    C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN,
    C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN,
    C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, /* 0x40 */
    C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN,
    C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN,
    C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_ESCAPE, C_PLAIN, C_PLAIN, C_PLAIN, /* 0x5c '\\' */
    C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, /* 0x60 */
    C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN,
    C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN,
    C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN,
    /* 0x80-0xff: the bytes of a multi-byte UTF-8 sequence, checked one sequence at a time */
    C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8,
    C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8,
    C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8,
    C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8,
    C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8,
    C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8,
    C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8,
    C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8,
    C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8,
    C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8,
    C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8,
    C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8,
    C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8,
    C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8,
    C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8,
    C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8, C_UTF8,
};
/* clang-format on */

static const uchar *fail_at(scanner *s, const uchar *p, int status)
{
    if (s->status == CU_OK) {
        s->status = status;
        s->offset = (size_t)(p - s->start);
    }
    return NULL;
}

static const uchar *skip_space(const scanner *s, const uchar *p)
{
    while (p < s->end && *p <= ' ' && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

int cu_hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits at p (bounds already checked); -1 if any is not hex. */
static long hex4(const uchar *p)
{
    long v = 0;
    int i;
    for (i = 0; i < 4; i++) {
        int d = cu_hex_value(p[i]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Validates one multi-byte UTF-8 sequence (RFC 3629 table) starting at p; returns its end or NULL. */
static const uchar *scan_utf8(scanner *s, const uchar *p)
{
    const uchar lead = *p;
    uchar lo = 0x80, hi = 0xBF;
    int more;

    if (lead >= 0xC2 && lead <= 0xDF)
        more = 1;
    else if (lead >= 0xE0 && lead <= 0xEF) {
        more = 2;
        if (lead == 0xE0)
            lo = 0xA0; /* no overlongs */
        else if (lead == 0xED)
            hi = 0x9F; /* no UTF-16 surrogates */
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        more = 3;
        if (lead == 0xF0)
            lo = 0x90; /* no overlongs */
        else if (lead == 0xF4)
            hi = 0x8F; /* nothing past U+10FFFF */
    } else
        return fail_at(s, p, CU_ERR_SYNTAX); /* stray continuation, C0/C1 overlong, F5-FF */

    p++;
    if (p >= s->end || *p < lo || *p > hi)
        return fail_at(s, p, CU_ERR_SYNTAX);
    for (p++, more--; more > 0; more--, p++)
        if (p >= s->end || (*p & 0xC0) != 0x80)
            return fail_at(s, p, CU_ERR_SYNTAX);
    return p;
}

/* Validates the escape at p (a backslash); returns its end or NULL. */
static const uchar *scan_escape(scanner *s, const uchar *p)
{
    long unit;

    if (p + 1 >= s->end)
        return fail_at(s, s->end, CU_ERR_SYNTAX);
    switch (p[1]) {
    /* clang-format off */
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        /* clang-format on */
        return p + 2;
    case 'u':
        break;
    default:
        return fail_at(s, p + 1, CU_ERR_SYNTAX);
    }
    if (s->end - p < 6 || (unit = hex4(p + 2)) < 0)
        return fail_at(s, p, CU_ERR_SYNTAX);
    if (unit >= 0xDC00 && unit <= 0xDFFF)
        return fail_at(s, p, CU_ERR_SYNTAX); /* a low surrogate with no high one before it */
    if (unit < 0xD800 || unit > 0xDBFF)
        return p + 6;
    /* A high surrogate: the low half must follow as another \u escape. */
    p += 6;
    if (s->end - p < 6 || p[0] != '\\' || p[1] != 'u' || (unit = hex4(p + 2)) < 0xDC00 || unit > 0xDFFF)
        return fail_at(s, p, CU_ERR_SYNTAX);
    return p + 6;
}

/*
 * Nonzero if any of the 8 bytes in x needs a closer look: '"', '\\', a control byte or a
 * non-ASCII one; the high bit of each such byte is set. A borrow can also flag a byte above a
 * special one, never one below, so the lowest flag marks the first special byte exactly.
 */
static uint64_t special_bytes(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    const uint64_t quote = x ^ (ones * '"'), backslash = x ^ (ones * '\\');
    return (((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) | ((x - ones * 0x20) & ~x) | x) & highs;
}

/* Advances p past plain string bytes, many at a time, straight to the first special one. */
static const uchar *skip_plain(const scanner *s, const uchar *p)
{
#if defined(__SSE2__)
    /* x86-64 always has SSE2: 16 bytes a step. A signed compare with 0x20 flags the control
       bytes and every byte from 0x80 up at once. */
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
    while (s->end - p >= 16) {
        const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        const int special = _mm_movemask_epi8(_mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)), _mm_cmplt_epi8(v, space)));
        if (special != 0)
            return p + __builtin_ctz((unsigned)special);
        p += 16;
    }
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && (defined(__GNUC__) || defined(__clang__))
    uint64_t chunk, special;
    while (s->end - p >= 8) {
        memcpy(&chunk, p, sizeof chunk);
        if ((special = special_bytes(chunk)) != 0)
            return p + (__builtin_ctzll(special) >> 3); /* little-endian: the lowest byte comes first */
        p += 8;
    }
#endif
    while (p < s->end && string_class[*p] == C_PLAIN)
        p++;
    return p;
}

/* Validates the string whose opening quote is at p; returns the byte after its closing quote. */
static const uchar *scan_string(scanner *s, const uchar *p, int *escaped)
{
    *escaped = 0;
    for (p++;;) {
        /* Most of a credential file is plain ASCII inside strings. */
        p = skip_plain(s, p);
        if (p >= s->end)
            return fail_at(s, p, CU_ERR_SYNTAX);
        switch (string_class[*p]) {
        case C_QUOTE:
            return p + 1;
        case C_ESCAPE:
            *escaped = 1;
            if ((p = scan_escape(s, p)) == NULL)
                return NULL;
            break;
        case C_UTF8:
            if ((p = scan_utf8(s, p)) == NULL)
                return NULL;
            break;
        default:
            return fail_at(s, p, CU_ERR_SYNTAX);
        }
    }
}

static const uchar *scan_digits(const scanner *s, const uchar *p)
{
    while (p < s->end && *p >= '0' && *p <= '9')
        p++;
    return p;
}

/* number = [ minus ] int [ frac ] [ exp ]; int = zero / ( digit1-9 *DIGIT ) */
static const uchar *scan_number(scanner *s, const uchar *p)
{
    const uchar *q;

    if (*p == '-')
        p++;
    if (p >= s->end || *p < '0' || *p > '9')
        return fail_at(s, p, CU_ERR_SYNTAX);
    p = *p == '0' ? p + 1 : scan_digits(s, p);
    if (p < s->end && *p == '.') {
        q = scan_digits(s, p + 1);
        if (q == p + 1)
            return fail_at(s, q, CU_ERR_SYNTAX);
        p = q;
    }
    if (p < s->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < s->end && (*p == '+' || *p == '-'))
            p++;
        q = scan_digits(s, p);
        if (q == p)
            return fail_at(s, q, CU_ERR_SYNTAX);
        p = q;
    }
    return p;
}

static const uchar *scan_literal(scanner *s, const uchar *p, const char *word, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (p + i >= s->end || p[i] != (uchar)word[i])
            return fail_at(s, p + i, CU_ERR_SYNTAX);
    return p + n;
}

/* The code point of the escape at p in a validated string; advances *pp past it. */
static uint32_t read_escape(const uchar **pp)
{
    const uchar *p = *pp;
    uint32_t unit, low;

    *pp = p + 2;
    switch (p[1]) {
    /* clang-format off */
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'u': break;
    default: return p[1]; /* " \ / */
        /* clang-format on */
    }
    unit = (uint32_t)hex4(p + 2);
    *pp = p + 6;
    if (unit < 0xD800 || unit > 0xDBFF)
        return unit;
    low = (uint32_t)hex4(p + 8);
    *pp = p + 12;
    return 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
}

static char *put_utf8(char *w, uint32_t c)
{
    if (c < 0x80) {
        *w++ = (char)c;
    } else if (c < 0x800) {
        *w++ = (char)(0xC0 | (c >> 6));
        *w++ = (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        *w++ = (char)(0xE0 | (c >> 12));
        *w++ = (char)(0x80 | ((c >> 6) & 0x3F));
        *w++ = (char)(0x80 | (c & 0x3F));
    } else {
        *w++ = (char)(0xF0 | (c >> 18));
        *w++ = (char)(0x80 | ((c >> 12) & 0x3F));
        *w++ = (char)(0x80 | ((c >> 6) & 0x3F));
        *w++ = (char)(0x80 | (c & 0x3F));
    }
    return w;
}

/*
 * Decodes the contents of a validated string [p, end) into w, which has room
 * for end - p bytes (decoding never grows a JSON string); returns the length.
 * Stops early, returning limit + 1, once more than limit bytes are produced.
 */
static size_t decode_string(const uchar *p, const uchar *end, char *w, size_t limit)
{
    char *const start = w;
    while (p < end && (size_t)(w - start) <= limit) {
        const uchar *escape = memchr(p, '\\', (size_t)(end - p));
        size_t plain = (size_t)((escape != NULL ? escape : end) - p);
        if (plain > limit + 1 - (size_t)(w - start))
            plain = limit + 1 - (size_t)(w - start);
        memcpy(w, p, plain);
        w += plain;
        p += plain;
        if (p < end && *p == '\\' && (size_t)(w - start) <= limit)
            w = put_utf8(w, read_escape(&p));
    }
    return (size_t)(w - start) > limit ? limit + 1 : (size_t)(w - start);
}

/* Which known key the string [p, end) (validated, quotes excluded) is, or -1. */
static int match_key(const uchar *p, const uchar *end, int escaped, enum role role)
{
    /* decode_string may write 4 bytes past its limit; anything past the limit matches nothing. */
    char decoded[sizeof "subscriptionType" + 8];
    const char *key = (const char *)p;
    size_t len = (size_t)(end - p);
    int i = role == ROLE_ROOT ? F_CLAUDE_AI_OAUTH : 0;
    int last = role == ROLE_ROOT ? F_CLAUDE_AI_OAUTH : F_COUNT - 1;
    int found = -1;

    if (escaped) {
        len = decode_string(p, end, decoded, sizeof decoded - 4);
        key = decoded;
    }
    for (; i <= last && found < 0; i++)
        if (field_names[i].len == len && memcmp(key, field_names[i].text, len) == 0)
            found = i;
    if (escaped)
        cu_memzero(decoded, sizeof decoded);
    return found;
}

static const uchar *scan_value(scanner *s, const uchar *p, int depth, enum role role);

static const uchar *scan_object(scanner *s, const uchar *p, int depth, enum role role)
{
    p = skip_space(s, p + 1);
    if (p < s->end && *p == '}')
        return p + 1;
    for (;;) {
        const uchar *key;
        int escaped, id = -1;
        enum role child = ROLE_OTHER;

        if (p >= s->end || *p != '"')
            return fail_at(s, p, CU_ERR_SYNTAX);
        key = p;
        if ((p = scan_string(s, p, &escaped)) == NULL)
            return NULL;
        if (role != ROLE_OTHER)
            id = match_key(key + 1, p - 1, escaped, role);
        p = skip_space(s, p);
        if (p >= s->end || *p != ':')
            return fail_at(s, p, CU_ERR_SYNTAX);
        p = skip_space(s, p + 1);
        if (p >= s->end)
            return fail_at(s, p, CU_ERR_SYNTAX);

        if (id == F_CLAUDE_AI_OAUTH) {
            /* A later claudeAiOauth replaces the earlier one wholesale: forget its fields. */
            int f;
            s->login = p;
            for (f = 0; f < F_COUNT; f++)
                s->field[f] = s->field_end[f] = NULL;
            child = ROLE_LOGIN;
        } else if (id >= 0) {
            s->field[id] = p;
        }
        if ((p = scan_value(s, p, depth, child)) == NULL)
            return NULL;
        if (id >= 0 && id < F_COUNT)
            s->field_end[id] = p;

        p = skip_space(s, p);
        if (p < s->end && *p == ',') {
            p = skip_space(s, p + 1);
            continue;
        }
        if (p < s->end && *p == '}')
            return p + 1;
        return fail_at(s, p, CU_ERR_SYNTAX);
    }
}

static const uchar *scan_array(scanner *s, const uchar *p, int depth)
{
    p = skip_space(s, p + 1);
    if (p < s->end && *p == ']')
        return p + 1;
    for (;;) {
        if ((p = scan_value(s, p, depth, ROLE_OTHER)) == NULL)
            return NULL;
        p = skip_space(s, p);
        if (p < s->end && *p == ',') {
            p = skip_space(s, p + 1);
            continue;
        }
        if (p < s->end && *p == ']')
            return p + 1;
        return fail_at(s, p, CU_ERR_SYNTAX);
    }
}

/* depth: how many containers enclose p. role: what the keys mean if p is an object. */
static const uchar *scan_value(scanner *s, const uchar *p, int depth, enum role role)
{
    int escaped;

    if (p >= s->end)
        return fail_at(s, p, CU_ERR_SYNTAX);
    switch (*p) {
    case '{':
    case '[':
        if (depth >= CU_MAX_DEPTH)
            return fail_at(s, p, CU_ERR_TOO_DEEP);
        return *p == '{' ? scan_object(s, p, depth + 1, role) : scan_array(s, p, depth + 1);
    case '"':
        return scan_string(s, p, &escaped);
    case 't':
        return scan_literal(s, p, "true", 4);
    case 'f':
        return scan_literal(s, p, "false", 5);
    case 'n':
        return scan_literal(s, p, "null", 4);
    default:
        if (*p == '-' || (*p >= '0' && *p <= '9'))
            return scan_number(s, p);
        return fail_at(s, p, CU_ERR_SYNTAX);
    }
}

/* ---- extraction: everything below runs on values the scanner has validated ---- */

/* The closing quote of the validated string whose opening quote is at p. */
static const uchar *string_close(const scanner *s, const uchar *p)
{
    for (p++;;) {
        const uchar *quote = memchr(p, '"', (size_t)(s->end - p)), *q = quote;
        /* Escaped only if an odd run of backslashes precedes it. */
        while (q > p && q[-1] == '\\')
            q--;
        if ((quote - q) % 2 == 0)
            return quote;
        p = quote + 1;
    }
}

static int is_null(const uchar *value)
{
    return value == NULL || *value == 'n';
}

static int wrong_type(cu_error *err, int field)
{
    cu_fail(err, CU_ERR_WRONG_TYPE);
    if (err != NULL)
        memcpy(err->field, field_names[field].text, field_names[field].len + 1);
    return CU_ERR_WRONG_TYPE;
}

/* A JSON integer (no fraction, no exponent) that fits int64_t, else 0. */
static int parse_int64(const scanner *s, const uchar *p, int64_t *out)
{
    const uint64_t limit = (uint64_t)INT64_MAX;
    uint64_t magnitude = 0;
    int negative = *p == '-';

    if (negative)
        p++;
    if (*p < '0' || *p > '9')
        return 0; /* not a number at all */
    for (; p < s->end && *p >= '0' && *p <= '9'; p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (magnitude > (limit + 1 - digit) / 10)
            return 0;
        magnitude = magnitude * 10 + digit;
    }
    if (p < s->end && (*p == '.' || *p == 'e' || *p == 'E'))
        return 0;
    if (magnitude > limit + (uint64_t)negative)
        return 0;
    if (negative)
        *out = magnitude == limit + 1 ? INT64_MIN : -(int64_t)magnitude;
    else
        *out = (int64_t)magnitude;
    return 1;
}

/* Walks the validated array at p: 1 if every element is a string; counts them and their raw bytes. */
static int measure_string_array(const scanner *s, const uchar *p, size_t *count, size_t *bytes)
{
    *count = 0;
    *bytes = 0;
    p = skip_space(s, p + 1);
    if (*p == ']')
        return 1;
    for (;;) {
        const uchar *close;
        if (*p != '"')
            return 0;
        close = string_close(s, p);
        ++*count;
        *bytes += (size_t)(close - p); /* contents plus one for the NUL */
        p = skip_space(s, close + 1);
        if (*p == ']')
            return 1;
        p = skip_space(s, p + 1); /* the comma */
    }
}

/* Decodes the validated string between quotes at open and close into the arena at *w. */
static cu_text put_text(const uchar *open, const uchar *close, char **w)
{
    cu_text text;
    text.ptr = *w;
    text.len = decode_string(open + 1, close, *w, (size_t)(close - open));
    (*w)[text.len] = '\0';
    *w += text.len + 1;
    return text;
}

/* The token rule applied to the decoded string; escapes are decoded in a wiped scratch buffer. */
static int token_status(const uchar *open, const uchar *close)
{
    char scratch[CU_MAX_TOKEN_BYTES + 4]; /* decode_string may overshoot its limit by 4 */
    size_t len = (size_t)(close - open - 1);
    int status;

    if (memchr(open + 1, '\\', len) == NULL)
        return cu_token_status((const char *)open + 1, len);
    len = decode_string(open + 1, close, scratch, CU_MAX_TOKEN_BYTES);
    status = cu_token_status(scratch, len); /* len is past the limit if too long */
    cu_memzero(scratch, len + 4 < sizeof scratch ? len + 4 : sizeof scratch);
    return status;
}

static int extract(const scanner *s, cu_credential **out, cu_error *err)
{
    const uchar *const *field = s->field;
    const uchar *close[F_COUNT];
    cu_credential *cred;
    size_t scope_count = 0, scope_bytes = 0, text_bytes = 0, i;
    int64_t expires_at = 0;
    int status, f;
    char *w;

    if (is_null(s->login))
        return cu_fail(err, CU_ERR_NOT_LOGGED_IN);
    if (*s->login != '{')
        return wrong_type(err, F_CLAUDE_AI_OAUTH);

    for (f = 0; f < F_COUNT; f++)
        close[f] = field[f] != NULL ? s->field_end[f] - 1 : NULL; /* a string's closing quote */
    if (is_null(field[F_ACCESS_TOKEN]))
        return cu_fail(err, CU_ERR_NOT_LOGGED_IN);
    if (*field[F_ACCESS_TOKEN] != '"')
        return wrong_type(err, F_ACCESS_TOKEN);
    if ((status = token_status(field[F_ACCESS_TOKEN], close[F_ACCESS_TOKEN])) != CU_OK)
        return cu_fail(err, status);

    if (!is_null(field[F_EXPIRES_AT]) && !parse_int64(s, field[F_EXPIRES_AT], &expires_at))
        return wrong_type(err, F_EXPIRES_AT);
    if (!is_null(field[F_SCOPES])
        && (*field[F_SCOPES] != '[' || !measure_string_array(s, field[F_SCOPES], &scope_count, &scope_bytes)))
        return wrong_type(err, F_SCOPES);
    if (!is_null(field[F_SUBSCRIPTION_TYPE]) && *field[F_SUBSCRIPTION_TYPE] != '"')
        return wrong_type(err, F_SUBSCRIPTION_TYPE);
    if (!is_null(field[F_RATE_LIMIT_TIER]) && *field[F_RATE_LIMIT_TIER] != '"')
        return wrong_type(err, F_RATE_LIMIT_TIER);

    /* A string's raw length (contents plus one quote, room for the NUL) bounds its decoded size. */
    for (f = 0; f < F_COUNT; f++)
        if (!is_null(field[f]) && *field[f] == '"')
            text_bytes += (size_t)(close[f] - field[f]);
    text_bytes += scope_bytes + CU_BEARER_LEN;

    cred = cu_credential_alloc(scope_count, text_bytes);
    if (cred == NULL)
        return cu_fail(err, CU_ERR_NO_MEMORY);
    w = cred->text;
    memcpy(w, CU_BEARER, CU_BEARER_LEN); /* the header value is the token's prefix (see cu_api.h) */
    w += CU_BEARER_LEN;
    cred->token = put_text(field[F_ACCESS_TOKEN], close[F_ACCESS_TOKEN], &w);
    if (!is_null(field[F_EXPIRES_AT])) {
        cred->has_expires_at = 1;
        cred->expires_at_ms = expires_at;
    }
    if (!is_null(field[F_SCOPES])) {
        const uchar *q = skip_space(s, field[F_SCOPES] + 1);
        cred->has_scopes = 1;
        cred->scope_count = scope_count;
        for (i = 0; i < scope_count; i++) {
            const uchar *end = string_close(s, q);
            cred->scopes[i] = put_text(q, end, &w);
            q = skip_space(s, end + 1);
            q = skip_space(s, q + 1); /* past the comma or the closing bracket */
        }
    }
    if (!is_null(field[F_SUBSCRIPTION_TYPE]))
        cred->subscription_type = put_text(field[F_SUBSCRIPTION_TYPE], close[F_SUBSCRIPTION_TYPE], &w);
    if (!is_null(field[F_RATE_LIMIT_TIER]))
        cred->rate_limit_tier = put_text(field[F_RATE_LIMIT_TIER], close[F_RATE_LIMIT_TIER], &w);
    *out = cred;
    return cu_ok(err);
}

int cu_parse_login(const char *data, size_t len, cu_credential **out, cu_error *err)
{
    scanner s;
    const uchar *p;

    *out = NULL;
    if (len == 0)
        return cu_fail(err, CU_ERR_EMPTY); /* before any pointer arithmetic on a possibly NULL data */
    memset(&s, 0, sizeof s);
    s.start = (const uchar *)data;
    s.end = s.start + len;
    s.status = CU_OK;

    p = skip_space(&s, s.start);
    if (p == s.end)
        return cu_fail(err, CU_ERR_EMPTY);
    if ((p = scan_value(&s, p, 0, ROLE_ROOT)) != NULL) {
        p = skip_space(&s, p);
        if (p != s.end)
            fail_at(&s, p, CU_ERR_SYNTAX);
    }
    if (s.status != CU_OK) {
        cu_fail(err, s.status);
        if (err != NULL)
            err->offset = s.offset;
        return s.status;
    }
    if (*skip_space(&s, s.start) != '{')
        return cu_fail(err, CU_ERR_NOT_OBJECT);
    return extract(&s, out, err);
}

cu_credential *cu_parse_credential_json(const char *data, size_t len, cu_error *err)
{
    cu_credential *cred;
    cu_parse_login(data, len, &cred, err);
    return cred;
}
