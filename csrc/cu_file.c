/*
 * Reads the credential file: open (following symlinks), fstat that very
 * descriptor, then a bounded read into a buffer this function owns and wipes;
 * again (cu_read_retrying) when that caught a rewrite in place half done.
 */
#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#undef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC */
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "cu_internal.h"

/* What a failed open, fstat or read of the file means. */
static int file_status(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
        return CU_ERR_NOT_FOUND;
    case EACCES:
    case EPERM:
        return CU_ERR_PERMISSION;
    case EISDIR:
        return CU_ERR_IS_DIRECTORY;
    default:
        return CU_ERR_IO;
    }
}

/* One attempt (a cu_login_reader); context is the path. */
static int read_file_once(void *context, cu_credential **out, cu_error *err)
{
    const char *path = context;
    /* O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one. */
    int fd = -1, status;
    struct stat st;
    char *buf = NULL;
    size_t size = 0, got = 0;

    *out = NULL;
    do
        fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return cu_fail_errno(err, file_status(errno), errno);

    if (fstat(fd, &st) != 0) {
        status = cu_fail_errno(err, file_status(errno), errno);
        goto cleanup;
    }
    if (S_ISDIR(st.st_mode)) {
        status = cu_fail(err, CU_ERR_IS_DIRECTORY);
        goto cleanup;
    }
    if (!S_ISREG(st.st_mode)) {
        status = cu_fail(err, CU_ERR_NOT_REGULAR);
        goto cleanup;
    }
    if (st.st_size < 0 || (unsigned long long)st.st_size > (unsigned long long)CU_MAX_FILE_BYTES) {
        status = cu_fail(err, CU_ERR_TOO_LARGE);
        goto cleanup;
    }

    /* At most the size fstat saw: a file growing meanwhile cannot push us past the limit. */
    size = (size_t)st.st_size;
    buf = cu_secret_alloc(size);
    if (buf == NULL) {
        status = cu_fail(err, CU_ERR_NO_MEMORY);
        goto cleanup;
    }
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            status = cu_fail_errno(err, file_status(errno), errno);
            goto cleanup;
        }
        if (n == 0)
            break; /* shrank since fstat: parse what is there */
        got += (size_t)n;
    }
    close(fd);
    fd = -1;
    status = cu_parse_login(buf, got, out, err);

cleanup:
    cu_free_secret(buf, size);
    if (fd >= 0)
        close(fd);
    return status;
}

cu_credential *cu_read_credential_file(const char *path, int64_t now_ms, const char *required_scope, cu_error *err)
{
    cu_credential *cred;
    int status = cu_read_retrying(read_file_once, (void *)path, &cred, err);
    return cu_checked_login(status, cred, now_ms, required_scope, err);
}
