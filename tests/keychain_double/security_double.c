/*
 * Security.framework / CoreFoundation test double: just the functions and
 * constants csrc/cu_keychain.c uses, with behaviour set through kcd_control.h.
 *
 * Every CF object carries a header with a reference count. Objects that reach
 * zero stay allocated (marked dead) until kcd_reset, so a second CFRelease of
 * the same pointer is detected and counted instead of corrupting the heap.
 * CFRelease(NULL) and releasing a constant are counted as bad releases too:
 * real CoreFoundation crashes on the first and corrupts state on the second.
 *
 * SecItemCopyMatching follows Apple's documented rules (SecItem.h and the
 * SecItemCopyMatching reference), not the shape of today's query: items are keyed by
 * service and account, an attribute left out of the query matches any value (so only a
 * query that names the account is sure to get that account's item), a missing match
 * limit means one, kSecReturnData with kSecMatchLimitAll is refused on macOS, and an
 * unknown key or a value of the wrong type or set is errSecParam. kSecReturnAttributes
 * gives each match's attributes as a CFDictionary (kSecClass, kSecAttrService,
 * kSecAttrAccount), one of them, or with kSecMatchLimitAll a CFArray of them all. The keychain can be
 * locked (kcd_set_locked) and then answers as a Mac does.
 */
#include <stdlib.h>
#include <string.h>

#include <Security/Security.h>

#include "kcd_control.h"

enum { KCD_MAGIC = 0x4b434430u, KCD_MAX_ITEMS = 16, KCD_MAX_QUERIES = 64 };
enum kcd_kind { KCD_STRING = 1, KCD_DATA, KCD_DICTIONARY, KCD_BOOLEAN, KCD_ALLOCATOR, KCD_ARRAY };

struct kcd_header {
    unsigned magic;
    enum kcd_kind kind;
    long refcount;
    int is_constant;
    struct kcd_header *next; /* every heap object, dead or alive, until kcd_reset */
};

struct kcd_CFAllocator {
    struct kcd_header h;
};
struct kcd_CFBoolean {
    struct kcd_header h;
};
struct kcd_CFString {
    struct kcd_header h;
    const char *text;
};
struct kcd_CFData {
    struct kcd_header h;
    UInt8 *bytes;
    CFIndex length;
};
struct kcd_CFDictionary {
    struct kcd_header h;
    CFIndex count;
    const void **keys;
    const void **values;
};
struct kcd_CFArray {
    struct kcd_header h;
    CFIndex count;
    const void **values;
};

#define KCD_CONSTANT(kind)          \
    {                               \
        KCD_MAGIC, kind, 1, 1, NULL \
    }
#define KCD_CONSTANT_STRING(name, text)                                            \
    static struct kcd_CFString name##_object = { KCD_CONSTANT(KCD_STRING), text }; \
    const CFStringRef name = &name##_object;

KCD_CONSTANT_STRING(kSecClass, "class")
KCD_CONSTANT_STRING(kSecClassGenericPassword, "genp")
KCD_CONSTANT_STRING(kSecAttrService, "svce")
KCD_CONSTANT_STRING(kSecAttrAccount, "acct")
KCD_CONSTANT_STRING(kSecMatchLimit, "m_Limit")
KCD_CONSTANT_STRING(kSecMatchLimitOne, "m_LimitOne")
KCD_CONSTANT_STRING(kSecMatchLimitAll, "m_LimitAll")
KCD_CONSTANT_STRING(kSecReturnData, "r_Data")
KCD_CONSTANT_STRING(kSecReturnAttributes, "r_Attributes")
KCD_CONSTANT_STRING(kSecUseAuthenticationUI, "u_AuthUI")
KCD_CONSTANT_STRING(kSecUseAuthenticationUIAllow, "u_AuthUIA")
KCD_CONSTANT_STRING(kSecUseAuthenticationUIFail, "u_AuthUIF")
KCD_CONSTANT_STRING(kSecUseAuthenticationUISkip, "u_AuthUIS")

static struct kcd_CFBoolean kcd_true_object = { KCD_CONSTANT(KCD_BOOLEAN) };
const CFBooleanRef kCFBooleanTrue = &kcd_true_object;
const CFAllocatorRef kCFAllocatorDefault = NULL; /* NULL in Apple's headers too */
const CFDictionaryKeyCallBacks kCFTypeDictionaryKeyCallBacks = { 0 };
const CFDictionaryValueCallBacks kCFTypeDictionaryValueCallBacks = { 0 };

struct kcd_item {
    char *service;
    char *account;
    UInt8 *data;
    size_t length;
};

struct kcd_query {
    char *service;
    char *account;
    int wanted_data;
    int wanted_attributes;
    int match_all;
    int no_ui;
    int malformed;
};

static struct {
    struct kcd_header *objects;
    long created, released, bad_releases;
    long create_countdown; /* 0: never fail; 1: the next creation fails */
    struct kcd_item items[KCD_MAX_ITEMS];
    size_t item_count;
    int locate_status, read_status;
    int locked, empty_reads;
    struct kcd_query queries[KCD_MAX_QUERIES];
    int query_count;
} kcd;

static char *kcd_strdup(const char *text)
{
    size_t n = strlen(text) + 1;
    char *copy = malloc(n);
    if (copy != NULL)
        memcpy(copy, text, n);
    return copy;
}

/* Allocates a counted object, or NULL when out of memory or when a test asked for a failure. */
static void *kcd_new(size_t size, enum kcd_kind kind)
{
    struct kcd_header *h;
    if (kcd.create_countdown > 0 && --kcd.create_countdown == 0)
        return NULL;
    h = calloc(1, size);
    if (h == NULL)
        return NULL;
    h->magic = KCD_MAGIC;
    h->kind = kind;
    h->refcount = 1;
    h->next = kcd.objects;
    kcd.objects = h;
    kcd.created++;
    return h;
}

static struct kcd_header *kcd_header_of(CFTypeRef cf)
{
    struct kcd_header *h = (struct kcd_header *)(uintptr_t)cf;
    return (h != NULL && h->magic == KCD_MAGIC) ? h : NULL;
}

static int kcd_is_live(CFTypeRef cf, enum kcd_kind kind)
{
    struct kcd_header *h = kcd_header_of(cf);
    return h != NULL && h->kind == kind && h->refcount > 0;
}

static void kcd_retain(CFTypeRef cf)
{
    struct kcd_header *h = kcd_header_of(cf);
    if (h != NULL && !h->is_constant)
        h->refcount++;
}

void CFRelease(CFTypeRef cf)
{
    struct kcd_header *h = kcd_header_of(cf);
    if (h == NULL || h->is_constant || h->refcount <= 0) {
        kcd.bad_releases++;
        return;
    }
    if (--h->refcount > 0)
        return;
    kcd.released++;
    if (h->kind == KCD_DICTIONARY) {
        struct kcd_CFDictionary *d = (struct kcd_CFDictionary *)h;
        CFIndex i;
        for (i = 0; i < d->count; i++) {
            if (!kcd_header_of(d->keys[i])->is_constant)
                CFRelease(d->keys[i]);
            if (!kcd_header_of(d->values[i])->is_constant)
                CFRelease(d->values[i]);
        }
    } else if (h->kind == KCD_ARRAY) {
        struct kcd_CFArray *a = (struct kcd_CFArray *)h;
        CFIndex i;
        for (i = 0; i < a->count; i++)
            if (!kcd_header_of(a->values[i])->is_constant)
                CFRelease(a->values[i]);
    }
}

/* Real CoreFoundation refuses malformed UTF-8 with NULL; so does the double. */
static int kcd_valid_utf8(const unsigned char *s)
{
    while (*s != 0) {
        int extra = *s < 0x80 ? 0 : (*s & 0xe0) == 0xc0 ? 1 : (*s & 0xf0) == 0xe0 ? 2 : (*s & 0xf8) == 0xf0 ? 3 : -1;
        if (extra < 0 || (extra == 1 && *s < 0xc2))
            return 0;
        s++;
        while (extra-- > 0) {
            if ((*s & 0xc0) != 0x80)
                return 0;
            s++;
        }
    }
    return 1;
}

CFStringRef CFStringCreateWithCString(CFAllocatorRef alloc, const char *cStr, CFStringEncoding encoding)
{
    struct kcd_CFString *s;
    char *text;
    (void)alloc;
    if (cStr == NULL || encoding != kCFStringEncodingUTF8 || !kcd_valid_utf8((const unsigned char *)cStr))
        return NULL;
    text = kcd_strdup(cStr);
    if (text == NULL)
        return NULL;
    s = kcd_new(sizeof *s, KCD_STRING);
    if (s == NULL) {
        free(text);
        return NULL;
    }
    s->text = text;
    return s;
}

CFDictionaryRef CFDictionaryCreate(CFAllocatorRef allocator, const void **keys, const void **values, CFIndex numValues,
                                   const CFDictionaryKeyCallBacks *keyCallBacks,
                                   const CFDictionaryValueCallBacks *valueCallBacks)
{
    struct kcd_CFDictionary *d;
    CFIndex i;
    (void)allocator;
    /* Without the CFType callbacks the dictionary would not retain: a misuse here. */
    if (keyCallBacks != &kCFTypeDictionaryKeyCallBacks || valueCallBacks != &kCFTypeDictionaryValueCallBacks)
        return NULL;
    for (i = 0; i < numValues; i++) {
        struct kcd_header *k = kcd_header_of(keys[i]), *v = kcd_header_of(values[i]);
        if (k == NULL || v == NULL || k->refcount <= 0 || v->refcount <= 0)
            return NULL;
    }
    d = kcd_new(sizeof *d, KCD_DICTIONARY);
    if (d == NULL)
        return NULL;
    d->keys = calloc((size_t)numValues + 1, sizeof *d->keys);
    d->values = calloc((size_t)numValues + 1, sizeof *d->values);
    if (d->keys == NULL || d->values == NULL)
        abort(); /* the double's own allocation; tests do not exercise this */
    for (i = 0; i < numValues; i++) {
        d->keys[i] = keys[i];
        d->values[i] = values[i];
        kcd_retain(keys[i]);
        kcd_retain(values[i]);
    }
    d->count = numValues;
    return d;
}

CFTypeID CFGetTypeID(CFTypeRef cf)
{
    struct kcd_header *h = kcd_header_of(cf);
    return h == NULL ? 0 : (CFTypeID)h->kind;
}

CFTypeID CFDataGetTypeID(void)
{
    return KCD_DATA;
}

CFTypeID CFStringGetTypeID(void)
{
    return KCD_STRING;
}

CFTypeID CFDictionaryGetTypeID(void)
{
    return KCD_DICTIONARY;
}

CFTypeID CFArrayGetTypeID(void)
{
    return KCD_ARRAY;
}

/* Keys are compared by address, not CFEqual: every key the module looks up is a constant. */
const void *CFDictionaryGetValue(CFDictionaryRef theDict, const void *key)
{
    CFIndex i;
    if (!kcd_is_live(theDict, KCD_DICTIONARY))
        return NULL;
    for (i = 0; i < theDict->count; i++)
        if (theDict->keys[i] == key)
            return theDict->values[i];
    return NULL;
}

CFIndex CFArrayGetCount(CFArrayRef theArray)
{
    return kcd_is_live(theArray, KCD_ARRAY) ? theArray->count : 0;
}

/* Real CoreFoundation has undefined behaviour for an index out of range; the double aborts. */
const void *CFArrayGetValueAtIndex(CFArrayRef theArray, CFIndex idx)
{
    if (!kcd_is_live(theArray, KCD_ARRAY) || idx < 0 || idx >= theArray->count)
        abort();
    return theArray->values[idx];
}

/* As Apple documents: false, and nothing promised in buffer, when the text (and its NUL) does not fit. */
Boolean CFStringGetCString(CFStringRef theString, char *buffer, CFIndex bufferSize, CFStringEncoding encoding)
{
    size_t n;
    if (!kcd_is_live(theString, KCD_STRING) || buffer == NULL || bufferSize <= 0 || encoding != kCFStringEncodingUTF8)
        return 0;
    n = strlen(theString->text) + 1;
    if (n > (size_t)bufferSize)
        return 0;
    memcpy(buffer, theString->text, n);
    return 1;
}

CFIndex CFDataGetLength(CFDataRef theData)
{
    return kcd_is_live(theData, KCD_DATA) ? theData->length : 0;
}

const UInt8 *CFDataGetBytePtr(CFDataRef theData)
{
    return kcd_is_live(theData, KCD_DATA) ? theData->bytes : NULL;
}

static CFTypeRef kcd_lookup(CFDictionaryRef d, CFStringRef key)
{
    CFIndex i;
    for (i = 0; i < d->count; i++)
        if (d->keys[i] == key)
            return d->values[i];
    return NULL;
}

static const char *kcd_string_text(CFTypeRef cf)
{
    return kcd_is_live(cf, KCD_STRING) ? ((CFStringRef)cf)->text : NULL;
}

static int kcd_is_boolean(CFTypeRef cf)
{
    struct kcd_header *h = kcd_header_of(cf);
    return h != NULL && h->kind == KCD_BOOLEAN;
}

/* The UI policy's value, or NULL when the query has none; reading the deprecated constants
   is this double's job, so their warning is silenced here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static int kcd_known_ui_value(CFTypeRef v)
{
    return v == kSecUseAuthenticationUIAllow || v == kSecUseAuthenticationUIFail || v == kSecUseAuthenticationUISkip;
}
static int kcd_is_ui_fail(CFTypeRef v)
{
    return v == kSecUseAuthenticationUIFail;
}
static int kcd_is_ui_skip(CFTypeRef v)
{
    return v == kSecUseAuthenticationUISkip;
}
#pragma GCC diagnostic pop

/* Apple's documented rules for a SecItemCopyMatching query; anything else answers errSecParam. */
static int kcd_well_formed(CFDictionaryRef query, const CFTypeRef *result, int wants_data, int wants_attributes)
{
    CFIndex i;
    for (i = 0; i < query->count; i++) {
        CFTypeRef key = query->keys[i], value = query->values[i];
        int ok;
        if (key == kSecClass)
            ok = value == kSecClassGenericPassword; /* the only class the double stores */
        else if (key == kSecAttrService || key == kSecAttrAccount)
            ok = kcd_string_text(value) != NULL;
        else if (key == kSecMatchLimit)
            ok = value == kSecMatchLimitOne || value == kSecMatchLimitAll;
        else if (key == kSecReturnData || key == kSecReturnAttributes)
            ok = kcd_is_boolean(value);
        else if (key == kSecUseAuthenticationUI)
            ok = kcd_known_ui_value(value);
        else
            ok = 0; /* a key the double does not know: it cannot say what Apple would do */
        if (!ok)
            return 0;
    }
    if (kcd_lookup(query, kSecClass) == NULL)
        return 0; /* kSecClass is required */
    /* macOS: "You can't combine kSecReturnData and kSecMatchLimitAll when copying password items". */
    if (wants_data && kcd_lookup(query, kSecMatchLimit) == kSecMatchLimitAll)
        return 0;
    /* Data and attributes together come back as one dictionary holding kSecValueData, which the
       double does not model: refused rather than answered in a shape Apple would not use. */
    if (wants_data && wants_attributes)
        return 0;
    /* A result asked for with nowhere to put it is a caller's bug (Apple would drop it). */
    return !(wants_data || wants_attributes) || result != NULL;
}

/* Whether the item has the attributes the query names; a NULL attribute matches any. */
static int kcd_matches(const struct kcd_item *item, const char *service, const char *account)
{
    return (service == NULL || strcmp(item->service, service) == 0)
        && (account == NULL || strcmp(item->account, account) == 0);
}

/* The first matching item. */
static struct kcd_item *kcd_find(const char *service, const char *account)
{
    size_t i;
    for (i = 0; i < kcd.item_count; i++)
        if (kcd_matches(&kcd.items[i], service, account))
            return &kcd.items[i];
    return NULL;
}

/* The attribute dictionary of one item, or NULL when a creation failed (nothing is left over). */
static CFDictionaryRef kcd_attributes(const struct kcd_item *item)
{
    CFStringRef service = CFStringCreateWithCString(kCFAllocatorDefault, item->service, kCFStringEncodingUTF8);
    CFStringRef account = CFStringCreateWithCString(kCFAllocatorDefault, item->account, kCFStringEncodingUTF8);
    CFDictionaryRef attributes = NULL;
    if (service != NULL && account != NULL) {
        const void *keys[] = { kSecClass, kSecAttrService, kSecAttrAccount };
        const void *values[] = { kSecClassGenericPassword, service, account };
        attributes = CFDictionaryCreate(kCFAllocatorDefault, keys, values, 3, &kCFTypeDictionaryKeyCallBacks,
                                        &kCFTypeDictionaryValueCallBacks);
    }
    if (service != NULL)
        CFRelease(service);
    if (account != NULL)
        CFRelease(account);
    return attributes;
}

/* A CFArray of the attribute dictionaries of every matching item, or NULL when a creation failed. */
static CFArrayRef kcd_all_attributes(const char *service, const char *account)
{
    struct kcd_CFArray *array = kcd_new(sizeof *array, KCD_ARRAY);
    size_t i;
    if (array == NULL)
        return NULL;
    array->values = calloc(kcd.item_count + 1, sizeof *array->values);
    if (array->values == NULL)
        abort(); /* the double's own allocation; tests do not exercise this */
    for (i = 0; i < kcd.item_count; i++) {
        CFDictionaryRef attributes;
        if (!kcd_matches(&kcd.items[i], service, account))
            continue;
        attributes = kcd_attributes(&kcd.items[i]);
        if (attributes == NULL) {
            CFRelease(array);
            return NULL;
        }
        array->values[array->count++] = attributes; /* the array takes the creation's reference */
    }
    return array;
}

OSStatus SecItemCopyMatching(CFDictionaryRef query, CFTypeRef *result)
{
    struct kcd_query *logged = NULL;
    struct kcd_item *item;
    struct kcd_CFData *data;
    int wants_data, wants_attributes, match_all, no_ui;
    CFTypeRef ui;
    const char *service, *account;

    if (result != NULL)
        *result = NULL;
    if (!kcd_is_live(query, KCD_DICTIONARY))
        return errSecParam;
    wants_data = kcd_lookup(query, kSecReturnData) == (CFTypeRef)kCFBooleanTrue;
    wants_attributes = kcd_lookup(query, kSecReturnAttributes) == (CFTypeRef)kCFBooleanTrue;
    match_all = kcd_lookup(query, kSecMatchLimit) == (CFTypeRef)kSecMatchLimitAll;
    ui = kcd_lookup(query, kSecUseAuthenticationUI);
    no_ui = kcd_is_ui_fail(ui);
    service = kcd_string_text(kcd_lookup(query, kSecAttrService));
    account = kcd_string_text(kcd_lookup(query, kSecAttrAccount));
    if (kcd.query_count < KCD_MAX_QUERIES) {
        logged = &kcd.queries[kcd.query_count++];
        logged->service = kcd_strdup(service != NULL ? service : "");
        logged->account = kcd_strdup(account != NULL ? account : "");
        logged->wanted_data = wants_data;
        logged->wanted_attributes = wants_attributes;
        logged->match_all = match_all;
        logged->no_ui = no_ui;
    }
    if (!kcd_well_formed(query, result, wants_data, wants_attributes)) {
        if (logged != NULL)
            logged->malformed = 1;
        return errSecParam;
    }
    if (!wants_data && kcd.locate_status != 0)
        return kcd.locate_status;
    if (wants_data && kcd.read_status != 0)
        return kcd.read_status;
    item = kcd_find(service, account);
    if (item == NULL)
        return errSecItemNotFound;
    if (kcd.locked) {
        if (no_ui)
            return errSecInteractionNotAllowed;
        if (kcd_is_ui_skip(ui))
            return errSecItemNotFound; /* skipped: it would need UI */
        if (wants_data)
            return errSecUserCanceled; /* the unlock dialog, which no test can answer */
    }
    if (wants_attributes) {
        *result = match_all ? (CFTypeRef)kcd_all_attributes(service, account) : (CFTypeRef)kcd_attributes(item);
        return *result != NULL ? errSecSuccess : errSecAllocate;
    }
    if (!wants_data)
        return errSecSuccess;
    data = kcd_new(sizeof *data, KCD_DATA);
    if (data == NULL)
        return errSecAllocate;
    data->bytes = malloc(item->length + 1);
    if (data->bytes == NULL)
        abort();
    if (kcd.empty_reads > 0) {
        kcd.empty_reads--;
        data->length = 0;
    } else {
        memcpy(data->bytes, item->data, item->length);
        data->length = (CFIndex)item->length;
    }
    *result = data;
    return errSecSuccess;
}

void kcd_reset(void)
{
    struct kcd_header *h = kcd.objects;
    size_t i;
    int q;
    while (h != NULL) {
        struct kcd_header *next = h->next;
        if (h->kind == KCD_STRING)
            free((char *)((struct kcd_CFString *)h)->text);
        else if (h->kind == KCD_DATA)
            free(((struct kcd_CFData *)h)->bytes);
        else if (h->kind == KCD_DICTIONARY) {
            free(((struct kcd_CFDictionary *)h)->keys);
            free(((struct kcd_CFDictionary *)h)->values);
        } else if (h->kind == KCD_ARRAY)
            free(((struct kcd_CFArray *)h)->values);
        free(h);
        h = next;
    }
    for (i = 0; i < kcd.item_count; i++) {
        free(kcd.items[i].service);
        free(kcd.items[i].account);
        free(kcd.items[i].data);
    }
    for (q = 0; q < kcd.query_count; q++) {
        free(kcd.queries[q].service);
        free(kcd.queries[q].account);
    }
    memset(&kcd, 0, sizeof kcd);
}

int kcd_add_item(const char *service, const char *account, const unsigned char *data, size_t len)
{
    struct kcd_item *item;
    if (kcd.item_count == KCD_MAX_ITEMS)
        return -1;
    item = &kcd.items[kcd.item_count++];
    item->service = kcd_strdup(service);
    item->account = kcd_strdup(account);
    item->data = malloc(len + 1);
    if (item->service == NULL || item->account == NULL || item->data == NULL)
        abort();
    memcpy(item->data, data, len);
    item->length = len;
    return 0;
}

void kcd_set_locate_status(int status)
{
    kcd.locate_status = status;
}
void kcd_set_read_status(int status)
{
    kcd.read_status = status;
}
void kcd_set_locked(int locked)
{
    kcd.locked = locked;
}
void kcd_set_empty_reads(int n)
{
    kcd.empty_reads = n;
}
void kcd_fail_create_at(long n)
{
    kcd.create_countdown = n;
}
long kcd_cf_created(void)
{
    return kcd.created;
}
long kcd_cf_released(void)
{
    return kcd.released;
}
long kcd_cf_bad_releases(void)
{
    return kcd.bad_releases;
}
int kcd_query_count(void)
{
    return kcd.query_count;
}

static const struct kcd_query *kcd_query_at(int index)
{
    return (index >= 0 && index < kcd.query_count) ? &kcd.queries[index] : NULL;
}

const char *kcd_query_service(int index)
{
    const struct kcd_query *q = kcd_query_at(index);
    return q != NULL ? q->service : NULL;
}

const char *kcd_query_account(int index)
{
    const struct kcd_query *q = kcd_query_at(index);
    return q != NULL ? q->account : NULL;
}

int kcd_query_wanted_data(int index)
{
    const struct kcd_query *q = kcd_query_at(index);
    return q != NULL && q->wanted_data;
}

int kcd_query_wanted_attributes(int index)
{
    const struct kcd_query *q = kcd_query_at(index);
    return q != NULL && q->wanted_attributes;
}

int kcd_query_match_all(int index)
{
    const struct kcd_query *q = kcd_query_at(index);
    return q != NULL && q->match_all;
}

int kcd_query_no_ui(int index)
{
    const struct kcd_query *q = kcd_query_at(index);
    return q != NULL && q->no_ui;
}

int kcd_query_malformed(int index)
{
    const struct kcd_query *q = kcd_query_at(index);
    return q != NULL && q->malformed;
}
