/* jsonargs: turning JSON arguments into a method's declared parameter types
 * (roc.daemon.describe), shared by the `roc` command line and roc-gateway.
 *
 * Results live in the arena given; timeout_ms is the deadline of each
 * remote call made here (0: ROC_TIMEOUT_MS, else 30 s).
 */
#ifndef ROC_TOOLS_JSONARGS_H
#define ROC_TOOLS_JSONARGS_H

#include <stdbool.h>
#include <stddef.h>

#include <roc/roc.h>

/* Resolves uri (ROC:, ROCNAME: or ROCMETA:) to one object: *id and *url in
 * a. A name resolves to its first URI. ROC_ENOTFOUND when nothing is
 * registered, the name server's error when it cannot be asked. */
int jsonargs_resolve(roc_arena *a, const char *uri, int timeout_ms,
                     const char **id, const char **url, roc_error *err);
/* Calls roc.daemon.METHOD(args) on the daemon at url (an nng URL). */
int jsonargs_daemon_call(const char *url, const char *method,
                         const roc_value *args, int timeout_ms, roc_value **res,
                         roc_arena *a, roc_error *err);
/* The describe() map of the object at uri; *id is its object id. */
int jsonargs_describe(roc_arena *a, const char *uri, int timeout_ms,
                      const char **id, roc_value **desc, roc_error *err);
/* The declared parameter types of method in a describe() map: *types gets
 * one type text per parameter ("f64", "list<i64>"). false when the method
 * is not described. */
bool jsonargs_param_types(roc_arena *a, const roc_value *desc,
                          const char *method, char ***types, size_t *n);
/* Converts v in place toward the IDL type t where JSON cannot say it: an
 * int for f64/f32 becomes a float, an integral float for an integer type
 * an int, a non-negative int for an unsigned type a uint, a string for
 * bytes bytes; through list<>, map<> and optional<>. Anything else is left
 * as it is (the server checks). t may be NULL (nothing done). */
void jsonargs_convert(roc_arena *a, roc_value *v, const char *t);

#endif
