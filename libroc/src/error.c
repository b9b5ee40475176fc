/* roc_error and the table of codes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roc/value.h"

void roc_error_init(roc_error *err)
{
    if (err)
        memset(err, 0, sizeof *err);
}

void roc_error_clear(roc_error *err)
{
    if (!err)
        return;
    free(err->type);
    free(err->message);
    roc_arena_free(err->arena_);
    memset(err, 0, sizeof *err);
}

static const struct {
    int code;
    const char *text;
    const char *wire;
} codes[] = {
    {ROC_OK, "success", NULL},
    {ROC_ENOOBJ, "no such object", "roc.NoSuchObject"},
    {ROC_ENOMETHOD, "no such method", "roc.NoSuchMethod"},
    {ROC_EBADARGS, "bad arguments", "roc.BadArguments"},
    {ROC_EPROTO, "protocol error", "roc.ProtocolError"},
    {ROC_ETOOBIG, "message too large", "roc.MessageTooLarge"},
    {ROC_EUNAUTH, "unauthorized", "roc.Unauthorized"},
    {ROC_ETIMEDOUT, "timed out", "roc.Timeout"},
    {ROC_EINTERNAL, "internal error", "roc.Internal"},
    {ROC_EREMOTE, "remote exception", NULL},
    {ROC_EINVAL, "invalid argument", NULL},
    {ROC_ENOMEM, "out of memory", NULL},
    {ROC_ECLOSED, "connection closed", NULL},
    {ROC_ECONNREFUSED, "connection refused", NULL},
    {ROC_EUNREACHABLE, "endpoint unreachable", NULL},
    {ROC_EADDRINUSE, "address in use", NULL},
    {ROC_ENOTFOUND, "not found", NULL},
    {ROC_EEXIST, "already exists", NULL},
    {ROC_EBUSY, "limit reached", NULL},
    {ROC_ECANCELED, "cancelled", NULL},
    {ROC_EUNAVAIL, "not available", NULL},
    {ROC_ETRANSPORT, "transport error", NULL},
    {ROC_ESTATE, "invalid state", NULL},
    {ROC_EPARSE, "parse error", NULL},
};

const char *roc_strerror(int code)
{
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (codes[i].code == code)
            return codes[i].text;
    return "unknown error";
}

const char *roc_error_wire_type(int code)
{
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (codes[i].code == code)
            return codes[i].wire;
    return NULL;
}

int roc_error_to_wire(int code)
{
    if (code >= ROC_ENOOBJ && code <= ROC_EINTERNAL)
        return code;
    if (code == ROC_EREMOTE)
        return ROC_WIRE_APPLICATION;
    return ROC_EINTERNAL;
}

int roc_error_from_wire(int wire_code)
{
    if (wire_code >= ROC_ENOOBJ && wire_code <= ROC_EINTERNAL)
        return wire_code;
    if (wire_code == ROC_WIRE_APPLICATION)
        return ROC_EREMOTE;
    return ROC_EINTERNAL;
}

int roc_error_setv(roc_error *err, int code, const char *fmt, va_list ap)
{
    if (!err)
        return code;
    roc_error_clear(err);
    err->code = code;
    const char *w = roc_error_wire_type(code);
    err->type = w ? strdup(w) : NULL;
    char buf[1024];
    if (fmt)
        vsnprintf(buf, sizeof buf, fmt, ap);
    else
        snprintf(buf, sizeof buf, "%s", roc_strerror(code));
    err->message = strdup(buf);
    return code;
}

int roc_error_set(roc_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = roc_error_setv(err, code, fmt, ap);
    va_end(ap);
    return r;
}

int roc_error_set_remote(roc_error *err, int wire_code, const char *type,
                         const char *message, const roc_value *data)
{
    int code = roc_error_from_wire(wire_code);
    if (!err)
        return code;
    roc_error_clear(err);
    err->code = code;
    err->wire_code = wire_code;
    err->type = strdup(type ? type : "roc.Internal");
    err->message = strdup(message ? message : "");
    if (data && data->type != ROC_NIL) {
        if (roc_arena_new(&err->arena_) == 0)
            err->data = roc_value_copy(err->arena_, data);
    }
    return code;
}

int roc_error_copy(roc_error *dst, const roc_error *src)
{
    if (!dst || !src)
        return ROC_EINVAL;
    if (dst == src)
        return 0;
    roc_error_clear(dst);
    dst->code = src->code;
    dst->wire_code = src->wire_code;
    dst->type = src->type ? strdup(src->type) : NULL;
    dst->message = src->message ? strdup(src->message) : NULL;
    if (src->data && roc_arena_new(&dst->arena_) == 0)
        dst->data = roc_value_copy(dst->arena_, src->data);
    return 0;
}
