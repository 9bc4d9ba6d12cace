/* Error construction, argument checking, result building and libbpf log capture for the
 * twinpath native addon. Nothing here talks to the kernel except through libbpf's print hook. */
#define _GNU_SOURCE
#include "tp.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- log capture ----------------------------------------------------------------------- */

/* A verifier log can run to megabytes; past this much only the end is interesting (it is what
 * rejected the program), so older text is dropped first. The message shortener below then
 * keeps the head and the tail of what is left. */
#define TP_LOG_CAP (4u << 20)

static struct {
  char *buf;
  size_t len, cap;
} tp_log;

static void tp_log_append(const char *s, size_t n) {
  /* Keep the newest text when over the cap: a verifier log explains the rejection in its
   * last lines. A single piece larger than half the cap keeps only its end. */
  if (n > TP_LOG_CAP / 2) {
    s += n - TP_LOG_CAP / 2;
    n = TP_LOG_CAP / 2;
  }
  if (tp_log.len + n + 1 > TP_LOG_CAP) {
    size_t drop = tp_log.len + n + 1 - TP_LOG_CAP; /* <= len, since n + 1 <= CAP / 2 + 1 */
    memmove(tp_log.buf, tp_log.buf + drop, tp_log.len - drop);
    tp_log.len -= drop;
  }
  if (tp_log.len + n + 1 > tp_log.cap) {
    size_t cap = tp_log.cap ? tp_log.cap : 4096;
    while (cap < tp_log.len + n + 1) cap *= 2;
    if (cap > TP_LOG_CAP) cap = TP_LOG_CAP;
    char *nb = realloc(tp_log.buf, cap);
    if (!nb) return; /* out of memory: losing log text is better than failing the call */
    tp_log.buf = nb;
    tp_log.cap = cap;
  }
  memcpy(tp_log.buf + tp_log.len, s, n);
  tp_log.len += n;
  tp_log.buf[tp_log.len] = 0;
}

static int tp_log_print(enum libbpf_print_level level, const char *fmt, va_list ap) {
  /* libbpf's DEBUG level narrates every relocation; warnings and info carry the verifier log
   * and the reason for a failure, which is what an error message needs. */
  if (level == LIBBPF_DEBUG) return 0;
  char small[512];
  va_list cp;
  va_copy(cp, ap);
  int n = vsnprintf(small, sizeof small, fmt, cp);
  va_end(cp);
  if (n < 0) return 0;
  if ((size_t)n < sizeof small) {
    tp_log_append(small, (size_t)n);
    return n;
  }
  char *big = malloc((size_t)n + 1);
  if (!big) return 0;
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  tp_log_append(big, (size_t)n);
  free(big);
  return n;
}

void tp_log_install(void) { libbpf_set_print(tp_log_print); }

void tp_log_reset(void) {
  tp_log.len = 0;
  if (tp_log.buf) tp_log.buf[0] = 0;
}

const char *tp_log_text(void) { return tp_log.len ? tp_log.buf : NULL; }

/* ---- errors ---------------------------------------------------------------------------- */

static const char *const libbpf_errno_names[] = {
    "LIBBPF_ERRNO__LIBELF", "LIBBPF_ERRNO__FORMAT",   "LIBBPF_ERRNO__KVERSION",
    "LIBBPF_ERRNO__ENDIAN", "LIBBPF_ERRNO__INTERNAL", "LIBBPF_ERRNO__RELOC",
    "LIBBPF_ERRNO__LOAD",   "LIBBPF_ERRNO__VERIFY",   "LIBBPF_ERRNO__PROG2BIG",
    "LIBBPF_ERRNO__KVER",   "LIBBPF_ERRNO__PROGTYPE", "LIBBPF_ERRNO__WRNGPID",
    "LIBBPF_ERRNO__INVSEQ", "LIBBPF_ERRNO__NLPARSE",
};

const char *tp_errno_name(int err, char *buf, size_t len) {
  if (err >= __LIBBPF_ERRNO__START && err < __LIBBPF_ERRNO__END)
    return libbpf_errno_names[err - __LIBBPF_ERRNO__START];
  const char *name = strerrorname_np(err);
  if (name) return name;
  snprintf(buf, len, "E%d", err);
  return buf;
}

/* What goes into the message: a short log whole, a long one as its head (libbpf's own words
 * about what failed) and its tail (where the verifier gave up). The full text stays on .log. */
#define TP_MSG_LOG_MAX 8192
#define TP_MSG_LOG_HEAD 1536

static void tp_append_log_excerpt(char **msg, size_t *len, const char *log) {
  size_t n = strlen(log);
  while (n && (log[n - 1] == '\n' || log[n - 1] == ' ')) n--;
  size_t need = *len + n + 128;
  char *m = realloc(*msg, need);
  if (!m) return;
  *msg = m;
  if (n <= TP_MSG_LOG_MAX) {
    *len += (size_t)sprintf(m + *len, "\n%.*s", (int)n, log);
    return;
  }
  size_t tail = TP_MSG_LOG_MAX - TP_MSG_LOG_HEAD;
  *len += (size_t)sprintf(m + *len, "\n%.*s\n... [%zu bytes of log omitted, see error.log] ...\n%.*s",
                          (int)TP_MSG_LOG_HEAD, log, n - TP_MSG_LOG_HEAD - tail, (int)tail,
                          log + n - tail);
}

napi_value tp_throw(napi_env env, const char *op, int err, const char *detail, const char *log) {
  if (err < 0) err = -err;
  char namebuf[32], reason[256];
  const char *name = tp_errno_name(err, namebuf, sizeof namebuf);
  if (libbpf_strerror(err, reason, sizeof reason) != 0) snprintf(reason, sizeof reason, "%s", strerror(err));

  size_t len = 0, cap = strlen(op) + (detail ? strlen(detail) : 0) + strlen(name) + strlen(reason) + 16;
  char *msg = malloc(cap);
  if (!msg) {
    napi_throw_error(env, "KERNEL_ERROR", op);
    return NULL;
  }
  if (detail)
    len = (size_t)sprintf(msg, "%s: %s: %s (%s)", op, detail, name, reason);
  else
    len = (size_t)sprintf(msg, "%s: %s (%s)", op, name, reason);
  if (log && *log) tp_append_log_excerpt(&msg, &len, log);

  napi_value jsmsg, error, code;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &jsmsg);
  free(msg);
  napi_create_string_utf8(env, "KERNEL_ERROR", NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, jsmsg, &error);
  tp_set(env, error, "code", code);
  tp_set(env, error, "errno", tp_num(env, err));
  tp_set(env, error, "errnoName", tp_str(env, name));
  tp_set(env, error, "op", tp_str(env, op));
  if (detail) tp_set(env, error, "detail", tp_str(env, detail));
  if (log && *log) tp_set(env, error, "log", tp_str(env, log));
  napi_throw(env, error);
  return NULL;
}

napi_value tp_throwf(napi_env env, const char *op, int err, const char *fmt, ...) {
  char detail[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  return tp_throw(env, op, err, detail, NULL);
}

/* ---- arguments ------------------------------------------------------------------------- */

bool tp_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv, const char *op) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    tp_throwf(env, op, EINVAL, "cannot read arguments");
    return false;
  }
  for (size_t i = argc; i < want; i++) napi_get_undefined(env, &argv[i]);
  return true;
}

bool tp_is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return true;
  return t == napi_undefined || t == napi_null;
}

bool tp_get_i64(napi_env env, napi_value v, const char *op, const char *what, int64_t min,
                int64_t max, int64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) {
    tp_throwf(env, op, EINVAL, "%s must be a number", what);
    return false;
  }
  if (!isfinite(d) || d != floor(d) || d < (double)min || d > (double)max) {
    tp_throwf(env, op, EINVAL, "%s must be an integer in [%lld, %lld], got %g", what,
              (long long)min, (long long)max, d);
    return false;
  }
  *out = (int64_t)d;
  return true;
}

bool tp_get_fd(napi_env env, napi_value v, const char *op, int *out) {
  int64_t x;
  if (!tp_get_i64(env, v, op, "fd", 0, INT32_MAX, &x)) return false;
  *out = (int)x;
  return true;
}

bool tp_get_u32(napi_env env, napi_value v, const char *op, const char *what, uint32_t *out) {
  int64_t x;
  if (!tp_get_i64(env, v, op, what, 0, UINT32_MAX, &x)) return false;
  *out = (uint32_t)x;
  return true;
}

bool tp_get_string(napi_env env, napi_value v, const char *op, const char *what, char *buf,
                   size_t len) {
  size_t n;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok) {
    tp_throwf(env, op, EINVAL, "%s must be a string", what);
    return false;
  }
  if (n + 1 > len) {
    tp_throwf(env, op, ENAMETOOLONG, "%s is %zu bytes, at most %zu allowed", what, n, len - 1);
    return false;
  }
  napi_get_value_string_utf8(env, v, buf, len, &n);
  if (strlen(buf) != n) {
    tp_throwf(env, op, EINVAL, "%s contains a NUL character", what);
    return false;
  }
  return true;
}

bool tp_get_bytes(napi_env env, napi_value v, const char *op, const char *what, void **data,
                  size_t *len) {
  bool is;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type t;
    size_t n;
    if (napi_get_typedarray_info(env, v, &t, &n, data, NULL, NULL) == napi_ok && t == napi_uint8_array) {
      *len = n;
      return true;
    }
  }
  tp_throwf(env, op, EINVAL, "%s must be a Buffer or Uint8Array", what);
  return false;
}

bool tp_get_bool(napi_env env, napi_value v, const char *op, const char *what, bool *out) {
  if (napi_get_value_bool(env, v, out) != napi_ok) {
    tp_throwf(env, op, EINVAL, "%s must be a boolean", what);
    return false;
  }
  return true;
}

bool tp_opt_i64(napi_env env, napi_value obj, const char *key, const char *op, int64_t min,
                int64_t max, int64_t *out) {
  if (tp_is_nullish(env, obj)) return true;
  napi_valuetype t;
  napi_typeof(env, obj, &t);
  if (t != napi_object) {
    tp_throwf(env, op, EINVAL, "options must be an object");
    return false;
  }
  napi_value v;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) {
    tp_throwf(env, op, EINVAL, "cannot read option %s", key);
    return false;
  }
  if (tp_is_nullish(env, v)) return true;
  char what[64];
  snprintf(what, sizeof what, "option %s", key);
  return tp_get_i64(env, v, op, what, min, max, out);
}

/* ---- results --------------------------------------------------------------------------- */

napi_value tp_buffer(napi_env env, const void *data, size_t len) {
  napi_value v;
  void *copy;
  if (napi_create_buffer_copy(env, len, len ? data : "", &copy, &v) != napi_ok) return tp_null(env);
  return v;
}

napi_value tp_num(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

napi_value tp_str(napi_env env, const char *s) {
  napi_value v;
  napi_create_string_utf8(env, s ? s : "", NAPI_AUTO_LENGTH, &v);
  return v;
}

napi_value tp_bool(napi_env env, bool b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}

napi_value tp_null(napi_env env) {
  napi_value v;
  napi_get_null(env, &v);
  return v;
}

napi_value tp_undefined(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

void tp_set(napi_env env, napi_value obj, const char *key, napi_value v) {
  napi_set_named_property(env, obj, key, v);
}

void tp_define(napi_env env, napi_value exports, const tp_export *list) {
  for (; list->name; list++) {
    napi_value fn;
    if (napi_create_function(env, list->name, NAPI_AUTO_LENGTH, list->fn, NULL, &fn) == napi_ok)
      napi_set_named_property(env, exports, list->name, fn);
  }
}
