/* Shared declarations of the twinpath native addon: the error and argument helpers every
 * module uses, the libbpf log capture, and the registration hooks of each module.
 *
 * Every exported function is synchronous and runs on the JS thread. Bad arguments never reach
 * libbpf: each one is checked here and turned into a thrown Error with code KERNEL_ERROR. */
#ifndef TP_H
#define TP_H

#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bpf_object;

/* ---- errors ---------------------------------------------------------------------------- */

/* Throws an Error { code: 'KERNEL_ERROR', errno, errnoName, op, log? } and returns NULL so
 * callers can `return tp_throw(...)`. `err` is a positive errno or libbpf error number;
 * `detail` (may be NULL) says what was being done; `log` (may be NULL) is libbpf's captured
 * output, shortened in the message and kept whole (up to a cap) on the `log` property. */
napi_value tp_throw(napi_env env, const char *op, int err, const char *detail, const char *log);

/* Same, with a printf-style detail; used for argument errors (err is usually EINVAL). */
napi_value tp_throwf(napi_env env, const char *op, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The symbolic name of an errno or libbpf error ("ENOENT", "LIBBPF_ERRNO__VERIFY"). */
const char *tp_errno_name(int err, char *buf, size_t len);

/* ---- libbpf log capture ---------------------------------------------------------------- */

/* libbpf prints through one process-wide callback; the addon keeps what it prints during the
 * current call so that a failure can carry it. Reset at the start of every call that may
 * print; read when it fails. */
void tp_log_install(void);
void tp_log_reset(void);
const char *tp_log_text(void);

/* ---- arguments ------------------------------------------------------------------------- */

/* Reads exactly `want` arguments (missing ones become undefined). */
bool tp_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv, const char *op);
bool tp_is_nullish(napi_env env, napi_value v);
/* Integers: must be JS numbers that are integral and inside [min, max]. */
bool tp_get_i64(napi_env env, napi_value v, const char *op, const char *what, int64_t min,
                int64_t max, int64_t *out);
bool tp_get_fd(napi_env env, napi_value v, const char *op, int *out);
bool tp_get_u32(napi_env env, napi_value v, const char *op, const char *what, uint32_t *out);
/* A string into a caller buffer; fails (thrown) when it does not fit or is not a string. */
bool tp_get_string(napi_env env, napi_value v, const char *op, const char *what, char *buf,
                   size_t len);
/* A Buffer or other Uint8Array view; the pointer is valid only during this call. */
bool tp_get_bytes(napi_env env, napi_value v, const char *op, const char *what, void **data,
                  size_t *len);
bool tp_get_bool(napi_env env, napi_value v, const char *op, const char *what, bool *out);
/* Optional property of an options object; absent or undefined leaves *out unchanged. */
bool tp_opt_i64(napi_env env, napi_value obj, const char *key, const char *op, int64_t min,
                int64_t max, int64_t *out);

/* ---- building results ------------------------------------------------------------------ */

napi_value tp_buffer(napi_env env, const void *data, size_t len);
napi_value tp_num(napi_env env, double v);
napi_value tp_str(napi_env env, const char *s);
napi_value tp_bool(napi_env env, bool v);
napi_value tp_null(napi_env env);
napi_value tp_undefined(napi_env env);
void tp_set(napi_env env, napi_value obj, const char *key, napi_value v);

/* ---- objects (tp_object.c) ------------------------------------------------------------- */

/* The bpf_object behind a handle created by openObject; throws EBADF when closed. */
struct bpf_object *tp_object_from(napi_env env, napi_value handle, const char *op, bool *loaded);

/* ---- registration ---------------------------------------------------------------------- */

typedef struct {
  const char *name;
  napi_callback fn;
} tp_export;

void tp_define(napi_env env, napi_value exports, const tp_export *list);
void tp_register_object(napi_env env, napi_value exports);
void tp_register_map(napi_env env, napi_value exports);
void tp_register_run(napi_env env, napi_value exports);
void tp_register_attach(napi_env env, napi_value exports);
void tp_register_netns(napi_env env, napi_value exports);

#endif
