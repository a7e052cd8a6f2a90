/*
 * Reading a login again when the first read caught its store mid-rewrite.
 *
 * STUB written by the lead so both helpers compile against the API in cu_internal.h;
 * the file-rewrite work replaces the body with the bounded retry schedule.
 */
#include "cu_internal.h"

int cu_read_retrying(cu_login_reader read, void *context, cu_credential **out, cu_error *err)
{
    return read(context, out, err);
}
