/* Entry point of the twinpath native addon: registers every module's functions and answers the
 * one question asked before anything else, "can this process use BPF at all?" (probe).
 *
 * The addon is a thin, synchronous layer over libbpf; policy (naming, defaults, errors as
 * TwinpathError) lives in src/kernel. */
#define _GNU_SOURCE
#include "tp.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpf/libbpf_version.h>
#include <errno.h>
#include <linux/bpf.h>
#include <unistd.h>

/* probe() -> { ok: true } | { ok: false, errno, errnoName }: creates and drops the smallest
 * map there is. EPERM means no CAP_BPF/CAP_SYS_ADMIN, ENOSYS a kernel without bpf(). */
static napi_value probe(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value o;
  napi_create_object(env, &o);
  tp_log_reset();
  int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "tp_probe", 4, 4, 1, NULL);
  tp_set(env, o, "ok", tp_bool(env, fd >= 0));
  if (fd >= 0) {
    close(fd);
    return o;
  }
  char buf[32];
  tp_set(env, o, "errno", tp_num(env, -fd));
  tp_set(env, o, "errnoName", tp_str(env, tp_errno_name(-fd, buf, sizeof buf)));
  return o;
}

static napi_value init(napi_env env, napi_value exports) {
  static const tp_export list[] = {{"probe", probe}, {NULL, NULL}};
  tp_log_install();
  tp_define(env, exports, list);
  tp_register_object(env, exports);
  tp_register_map(env, exports);
  tp_register_run(env, exports);
  tp_register_attach(env, exports);
  tp_register_netns(env, exports);
  char version[32];
  snprintf(version, sizeof version, "%d.%d", LIBBPF_MAJOR_VERSION, LIBBPF_MINOR_VERSION);
  tp_set(env, exports, "libbpfVersion", tp_str(env, version));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
