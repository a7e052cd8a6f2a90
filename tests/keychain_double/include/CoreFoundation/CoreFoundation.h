/*
 * Test double of the slice of CoreFoundation that csrc/cu_keychain.c uses.
 *
 * Each CF type is a distinct incomplete struct, as in Apple's headers, so passing
 * a CFStringRef where a CFDataRef belongs fails to compile here too. The
 * implementation (../security_double.c) counts every object it creates and
 * releases; see ../kcd_control.h.
 */
#ifndef KCD_COREFOUNDATION_H
#define KCD_COREFOUNDATION_H

#include <stddef.h>
#include <stdint.h>

typedef const void *CFTypeRef;
typedef long CFIndex;
typedef unsigned long CFTypeID;
typedef unsigned char Boolean;
typedef unsigned char UInt8;
typedef uint32_t CFStringEncoding;

typedef const struct kcd_CFAllocator *CFAllocatorRef;
typedef const struct kcd_CFString *CFStringRef;
typedef const struct kcd_CFData *CFDataRef;
typedef const struct kcd_CFDictionary *CFDictionaryRef;
typedef const struct kcd_CFBoolean *CFBooleanRef;
typedef const struct kcd_CFArray *CFArrayRef;

/* Apple's structs hold callback pointers; the double only compares addresses. */
typedef struct { CFIndex version; } CFDictionaryKeyCallBacks;
typedef struct { CFIndex version; } CFDictionaryValueCallBacks;

#define kCFStringEncodingUTF8 ((CFStringEncoding)0x08000100)

extern const CFAllocatorRef kCFAllocatorDefault;
extern const CFBooleanRef kCFBooleanTrue;
extern const CFDictionaryKeyCallBacks kCFTypeDictionaryKeyCallBacks;
extern const CFDictionaryValueCallBacks kCFTypeDictionaryValueCallBacks;

CFStringRef CFStringCreateWithCString(CFAllocatorRef alloc, const char *cStr, CFStringEncoding encoding);
CFDictionaryRef CFDictionaryCreate(CFAllocatorRef allocator, const void **keys, const void **values,
                                   CFIndex numValues, const CFDictionaryKeyCallBacks *keyCallBacks,
                                   const CFDictionaryValueCallBacks *valueCallBacks);
const void *CFDictionaryGetValue(CFDictionaryRef theDict, const void *key);
CFIndex CFArrayGetCount(CFArrayRef theArray);
const void *CFArrayGetValueAtIndex(CFArrayRef theArray, CFIndex idx);
Boolean CFStringGetCString(CFStringRef theString, char *buffer, CFIndex bufferSize, CFStringEncoding encoding);
CFIndex CFDataGetLength(CFDataRef theData);
const UInt8 *CFDataGetBytePtr(CFDataRef theData);
CFTypeID CFGetTypeID(CFTypeRef cf);
CFTypeID CFDataGetTypeID(void);
CFTypeID CFStringGetTypeID(void);
CFTypeID CFDictionaryGetTypeID(void);
CFTypeID CFArrayGetTypeID(void);
void CFRelease(CFTypeRef cf);

#endif
