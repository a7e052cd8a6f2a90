/*
 * Hardening the calling process against its own user's other processes and against dumps
 * (claude_usage.harden_process; the command does it before reading any credential).
 *
 * Linux: PR_SET_DUMPABLE 0. The kernel then writes no core dump (unless the administrator set
 * fs.suid_dumpable to 2), and a process of the same user can no longer ptrace this one or open
 * its /proc/PID/mem (both need "dumpable" or CAP_SYS_PTRACE), whatever Yama's ptrace_scope is.
 * Elsewhere: RLIMIT_CORE 0, so no core dump (macOS has no per-mapping dump exclusion).
 */
#if defined(__APPLE__)
#define _DARWIN_C_SOURCE 1
#endif

#include <errno.h>
#include <sys/resource.h>

#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include "cu_internal.h"

int cu_harden_process(cu_error *err)
{
#if defined(__linux__)
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return cu_fail_errno(err, CU_ERR_IO, errno);
#else
    struct rlimit none;
    none.rlim_cur = 0;
    none.rlim_max = 0;
    if (setrlimit(RLIMIT_CORE, &none) != 0)
        return cu_fail_errno(err, CU_ERR_IO, errno);
#endif
    return cu_ok(err);
}

int cu_process_dumpable(void)
{
#if defined(__linux__)
    int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
    return dumpable < 0 ? -1 : dumpable != 0;
#else
    struct rlimit core;
    if (getrlimit(RLIMIT_CORE, &core) != 0)
        return -1;
    return core.rlim_cur != 0;
#endif
}
