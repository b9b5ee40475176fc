/* Arenas and dynamic values.
 *
 * roc_arena is a bump allocator: everything allocated from it is freed at
 * once by roc_arena_reset or roc_arena_free. Decoded data always lives in an
 * arena (the call's on the server, the caller's on the client).
 *
 * roc_value is a tagged union with a public layout (like msgpack_object), so
 * that code may read it directly; the constructors and accessors below are
 * the convenient, checked way. Values built by the constructors live in the
 * arena they were given; a value never owns memory of its own.
 */
#ifndef ROC_VALUE_H
#define ROC_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- arena ---- */
typedef struct roc_arena roc_arena;

/* Creates an arena. Returns ROC_ENOMEM on failure. */
ROC_API int roc_arena_new(roc_arena **a);
/* Frees the arena and everything allocated from it. NULL is allowed. */
ROC_API void roc_arena_free(roc_arena *a);
/* Frees everything allocated from the arena but keeps its first block for
 * reuse (no heap traffic in steady state). */
ROC_API void roc_arena_reset(roc_arena *a);
/* Allocates n bytes aligned for any type; NULL when out of memory. n == 0
 * returns a valid unique pointer. Memory is not zeroed. */
ROC_API void *roc_arena_alloc(roc_arena *a, size_t n);
/* As roc_arena_alloc, zeroed; NULL on overflow of count*size. */
ROC_API void *roc_arena_calloc(roc_arena *a, size_t count, size_t size);
/* Copies s (NUL-terminated) / the n bytes at s plus a NUL into the arena. */
ROC_API char *roc_arena_strdup(roc_arena *a, const char *s);
ROC_API char *roc_arena_strndup(roc_arena *a, const char *s, size_t n);
/* Bytes currently allocated from the heap for this arena (for tests and
 * limits). */
ROC_API size_t roc_arena_size(const roc_arena *a);

/* ---- values ---- */
typedef enum roc_type {
    ROC_NIL = 0,
    ROC_BOOL,
    ROC_INT,   /* signed 64-bit */
    ROC_UINT,  /* unsigned 64-bit; decoders give ROC_INT for values <= INT64_MAX */
    ROC_FLOAT, /* double */
    ROC_STR,   /* UTF-8 text, NUL-terminated as well as counted */
    ROC_BIN,   /* bytes */
    ROC_ARRAY,
    ROC_MAP,
    ROC_REF    /* an object reference */
} roc_type;

/* Kinds of object reference (wire: msgpack ext type 1 and 2). */
typedef enum roc_ref_kind {
    ROC_REF_URI = 1,      /* a reachable object: uri is "ROC:id@url" */
    ROC_REF_CALLBACK = 2, /* an object the sender exports on this connection:
                             uri holds its object id; open a proxy to it
                             with roc_proxy_open_ref */
    ROC_REF_LOCAL = 3     /* a local object of this process (roc_export),
                             made by roc_value_export: sent as a callback
                             reference on the connection it travels over */
} roc_ref_kind;

typedef struct roc_value roc_value;
typedef struct roc_map_entry roc_map_entry;

struct roc_value {
    roc_type type;
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double f;
        struct { const char *ptr; size_t len; } str; /* ptr[len] == '\0' */
        struct { const uint8_t *ptr; size_t len; } bin;
        struct { roc_value *items; size_t len; } array;
        struct { roc_map_entry *entries; size_t len; } map;
        struct {
            const char *uri;     /* URI (kind 1) or object id (kind 2) */
            roc_ref_kind kind;
            void *priv_;         /* private: connection (CALLBACK) or
                                    roc_export (LOCAL) */
        } ref;
    } u;
};

struct roc_map_entry {
    roc_value key;
    roc_value val;
};

/* Constructors. Each returns a value allocated in a, or NULL when out of
 * memory. Strings and bytes are copied into the arena. */
ROC_API roc_value *roc_value_nil(roc_arena *a);
ROC_API roc_value *roc_value_bool(roc_arena *a, bool b);
ROC_API roc_value *roc_value_int(roc_arena *a, int64_t i);
ROC_API roc_value *roc_value_uint(roc_arena *a, uint64_t u);
ROC_API roc_value *roc_value_float(roc_arena *a, double f);
ROC_API roc_value *roc_value_str(roc_arena *a, const char *s);
ROC_API roc_value *roc_value_strn(roc_arena *a, const char *s, size_t len);
ROC_API roc_value *roc_value_bin(roc_arena *a, const void *p, size_t len);
/* Bytes that are NOT copied: p must outlive every use of the value (used to
 * send large payloads without a copy). */
ROC_API roc_value *roc_value_bin_ref(roc_arena *a, const void *p, size_t len);
/* An array of n elements, all nil; fill items[i] with roc_value_array_set or
 * directly. */
ROC_API roc_value *roc_value_array(roc_arena *a, size_t n);
/* A map with room for n entries, all keys and values nil. */
ROC_API roc_value *roc_value_map(roc_arena *a, size_t n);
ROC_API roc_value *roc_value_ref(roc_arena *a, const char *uri);

/* Convenience: an array of the given values (copied shallowly), e.g.
 * roc_value_arrayv(a, 2, roc_value_int(a, 1), roc_value_int(a, 2)).
 * NULL arguments count as out of memory (so nested constructor failures
 * propagate). */
ROC_API roc_value *roc_value_arrayv(roc_arena *a, size_t n, ...);

/* Setters into containers (shallow copy of v). Return ROC_EINVAL when the
 * index is out of range or the container has the wrong type. */
ROC_API int roc_value_array_set(roc_value *arr, size_t i, const roc_value *v);
ROC_API int roc_value_map_set(roc_value *map, size_t i, const roc_value *key,
                              const roc_value *val);

/* Accessors: 0 and *out set when the value has (or converts exactly to) the
 * type, ROC_EINVAL otherwise. roc_value_get_int accepts a ROC_UINT that fits
 * int64; roc_value_get_uint accepts a non-negative ROC_INT; roc_value_get_float
 * accepts ints. */
ROC_API int roc_value_get_bool(const roc_value *v, bool *out);
ROC_API int roc_value_get_int(const roc_value *v, int64_t *out);
ROC_API int roc_value_get_uint(const roc_value *v, uint64_t *out);
ROC_API int roc_value_get_float(const roc_value *v, double *out);
ROC_API int roc_value_get_str(const roc_value *v, const char **out, size_t *len);
ROC_API int roc_value_get_bin(const roc_value *v, const uint8_t **out,
                              size_t *len);
/* Number of elements of an array / entries of a map, 0 for other types. */
ROC_API size_t roc_value_len(const roc_value *v);
/* Element i of an array, NULL when out of range or not an array. */
ROC_API const roc_value *roc_value_at(const roc_value *v, size_t i);
/* Value of the first entry whose key is the string key, or NULL. */
ROC_API const roc_value *roc_value_map_get(const roc_value *v, const char *key);

/* Deep equality: same type and same contents (floats compare bitwise equal
 * or ==, so NaN equals a NaN of the same bits; INT 5 != UINT 5 is NOT
 * distinguished: integers compare by numeric value). */
ROC_API bool roc_value_equal(const roc_value *a, const roc_value *b);
/* Deep copy of v into arena a; NULL when out of memory. */
ROC_API roc_value *roc_value_copy(roc_arena *a, const roc_value *v);
/* Name of a type: "nil", "bool", "int", ... */
ROC_API const char *roc_type_name(roc_type t);

/* JSON text of a value (docs/json.md gives the mapping): ints exact, uint64
 * above INT64_MAX as {"$u64": "decimal"}, bytes as {"$bytes": "base64"},
 * references as {"$ref": "uri"}, map keys that are not strings as their JSON
 * text. NaN and infinities are refused with ROC_EINVAL. *out is allocated
 * with malloc; the caller frees it with free(). flags: ROC_JSON_PRETTY. */
#define ROC_JSON_PRETTY 1u
ROC_API int roc_value_to_json(const roc_value *v, unsigned flags, char **out,
                              roc_error *err);
/* Parses JSON text into a value in arena a (the inverse mapping). */
ROC_API int roc_value_from_json(roc_arena *a, const char *json, roc_value **out,
                                roc_error *err);

#ifdef __cplusplus
}
#endif
#endif
