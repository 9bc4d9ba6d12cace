/* BPF objects: open from bytes, describe, configure before load (globals, program type and
 * autoload, map max_entries and pin path), load and close.
 *
 * A handle is a plain JS object wrapping a tp_objref and carrying a type tag, so a wrong or
 * forged handle is rejected instead of dereferenced. Programs and maps are named by their
 * libbpf names on every call rather than handed out as pointers, which keeps closed objects
 * from leaving dangling pointers in JS. */
#define _GNU_SOURCE
#include "tp.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  struct bpf_object *obj;
  void *elf; /* our copy of the ELF bytes; libbpf may refer to them until close */
  bool loaded;
} tp_objref;

static const napi_type_tag TP_OBJECT_TAG = {0x7477696e70617468ULL, 0x6f626a6563740001ULL};

static void tp_objref_release(tp_objref *ref) {
  if (ref->obj) bpf_object__close(ref->obj);
  free(ref->elf);
  ref->obj = NULL;
  ref->elf = NULL;
}

static void tp_objref_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  tp_objref_release(data);
  free(data);
}

static tp_objref *tp_objref_from(napi_env env, napi_value handle, const char *op) {
  napi_valuetype t;
  bool tagged = false;
  void *data = NULL;
  if (napi_typeof(env, handle, &t) != napi_ok || t != napi_object ||
      napi_check_object_type_tag(env, handle, &TP_OBJECT_TAG, &tagged) != napi_ok || !tagged ||
      napi_unwrap(env, handle, &data) != napi_ok || !data) {
    tp_throwf(env, op, EINVAL, "not a BPF object handle");
    return NULL;
  }
  tp_objref *ref = data;
  if (!ref->obj) {
    tp_throwf(env, op, EBADF, "the BPF object is closed");
    return NULL;
  }
  return ref;
}

struct bpf_object *tp_object_from(napi_env env, napi_value handle, const char *op, bool *loaded) {
  tp_objref *ref = tp_objref_from(env, handle, op);
  if (!ref) return NULL;
  if (loaded) *loaded = ref->loaded;
  return ref->obj;
}

/* Looks up a program or map of the object by name, throwing ENOENT with the name. */
static struct bpf_program *tp_prog(napi_env env, struct bpf_object *obj, napi_value v, const char *op) {
  char name[256];
  if (!tp_get_string(env, v, op, "program name", name, sizeof name)) return NULL;
  struct bpf_program *p = bpf_object__find_program_by_name(obj, name);
  if (!p) tp_throwf(env, op, ENOENT, "no program \"%s\" in object \"%s\"", name, bpf_object__name(obj));
  return p;
}

static struct bpf_map *tp_map(napi_env env, struct bpf_object *obj, napi_value v, const char *op) {
  char name[256];
  if (!tp_get_string(env, v, op, "map name", name, sizeof name)) return NULL;
  struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
  if (!m) tp_throwf(env, op, ENOENT, "no map \"%s\" in object \"%s\"", name, bpf_object__name(obj));
  return m;
}

static const char *tp_or_unknown(const char *s) { return s ? s : "unknown"; }

/* openObject(bytes: Buffer, name: string) -> handle */
static napi_value open_object(napi_env env, napi_callback_info info) {
  const char *op = "openObject";
  napi_value argv[2];
  void *bytes;
  size_t len;
  char name[128];
  if (!tp_args(env, info, 2, argv, op) || !tp_get_bytes(env, argv[0], op, "object bytes", &bytes, &len) ||
      !tp_get_string(env, argv[1], op, "object name", name, sizeof name))
    return NULL;
  if (len == 0) return tp_throwf(env, op, EINVAL, "object \"%s\" is empty", name);

  tp_objref *ref = calloc(1, sizeof *ref);
  if (!ref || !(ref->elf = malloc(len))) {
    free(ref);
    return tp_throw(env, op, ENOMEM, NULL, NULL);
  }
  memcpy(ref->elf, bytes, len);

  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name);
  tp_log_reset();
  errno = 0;
  ref->obj = bpf_object__open_mem(ref->elf, len, &opts);
  if (!ref->obj) {
    int err = errno ? errno : EINVAL;
    free(ref->elf);
    free(ref);
    char detail[192];
    snprintf(detail, sizeof detail, "object \"%s\"", name);
    return tp_throw(env, op, err, detail, tp_log_text());
  }

  napi_value handle;
  napi_create_object(env, &handle);
  if (napi_wrap(env, handle, ref, tp_objref_finalize, NULL, NULL) != napi_ok ||
      napi_type_tag_object(env, handle, &TP_OBJECT_TAG) != napi_ok) {
    tp_objref_release(ref);
    free(ref);
    return tp_throwf(env, op, ENOMEM, "cannot wrap the object handle");
  }
  return handle;
}

/* ---- globals: variables of .rodata/.data/.bss found through the object's BTF ----------- */

typedef struct {
  struct bpf_map *map;
  const char *section;
  uint32_t offset, size;
} tp_global;

/* Which DATASEC a libbpf internal map stands for. libbpf names it by an object-name prefix plus
 * the section name ("obj.rodata"), or, for custom sections like ".rodata.cfg", the section name
 * alone; either way cut to 15 characters, the kernel's limit. */
static bool tp_map_is_section(const struct bpf_map *m, const char *sec) {
  const char *mn = bpf_map__name(m);
  size_t ml = strlen(mn), sl = strlen(sec);
  if (ml >= sl && strcmp(mn + ml - sl, sec) == 0) return true;
  return mn[0] == '.' && ml >= 15 && strncmp(sec, mn, ml) == 0;
}

/* Calls fn for each global variable; stops when fn returns true. */
static bool tp_each_global(struct bpf_object *obj, bool (*fn)(void *, const char *, tp_global *),
                           void *ctx) {
  struct btf *btf = bpf_object__btf(obj);
  if (!btf) return false;
  struct bpf_map *m;
  bpf_object__for_each_map(m, obj) {
    if (!bpf_map__is_internal(m)) continue;
    for (uint32_t id = 1; id < btf__type_cnt(btf); id++) {
      const struct btf_type *t = btf__type_by_id(btf, id);
      if (!t || !btf_is_datasec(t)) continue;
      const char *sec = btf__name_by_offset(btf, t->name_off);
      if (!sec || !tp_map_is_section(m, sec)) continue;
      const struct btf_var_secinfo *vs = btf_var_secinfos(t);
      for (uint16_t i = 0; i < btf_vlen(t); i++, vs++) {
        const struct btf_type *var = btf__type_by_id(btf, vs->type);
        const char *vn = var ? btf__name_by_offset(btf, var->name_off) : NULL;
        if (!vn || !btf_is_var(var)) continue;
        tp_global g = {m, sec, vs->offset, vs->size};
        if (fn(ctx, vn, &g)) return true;
      }
      break;
    }
  }
  return false;
}

typedef struct {
  const char *want;
  tp_global found;
} tp_find_ctx;

static bool tp_find_global(void *ctx, const char *name, tp_global *g) {
  tp_find_ctx *f = ctx;
  if (strcmp(f->want, name) != 0) return false;
  f->found = *g;
  return true;
}

static bool tp_lookup_global(napi_env env, struct bpf_object *obj, napi_value v, const char *op,
                             char *name, size_t len, tp_global *out) {
  if (!tp_get_string(env, v, op, "global name", name, len)) return false;
  tp_find_ctx f = {.want = name};
  if (!tp_each_global(obj, tp_find_global, &f)) {
    tp_throwf(env, op, ENOENT, "no global \"%s\" in .rodata/.data/.bss of object \"%s\"", name,
              bpf_object__name(obj));
    return false;
  }
  *out = f.found;
  return true;
}

/* After load the section lives in a one-element array map; libbpf 1.1 maps it into memory
 * only for skeletons, so read and write it through the map fd. */
static int tp_section_fd(const tp_global *g) { return bpf_map__fd(g->map); }

/* setGlobal(handle, name, bytes): before load it sets the initial value; after load it
 * rewrites the live .data/.bss (the kernel refuses .rodata, which load froze). */
static napi_value set_global(napi_env env, napi_callback_info info) {
  const char *op = "setGlobal";
  napi_value argv[3];
  bool loaded;
  char name[256];
  tp_global g;
  void *bytes;
  size_t len;
  struct bpf_object *obj;
  if (!tp_args(env, info, 3, argv, op) || !(obj = tp_object_from(env, argv[0], op, &loaded)) ||
      !tp_lookup_global(env, obj, argv[1], op, name, sizeof name, &g) ||
      !tp_get_bytes(env, argv[2], op, "value", &bytes, &len))
    return NULL;
  if (len != g.size)
    return tp_throwf(env, op, EINVAL, "global \"%s\" is %u bytes, got %zu", name, g.size, len);
  size_t size = bpf_map__value_size(g.map);
  unsigned char *copy = malloc(size ? size : 1);
  if (!copy) return tp_throw(env, op, ENOMEM, NULL, NULL);
  int err = 0;
  uint32_t zero = 0;
  if (loaded) {
    err = bpf_map_lookup_elem(tp_section_fd(&g), &zero, copy);
  } else {
    size_t isz;
    const void *cur = bpf_map__initial_value(g.map, &isz);
    if (!cur || isz != size) err = -ENODATA;
    else memcpy(copy, cur, size);
  }
  if (!err && (size_t)g.offset + g.size > size) err = -EINVAL;
  if (!err) {
    memcpy(copy + g.offset, bytes, len);
    /* The setter rather than a write through libbpf's pointer: it is the documented way to
     * change a section's initial value. */
    err = loaded ? bpf_map_update_elem(tp_section_fd(&g), &zero, copy, BPF_ANY)
                 : bpf_map__set_initial_value(g.map, copy, size);
  }
  free(copy);
  if (err) return tp_throwf(env, op, -err, "global \"%s\" in %s", name, g.section);
  return tp_undefined(env);
}

/* getGlobal(handle, name) -> Buffer: the initial value before load, the live value after. */
static napi_value get_global(napi_env env, napi_callback_info info) {
  const char *op = "getGlobal";
  napi_value argv[2];
  char name[256];
  bool loaded;
  tp_global g;
  struct bpf_object *obj;
  if (!tp_args(env, info, 2, argv, op) || !(obj = tp_object_from(env, argv[0], op, &loaded)) ||
      !tp_lookup_global(env, obj, argv[1], op, name, sizeof name, &g))
    return NULL;
  size_t size = bpf_map__value_size(g.map);
  if ((size_t)g.offset + g.size > size)
    return tp_throwf(env, op, EINVAL, "global \"%s\" lies outside section %s", name, g.section);
  if (!loaded) {
    size_t isz;
    const unsigned char *cur = bpf_map__initial_value(g.map, &isz);
    if (!cur || isz < (size_t)g.offset + g.size)
      return tp_throwf(env, op, ENODATA, "global \"%s\": section %s has no data", name, g.section);
    return tp_buffer(env, cur + g.offset, g.size);
  }
  unsigned char *copy = malloc(size ? size : 1);
  if (!copy) return tp_throw(env, op, ENOMEM, NULL, NULL);
  uint32_t zero = 0;
  int err = bpf_map_lookup_elem(tp_section_fd(&g), &zero, copy);
  napi_value res = err ? tp_throwf(env, op, -err, "global \"%s\" in %s", name, g.section)
                       : tp_buffer(env, copy + g.offset, g.size);
  free(copy);
  return res;
}

/* ---- describing ------------------------------------------------------------------------ */

typedef struct {
  napi_env env;
  napi_value arr;
  uint32_t n;
} tp_list_ctx;

static bool tp_list_global(void *ctx, const char *name, tp_global *g) {
  tp_list_ctx *l = ctx;
  napi_value o;
  napi_create_object(l->env, &o);
  tp_set(l->env, o, "name", tp_str(l->env, name));
  tp_set(l->env, o, "section", tp_str(l->env, g->section));
  tp_set(l->env, o, "map", tp_str(l->env, bpf_map__name(g->map)));
  tp_set(l->env, o, "offset", tp_num(l->env, g->offset));
  tp_set(l->env, o, "size", tp_num(l->env, g->size));
  napi_set_element(l->env, l->arr, l->n++, o);
  return false;
}

/* objectInfo(handle) -> { name, loaded, programs[], maps[], globals[] } */
static napi_value object_info(napi_env env, napi_callback_info info) {
  const char *op = "objectInfo";
  napi_value argv[1];
  bool loaded;
  struct bpf_object *obj;
  if (!tp_args(env, info, 1, argv, op) || !(obj = tp_object_from(env, argv[0], op, &loaded))) return NULL;

  napi_value res, progs, maps, globals;
  napi_create_object(env, &res);
  napi_create_array(env, &progs);
  napi_create_array(env, &maps);
  napi_create_array(env, &globals);
  tp_set(env, res, "name", tp_str(env, bpf_object__name(obj)));
  tp_set(env, res, "loaded", tp_bool(env, loaded));

  uint32_t i = 0;
  struct bpf_program *p;
  bpf_object__for_each_program(p, obj) {
    napi_value o;
    napi_create_object(env, &o);
    enum bpf_prog_type type = bpf_program__type(p);
    tp_set(env, o, "name", tp_str(env, bpf_program__name(p)));
    tp_set(env, o, "section", tp_str(env, bpf_program__section_name(p)));
    tp_set(env, o, "type", tp_num(env, type));
    tp_set(env, o, "typeName", tp_str(env, tp_or_unknown(libbpf_bpf_prog_type_str(type))));
    tp_set(env, o, "autoload", tp_bool(env, bpf_program__autoload(p)));
    tp_set(env, o, "insnCount", tp_num(env, (double)bpf_program__insn_cnt(p)));
    /* libbpf answers -errno before load; one "no fd" value is simpler for callers */
    tp_set(env, o, "fd", tp_num(env, bpf_program__fd(p) < 0 ? -1 : bpf_program__fd(p)));
    napi_set_element(env, progs, i++, o);
  }
  i = 0;
  struct bpf_map *m;
  bpf_object__for_each_map(m, obj) {
    napi_value o;
    napi_create_object(env, &o);
    enum bpf_map_type type = bpf_map__type(m);
    tp_set(env, o, "name", tp_str(env, bpf_map__name(m)));
    tp_set(env, o, "type", tp_num(env, type));
    tp_set(env, o, "typeName", tp_str(env, tp_or_unknown(libbpf_bpf_map_type_str(type))));
    tp_set(env, o, "keySize", tp_num(env, bpf_map__key_size(m)));
    tp_set(env, o, "valueSize", tp_num(env, bpf_map__value_size(m)));
    tp_set(env, o, "maxEntries", tp_num(env, bpf_map__max_entries(m)));
    tp_set(env, o, "flags", tp_num(env, bpf_map__map_flags(m)));
    tp_set(env, o, "internal", tp_bool(env, bpf_map__is_internal(m)));
    const char *pin = bpf_map__pin_path(m);
    tp_set(env, o, "pinPath", pin ? tp_str(env, pin) : tp_null(env));
    tp_set(env, o, "fd", tp_num(env, bpf_map__fd(m) < 0 ? -1 : bpf_map__fd(m)));
    napi_set_element(env, maps, i++, o);
  }
  tp_list_ctx l = {env, globals, 0};
  tp_each_global(obj, tp_list_global, &l);

  tp_set(env, res, "programs", progs);
  tp_set(env, res, "maps", maps);
  tp_set(env, res, "globals", globals);
  return res;
}

/* ---- configuring before load ----------------------------------------------------------- */

/* Shared prologue of the setters: the object must be open and not yet loaded. */
static struct bpf_object *tp_unloaded(napi_env env, napi_value h, const char *op) {
  bool loaded;
  struct bpf_object *obj = tp_object_from(env, h, op, &loaded);
  if (obj && loaded) {
    tp_throwf(env, op, EBUSY, "object \"%s\" is already loaded", bpf_object__name(obj));
    return NULL;
  }
  return obj;
}

/* setProgramType(handle, prog, type: number) */
static napi_value set_program_type(napi_env env, napi_callback_info info) {
  const char *op = "setProgramType";
  napi_value argv[3];
  struct bpf_object *obj;
  struct bpf_program *p;
  uint32_t type;
  if (!tp_args(env, info, 3, argv, op) || !(obj = tp_unloaded(env, argv[0], op)) ||
      !(p = tp_prog(env, obj, argv[1], op)) || !tp_get_u32(env, argv[2], op, "program type", &type))
    return NULL;
  int err = bpf_program__set_type(p, (enum bpf_prog_type)type);
  if (err) return tp_throwf(env, op, -err, "program \"%s\"", bpf_program__name(p));
  return tp_undefined(env);
}

/* setProgramAutoload(handle, prog, autoload: boolean) */
static napi_value set_program_autoload(napi_env env, napi_callback_info info) {
  const char *op = "setProgramAutoload";
  napi_value argv[3];
  struct bpf_object *obj;
  struct bpf_program *p;
  bool on;
  if (!tp_args(env, info, 3, argv, op) || !(obj = tp_unloaded(env, argv[0], op)) ||
      !(p = tp_prog(env, obj, argv[1], op)) || !tp_get_bool(env, argv[2], op, "autoload", &on))
    return NULL;
  int err = bpf_program__set_autoload(p, on);
  if (err) return tp_throwf(env, op, -err, "program \"%s\"", bpf_program__name(p));
  return tp_undefined(env);
}

/* setMapMaxEntries(handle, map, n) */
static napi_value set_map_max_entries(napi_env env, napi_callback_info info) {
  const char *op = "setMapMaxEntries";
  napi_value argv[3];
  struct bpf_object *obj;
  struct bpf_map *m;
  uint32_t n;
  if (!tp_args(env, info, 3, argv, op) || !(obj = tp_unloaded(env, argv[0], op)) ||
      !(m = tp_map(env, obj, argv[1], op)) || !tp_get_u32(env, argv[2], op, "max_entries", &n))
    return NULL;
  int err = bpf_map__set_max_entries(m, n);
  if (err) return tp_throwf(env, op, -err, "map \"%s\"", bpf_map__name(m));
  return tp_undefined(env);
}

/* setMapPinPath(handle, map, path | null): libbpf pins (or reuses a compatible pinned map)
 * at load. */
static napi_value set_map_pin_path(napi_env env, napi_callback_info info) {
  const char *op = "setMapPinPath";
  napi_value argv[3];
  struct bpf_object *obj;
  struct bpf_map *m;
  char path[4096];
  if (!tp_args(env, info, 3, argv, op) || !(obj = tp_unloaded(env, argv[0], op)) ||
      !(m = tp_map(env, obj, argv[1], op)))
    return NULL;
  bool clear = tp_is_nullish(env, argv[2]);
  if (!clear && !tp_get_string(env, argv[2], op, "pin path", path, sizeof path)) return NULL;
  int err = bpf_map__set_pin_path(m, clear ? NULL : path);
  if (err) return tp_throwf(env, op, -err, "map \"%s\"", bpf_map__name(m));
  return tp_undefined(env);
}

/* loadObject(handle): creates maps and loads programs; a failure carries libbpf's output,
 * including the verifier log of the rejected program. */
static napi_value load_object(napi_env env, napi_callback_info info) {
  const char *op = "loadObject";
  napi_value argv[1];
  if (!tp_args(env, info, 1, argv, op)) return NULL;
  tp_objref *ref = tp_objref_from(env, argv[0], op);
  if (!ref) return NULL;
  if (ref->loaded) return tp_throwf(env, op, EBUSY, "object \"%s\" is already loaded", bpf_object__name(ref->obj));
  tp_log_reset();
  int err = bpf_object__load(ref->obj);
  if (err) {
    char detail[192];
    snprintf(detail, sizeof detail, "object \"%s\"", bpf_object__name(ref->obj));
    /* libbpf counts a failed load as loaded and refuses a second one; say so plainly. */
    ref->loaded = true;
    return tp_throw(env, op, -err, detail, tp_log_text());
  }
  ref->loaded = true;
  return tp_undefined(env);
}

/* closeObject(handle): idempotent; fds of the object's maps and programs become invalid. */
static napi_value close_object(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  void *data = NULL;
  bool tagged = false;
  napi_valuetype t;
  if (!tp_args(env, info, 1, argv, "closeObject")) return NULL;
  if (napi_typeof(env, argv[0], &t) != napi_ok || t != napi_object ||
      napi_check_object_type_tag(env, argv[0], &TP_OBJECT_TAG, &tagged) != napi_ok || !tagged ||
      napi_unwrap(env, argv[0], &data) != napi_ok || !data)
    return tp_throwf(env, "closeObject", EINVAL, "not a BPF object handle");
  tp_objref_release(data);
  return tp_undefined(env);
}

void tp_register_object(napi_env env, napi_value exports) {
  static const tp_export list[] = {
      {"openObject", open_object},
      {"objectInfo", object_info},
      {"setGlobal", set_global},
      {"getGlobal", get_global},
      {"setProgramType", set_program_type},
      {"setProgramAutoload", set_program_autoload},
      {"setMapMaxEntries", set_map_max_entries},
      {"setMapPinPath", set_map_pin_path},
      {"loadObject", load_object},
      {"closeObject", close_object},
      {NULL, NULL},
  };
  tp_define(env, exports, list);
}
