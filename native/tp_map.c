/* Map operations by file descriptor: info, lookup, update, delete, get_next_key and
 * lookup_and_delete, with keys and values as Buffers.
 *
 * Every call asks the kernel for the map's key and value size first, so a Buffer of the wrong
 * length is refused here instead of letting the kernel read past it. Per-CPU maps hold one
 * value per possible CPU, each padded to 8 bytes, as the bpf() syscall lays them out. */
#define _GNU_SOURCE
#include "tp.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdlib.h>
#include <string.h>

/* The kernel's internal "operation not supported" (524), which BPF returns for a map type
 * without batch operations; not in the UAPI errno headers. */
#define ENOTSUPP_LINUX 524

typedef struct {
  struct bpf_map_info info;
  bool percpu;
  int ncpus;
  size_t stride;   /* bytes per CPU in the syscall buffer */
  size_t vbytes;   /* bytes of the whole value buffer */
} tp_mapdesc;

static bool tp_is_percpu(uint32_t type) {
  return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
         type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

static bool tp_describe(napi_env env, int fd, const char *op, tp_mapdesc *d) {
  memset(d, 0, sizeof *d);
  uint32_t len = sizeof d->info;
  int err = bpf_obj_get_info_by_fd(fd, &d->info, &len);
  if (err) {
    tp_throwf(env, op, -err, "fd %d is not a BPF map", fd);
    return false;
  }
  d->percpu = tp_is_percpu(d->info.type);
  d->ncpus = 1;
  d->stride = d->info.value_size;
  if (d->percpu) {
    d->ncpus = libbpf_num_possible_cpus();
    if (d->ncpus <= 0) {
      tp_throwf(env, op, d->ncpus ? -d->ncpus : EINVAL, "cannot count possible CPUs");
      return false;
    }
    d->stride = (d->info.value_size + 7u) & ~7u;
  }
  d->vbytes = d->stride * (size_t)d->ncpus;
  return true;
}

/* A key argument: a Buffer of exactly key_size bytes, or null/undefined for maps without keys
 * (queue, stack) and, when allowed, to mean "no key" (get_next_key from the start). */
static bool tp_key(napi_env env, napi_value v, const tp_mapdesc *d, const char *op, bool may_be_null,
                   void **key) {
  if (tp_is_nullish(env, v)) {
    if (d->info.key_size == 0 || may_be_null) {
      *key = NULL;
      return true;
    }
    tp_throwf(env, op, EINVAL, "map \"%s\" needs a %u-byte key", d->info.name, d->info.key_size);
    return false;
  }
  size_t len;
  if (!tp_get_bytes(env, v, op, "key", key, &len)) return false;
  if (len != d->info.key_size) {
    tp_throwf(env, op, EINVAL, "map \"%s\" has %u-byte keys, got %zu bytes", d->info.name,
              d->info.key_size, len);
    return false;
  }
  if (len == 0) *key = NULL;
  return true;
}

/* Turns a value buffer from the kernel into a Buffer, or an array of one Buffer per CPU. */
static napi_value tp_value_out(napi_env env, const tp_mapdesc *d, const unsigned char *buf) {
  if (!d->percpu) return tp_buffer(env, buf, d->info.value_size);
  napi_value arr;
  napi_create_array_with_length(env, (size_t)d->ncpus, &arr);
  for (int c = 0; c < d->ncpus; c++)
    napi_set_element(env, arr, (uint32_t)c, tp_buffer(env, buf + (size_t)c * d->stride, d->info.value_size));
  return arr;
}

/* Fills the syscall value buffer from a Buffer (per-CPU: one value copied to every CPU, or the
 * raw padded layout) or, for per-CPU maps, an array with one Buffer per possible CPU. */
static bool tp_value_in(napi_env env, napi_value v, const tp_mapdesc *d, const char *op, unsigned char *buf) {
  bool is_array = false;
  napi_is_array(env, v, &is_array);
  if (is_array) {
    uint32_t n;
    napi_get_array_length(env, v, &n);
    if (!d->percpu || n != (uint32_t)d->ncpus) {
      tp_throwf(env, op, EINVAL, d->percpu ? "map \"%s\" needs one value per possible CPU (%d), got %u"
                                           : "map \"%s\" is not per-CPU: pass one Buffer, not an array of %d/%u",
                d->info.name, d->ncpus, n);
      return false;
    }
    for (uint32_t c = 0; c < n; c++) {
      napi_value e;
      void *p;
      size_t len;
      napi_get_element(env, v, c, &e);
      if (!tp_get_bytes(env, e, op, "per-CPU value", &p, &len)) return false;
      if (len != d->info.value_size) {
        tp_throwf(env, op, EINVAL, "map \"%s\" has %u-byte values, CPU %u got %zu bytes", d->info.name,
                  d->info.value_size, c, len);
        return false;
      }
      memcpy(buf + (size_t)c * d->stride, p, len);
    }
    return true;
  }
  void *p;
  size_t len;
  if (!tp_get_bytes(env, v, op, "value", &p, &len)) return false;
  if (len == d->info.value_size) {
    for (int c = 0; c < d->ncpus; c++) memcpy(buf + (size_t)c * d->stride, p, len);
    return true;
  }
  if (d->percpu && len == d->vbytes) {
    memcpy(buf, p, len);
    return true;
  }
  tp_throwf(env, op, EINVAL, "map \"%s\" has %u-byte values, got %zu bytes", d->info.name,
            d->info.value_size, len);
  return false;
}

static napi_value tp_map_fail(napi_env env, const char *op, int err, const tp_mapdesc *d) {
  char detail[64];
  snprintf(detail, sizeof detail, "map \"%s\"", d->info.name);
  return tp_throw(env, op, err < 0 ? -err : err, detail, NULL);
}

/* mapInfo(fd) -> { id, name, type, typeName, keySize, valueSize, maxEntries, flags } */
static napi_value map_info(napi_env env, napi_callback_info info) {
  const char *op = "mapInfo";
  napi_value argv[1], o;
  int fd;
  tp_mapdesc d;
  if (!tp_args(env, info, 1, argv, op) || !tp_get_fd(env, argv[0], op, &fd) || !tp_describe(env, fd, op, &d))
    return NULL;
  napi_create_object(env, &o);
  const char *tn = libbpf_bpf_map_type_str((enum bpf_map_type)d.info.type);
  tp_set(env, o, "id", tp_num(env, d.info.id));
  tp_set(env, o, "name", tp_str(env, d.info.name));
  tp_set(env, o, "type", tp_num(env, d.info.type));
  tp_set(env, o, "typeName", tp_str(env, tn ? tn : "unknown"));
  tp_set(env, o, "keySize", tp_num(env, d.info.key_size));
  tp_set(env, o, "valueSize", tp_num(env, d.info.value_size));
  tp_set(env, o, "maxEntries", tp_num(env, d.info.max_entries));
  tp_set(env, o, "flags", tp_num(env, d.info.map_flags));
  tp_set(env, o, "percpu", tp_bool(env, d.percpu));
  return o;
}

/* mapLookup(fd, key, flags?) -> Buffer | Buffer[] (per-CPU) | null when absent */
static napi_value map_lookup(napi_env env, napi_callback_info info) {
  const char *op = "mapLookup";
  napi_value argv[3];
  int fd;
  uint32_t flags = 0;
  void *key;
  tp_mapdesc d;
  if (!tp_args(env, info, 3, argv, op) || !tp_get_fd(env, argv[0], op, &fd) || !tp_describe(env, fd, op, &d) ||
      !tp_key(env, argv[1], &d, op, false, &key) ||
      (!tp_is_nullish(env, argv[2]) && !tp_get_u32(env, argv[2], op, "flags", &flags)))
    return NULL;
  unsigned char *val = calloc(1, d.vbytes ? d.vbytes : 1);
  if (!val) return tp_throw(env, op, ENOMEM, NULL, NULL);
  int err = bpf_map_lookup_elem_flags(fd, key, val, flags);
  napi_value res = err == -ENOENT ? tp_null(env) : err ? tp_map_fail(env, op, err, &d) : tp_value_out(env, &d, val);
  free(val);
  return res;
}

/* mapUpdate(fd, key, value, flags?): flags BPF_ANY 0, BPF_NOEXIST 1, BPF_EXIST 2, BPF_F_LOCK 4 */
static napi_value map_update(napi_env env, napi_callback_info info) {
  const char *op = "mapUpdate";
  napi_value argv[4];
  int fd;
  uint64_t flags = 0;
  void *key;
  tp_mapdesc d;
  if (!tp_args(env, info, 4, argv, op) || !tp_get_fd(env, argv[0], op, &fd) || !tp_describe(env, fd, op, &d) ||
      !tp_key(env, argv[1], &d, op, false, &key))
    return NULL;
  if (!tp_is_nullish(env, argv[3])) {
    uint32_t f;
    if (!tp_get_u32(env, argv[3], op, "flags", &f)) return NULL;
    flags = f;
  }
  unsigned char *val = calloc(1, d.vbytes ? d.vbytes : 1);
  if (!val) return tp_throw(env, op, ENOMEM, NULL, NULL);
  napi_value res = NULL;
  if (tp_value_in(env, argv[2], &d, op, val)) {
    int err = bpf_map_update_elem(fd, key, val, flags);
    res = err ? tp_map_fail(env, op, err, &d) : tp_undefined(env);
  }
  free(val);
  return res;
}

/* The written count travels on the thrown error (`done`), so a caller knows how far a batch got. */
static napi_value tp_batch_fail(napi_env env, const char *op, int err, const tp_mapdesc *d, uint32_t done,
                                uint32_t count) {
  tp_throwf(env, op, err < 0 ? -err : err, "map \"%s\": after %u of %u elements", d->info.name, done, count);
  napi_value e;
  if (napi_get_and_clear_last_exception(env, &e) == napi_ok) {
    tp_set(env, e, "done", tp_num(env, done));
    napi_throw(env, e);
  }
  return NULL;
}

/* mapUpdateBatch(fd, keys, values, count, flags?) -> count: `count` keys of key_size bytes and
 * values of the map's value buffer size (per-CPU: every possible CPU's padded value), back to
 * back. One BPF_MAP_UPDATE_BATCH where the map type has it; maps without batch operations
 * (LPM tries, for one) get one update per element from here, which still saves the round trip
 * through JavaScript and the map description per element. Stops at the first refusal, as the
 * kernel's batch does: the elements before it stay written and the error says how many. */
static napi_value map_update_batch(napi_env env, napi_callback_info info) {
  const char *op = "mapUpdateBatch";
  napi_value argv[5];
  int fd;
  uint32_t count, flags = 0;
  void *keys, *values;
  size_t klen, vlen;
  tp_mapdesc d;
  if (!tp_args(env, info, 5, argv, op) || !tp_get_fd(env, argv[0], op, &fd) || !tp_describe(env, fd, op, &d) ||
      !tp_get_bytes(env, argv[1], op, "keys", &keys, &klen) || !tp_get_bytes(env, argv[2], op, "values", &values, &vlen) ||
      !tp_get_u32(env, argv[3], op, "count", &count) ||
      (!tp_is_nullish(env, argv[4]) && !tp_get_u32(env, argv[4], op, "flags", &flags)))
    return NULL;
  if (d.info.key_size == 0)
    return tp_throwf(env, op, EINVAL, "map \"%s\" has no keys (push its values one by one)", d.info.name);
  if (klen != (size_t)count * d.info.key_size || vlen != (size_t)count * d.vbytes)
    return tp_throwf(env, op, EINVAL, "map \"%s\": %u elements need %zu key and %zu value bytes, got %zu and %zu",
                     d.info.name, count, (size_t)count * d.info.key_size, (size_t)count * d.vbytes, klen, vlen);
  if (count == 0) return tp_num(env, 0);
  uint32_t done = 0;
  /* The batch takes BPF_F_LOCK alone as element flags; BPF_NOEXIST and BPF_EXIST go one by one. */
  if ((flags & ~(uint32_t)BPF_F_LOCK) == 0) {
    LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = flags);
    done = count;
    int err = bpf_map_update_batch(fd, keys, values, &done, &opts);
    if (err == 0) return tp_num(env, count);
    /* A type without batch operations fails before touching anything (and leaves the count
     * as given): go one by one. Any other refusal came from an element; the count is exact. */
    if (err != -EOPNOTSUPP && err != -ENOTSUPP_LINUX) return tp_batch_fail(env, op, err, &d, done, count);
  }
  for (done = 0; done < count; done++) {
    int err = bpf_map_update_elem(fd, (const char *)keys + (size_t)done * d.info.key_size,
                                  (const char *)values + (size_t)done * d.vbytes, flags);
    if (err) return tp_batch_fail(env, op, err, &d, done, count);
  }
  return tp_num(env, count);
}

/* mapDelete(fd, key) */
static napi_value map_delete(napi_env env, napi_callback_info info) {
  const char *op = "mapDelete";
  napi_value argv[2];
  int fd;
  void *key;
  tp_mapdesc d;
  if (!tp_args(env, info, 2, argv, op) || !tp_get_fd(env, argv[0], op, &fd) || !tp_describe(env, fd, op, &d) ||
      !tp_key(env, argv[1], &d, op, false, &key))
    return NULL;
  int err = bpf_map_delete_elem(fd, key);
  return err ? tp_map_fail(env, op, err, &d) : tp_undefined(env);
}

/* mapGetNextKey(fd, key | null) -> Buffer | null after the last key */
static napi_value map_get_next_key(napi_env env, napi_callback_info info) {
  const char *op = "mapGetNextKey";
  napi_value argv[2];
  int fd;
  void *key;
  tp_mapdesc d;
  if (!tp_args(env, info, 2, argv, op) || !tp_get_fd(env, argv[0], op, &fd) || !tp_describe(env, fd, op, &d) ||
      !tp_key(env, argv[1], &d, op, true, &key))
    return NULL;
  if (d.info.key_size == 0) return tp_throwf(env, op, EINVAL, "map \"%s\" has no keys", d.info.name);
  unsigned char *next = calloc(1, d.info.key_size);
  if (!next) return tp_throw(env, op, ENOMEM, NULL, NULL);
  int err = bpf_map_get_next_key(fd, key, next);
  napi_value res = err == -ENOENT ? tp_null(env) : err ? tp_map_fail(env, op, err, &d) : tp_buffer(env, next, d.info.key_size);
  free(next);
  return res;
}

/* mapLookupAndDelete(fd, key | null) -> value | null when empty/absent (pop for queue/stack) */
static napi_value map_lookup_and_delete(napi_env env, napi_callback_info info) {
  const char *op = "mapLookupAndDelete";
  napi_value argv[2];
  int fd;
  void *key;
  tp_mapdesc d;
  if (!tp_args(env, info, 2, argv, op) || !tp_get_fd(env, argv[0], op, &fd) || !tp_describe(env, fd, op, &d) ||
      !tp_key(env, argv[1], &d, op, false, &key))
    return NULL;
  unsigned char *val = calloc(1, d.vbytes ? d.vbytes : 1);
  if (!val) return tp_throw(env, op, ENOMEM, NULL, NULL);
  int err = bpf_map_lookup_and_delete_elem(fd, key, val);
  napi_value res = err == -ENOENT ? tp_null(env) : err ? tp_map_fail(env, op, err, &d) : tp_value_out(env, &d, val);
  free(val);
  return res;
}

/* numPossibleCpus() -> number of values a per-CPU map holds */
static napi_value num_possible_cpus(napi_env env, napi_callback_info info) {
  (void)info;
  int n = libbpf_num_possible_cpus();
  if (n <= 0) return tp_throw(env, "numPossibleCpus", n ? -n : EINVAL, NULL, NULL);
  return tp_num(env, n);
}

void tp_register_map(napi_env env, napi_value exports) {
  static const tp_export list[] = {
      {"mapInfo", map_info},
      {"mapLookup", map_lookup},
      {"mapUpdate", map_update},
      {"mapUpdateBatch", map_update_batch},
      {"mapDelete", map_delete},
      {"mapGetNextKey", map_get_next_key},
      {"mapLookupAndDelete", map_lookup_and_delete},
      {"numPossibleCpus", num_possible_cpus},
      {NULL, NULL},
  };
  tp_define(env, exports, list);
}
