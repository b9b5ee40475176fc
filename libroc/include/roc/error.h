/* ROC error codes and the error object.
 *
 * Every fallible ROC function returns an int: 0 (ROC_OK) or one of the
 * ROC_E* codes below. Details go to an optional roc_error that the caller
 * owns: initialise it with roc_error_init (or ROC_ERROR_INIT), pass it to any
 * number of calls (each failing call overwrites it) and release it with
 * roc_error_clear. Passing NULL means "I only want the code".
 */
#ifndef ROC_ERROR_H
#define ROC_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(ROC_BUILDING) && defined(__GNUC__)
#define ROC_API __attribute__((visibility("default")))
#else
#define ROC_API
#endif

#if defined(__GNUC__)
#define ROC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ROC_PRINTF(a, b)
#endif

/* Result codes. The first block mirrors the wire error types of protocol v1
 * (see docs/wire.md); a remote error of wire code N arrives as the local code
 * listed next to it. */
enum roc_errcode {
    ROC_OK = 0,
    ROC_ENOOBJ = 1,     /* roc.NoSuchObject    (wire code 1) */
    ROC_ENOMETHOD = 2,  /* roc.NoSuchMethod    (wire code 2) */
    ROC_EBADARGS = 3,   /* roc.BadArguments    (wire code 3) */
    ROC_EPROTO = 4,     /* roc.ProtocolError   (wire code 4) */
    ROC_ETOOBIG = 5,    /* roc.MessageTooLarge (wire code 5) */
    ROC_EUNAUTH = 6,    /* roc.Unauthorized    (wire code 6) */
    ROC_ETIMEDOUT = 7,  /* roc.Timeout         (wire code 7) */
    ROC_EINTERNAL = 8,  /* roc.Internal        (wire code 8) */
    ROC_EREMOTE = 100,  /* an application exception (wire code 100) */
    /* local conditions, never sent as such */
    ROC_EINVAL = 101,   /* a bad argument given to a ROC function */
    ROC_ENOMEM = 102,   /* out of memory */
    ROC_ECLOSED = 103,  /* the connection or object was closed */
    ROC_ECONNREFUSED = 104, /* nothing listens at the address */
    ROC_EUNREACHABLE = 105, /* the endpoint could not be reached */
    ROC_EADDRINUSE = 106,   /* the listen address is taken */
    ROC_ENOTFOUND = 107,    /* a name or object id is not registered */
    ROC_EEXIST = 108,       /* already registered */
    ROC_EBUSY = 109,        /* a limit was reached (calls in flight, ...) */
    ROC_ECANCELED = 110,    /* the call was cancelled locally */
    ROC_EUNAVAIL = 111,     /* a facility is not available here */
    ROC_ETRANSPORT = 112,   /* another transport (nng) failure */
    ROC_ESTATE = 113,       /* the object is not in a state that allows it */
    ROC_EPARSE = 114,       /* text (URI, JSON, ...) could not be parsed */
};

/* Wire code and type of application exceptions. */
#define ROC_WIRE_APPLICATION 100

/* An error object: which code, which remote type, a message and optional
 * data. All strings are owned by the error and valid until it is cleared or
 * reused. */
typedef struct roc_error {
    int code;            /* ROC_E* code, 0 when no error */
    int wire_code;       /* wire code (1..8, 100) of a remote error, else 0 */
    char *type;          /* e.g. "roc.NoSuchMethod" or "demo.DivideByZero" */
    char *message;       /* human readable; never NULL once set */
    struct roc_value *data; /* exception fields / extra data, or NULL */
    struct roc_arena *arena_; /* private: holds data */
} roc_error;

#define ROC_ERROR_INIT {0, 0, NULL, NULL, NULL, NULL}

ROC_API void roc_error_init(roc_error *err);
/* Frees what the error holds and resets it to "no error". NULL is allowed. */
ROC_API void roc_error_clear(roc_error *err);
/* Sets err (when not NULL) and returns code, so one can write
 * `return roc_error_set(err, ROC_EINVAL, "bad url '%s'", url);`. The type is
 * the wire type of the code (roc.BadArguments, ...) or NULL for local codes. */
ROC_API int roc_error_set(roc_error *err, int code, const char *fmt, ...)
    ROC_PRINTF(3, 4);
ROC_API int roc_error_setv(roc_error *err, int code, const char *fmt,
                           va_list ap);
/* Sets a full remote error: code, wire code, type, message and a deep copy
 * of data (may be NULL). Returns code. */
ROC_API int roc_error_set_remote(roc_error *err, int wire_code,
                                 const char *type, const char *message,
                                 const struct roc_value *data);
/* Copies src into dst (dst is cleared first). */
ROC_API int roc_error_copy(roc_error *dst, const roc_error *src);

/* Name of a code: "no such object", "timed out", ... Never NULL. */
ROC_API const char *roc_strerror(int code);
/* Wire type name for a code ("roc.Timeout"), or NULL for local codes. */
ROC_API const char *roc_error_wire_type(int code);
/* Wire code for a local code: 1..8 as above, 8 (Internal) for the rest. */
ROC_API int roc_error_to_wire(int code);
/* Local code for a wire code: 1..8 map to themselves, 100 to ROC_EREMOTE,
 * anything else to ROC_EINTERNAL. */
ROC_API int roc_error_from_wire(int wire_code);

#ifdef __cplusplus
}
#endif
#endif
