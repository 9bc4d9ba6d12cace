/* Attaching programs to interfaces and naming objects in bpffs: XDP attach/detach/query, tc
 * clsact hooks and filters, pin/get/unpin, and closing fds this addon handed out.
 *
 * Attachments made here live in the kernel, not in this process: they outlive it until
 * detached or until the interface goes away. */
#define _GNU_SOURCE
#include "tp.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/if_link.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool tp_ifindex(napi_env env, napi_value v, const char *op, int *out) {
  int64_t x;
  if (!tp_get_i64(env, v, op, "ifindex", 1, INT32_MAX, &x)) return false;
  *out = (int)x;
  return true;
}

static napi_value tp_if_fail(napi_env env, const char *op, int err, int ifindex) {
  char detail[48];
  snprintf(detail, sizeof detail, "ifindex %d", ifindex);
  return tp_throw(env, op, -err, detail, tp_log_text());
}

/* ---- XDP ------------------------------------------------------------------------------- */

/* xdpAttach(ifindex, progFd, flags): flags are XDP_FLAGS_* (skb mode 2, driver mode 4, ...) */
static napi_value xdp_attach(napi_env env, napi_callback_info info) {
  const char *op = "xdpAttach";
  napi_value argv[3];
  int ifindex, fd;
  uint32_t flags = 0;
  if (!tp_args(env, info, 3, argv, op) || !tp_ifindex(env, argv[0], op, &ifindex) ||
      !tp_get_fd(env, argv[1], op, &fd) ||
      (!tp_is_nullish(env, argv[2]) && !tp_get_u32(env, argv[2], op, "flags", &flags)))
    return NULL;
  tp_log_reset();
  int err = bpf_xdp_attach(ifindex, fd, flags, NULL);
  return err ? tp_if_fail(env, op, err, ifindex) : tp_undefined(env);
}

/* xdpDetach(ifindex, flags): the mode flag must match the one used to attach */
static napi_value xdp_detach(napi_env env, napi_callback_info info) {
  const char *op = "xdpDetach";
  napi_value argv[2];
  int ifindex;
  uint32_t flags = 0;
  if (!tp_args(env, info, 2, argv, op) || !tp_ifindex(env, argv[0], op, &ifindex) ||
      (!tp_is_nullish(env, argv[1]) && !tp_get_u32(env, argv[1], op, "flags", &flags)))
    return NULL;
  tp_log_reset();
  int err = bpf_xdp_detach(ifindex, flags, NULL);
  return err ? tp_if_fail(env, op, err, ifindex) : tp_undefined(env);
}

/* xdpQuery(ifindex) -> { progId, skbProgId, drvProgId, hwProgId, attachMode } (ids 0 = none) */
static napi_value xdp_query(napi_env env, napi_callback_info info) {
  const char *op = "xdpQuery";
  napi_value argv[1], o;
  int ifindex;
  if (!tp_args(env, info, 1, argv, op) || !tp_ifindex(env, argv[0], op, &ifindex)) return NULL;
  LIBBPF_OPTS(bpf_xdp_query_opts, q);
  tp_log_reset();
  int err = bpf_xdp_query(ifindex, 0, &q);
  if (err) return tp_if_fail(env, op, err, ifindex);
  napi_create_object(env, &o);
  tp_set(env, o, "progId", tp_num(env, q.prog_id));
  tp_set(env, o, "skbProgId", tp_num(env, q.skb_prog_id));
  tp_set(env, o, "drvProgId", tp_num(env, q.drv_prog_id));
  tp_set(env, o, "hwProgId", tp_num(env, q.hw_prog_id));
  tp_set(env, o, "attachMode", tp_num(env, q.attach_mode));
  return o;
}

/* ---- tc (clsact) ----------------------------------------------------------------------- */

/* attachPoint: BPF_TC_INGRESS 1, BPF_TC_EGRESS 2, both 3 (hook create/destroy only) */
static bool tp_tc_hook(napi_env env, napi_value *argv, const char *op, bool allow_both, struct bpf_tc_hook *hook) {
  int ifindex;
  uint32_t point;
  if (!tp_ifindex(env, argv[0], op, &ifindex) || !tp_get_u32(env, argv[1], op, "attachPoint", &point))
    return false;
  bool ok = point == BPF_TC_INGRESS || point == BPF_TC_EGRESS ||
            (allow_both && point == (BPF_TC_INGRESS | BPF_TC_EGRESS));
  if (!ok) {
    tp_throwf(env, op, EINVAL, "attachPoint must be 1 (ingress), 2 (egress)%s, got %u",
              allow_both ? " or 3 (both)" : "", point);
    return false;
  }
  memset(hook, 0, sizeof *hook);
  hook->sz = sizeof *hook;
  hook->ifindex = ifindex;
  hook->attach_point = (enum bpf_tc_attach_point)point;
  return true;
}

/* tcHookCreate(ifindex, attachPoint): adds the clsact qdisc; EEXIST when it is already there */
static napi_value tc_hook_create(napi_env env, napi_callback_info info) {
  const char *op = "tcHookCreate";
  napi_value argv[2];
  struct bpf_tc_hook hook;
  if (!tp_args(env, info, 2, argv, op) || !tp_tc_hook(env, argv, op, true, &hook)) return NULL;
  tp_log_reset();
  int err = bpf_tc_hook_create(&hook);
  return err ? tp_if_fail(env, op, err, hook.ifindex) : tp_undefined(env);
}

/* tcHookDestroy(ifindex, attachPoint): with 3 removes the clsact qdisc and every filter on it */
static napi_value tc_hook_destroy(napi_env env, napi_callback_info info) {
  const char *op = "tcHookDestroy";
  napi_value argv[2];
  struct bpf_tc_hook hook;
  if (!tp_args(env, info, 2, argv, op) || !tp_tc_hook(env, argv, op, true, &hook)) return NULL;
  tp_log_reset();
  int err = bpf_tc_hook_destroy(&hook);
  return err ? tp_if_fail(env, op, err, hook.ifindex) : tp_undefined(env);
}

/* tcAttach(ifindex, attachPoint, progFd, { handle?, priority?, replace? })
 *   -> { handle, priority, progId }; zero handle/priority let the kernel choose */
static napi_value tc_attach(napi_env env, napi_callback_info info) {
  const char *op = "tcAttach";
  napi_value argv[4], o;
  struct bpf_tc_hook hook;
  int fd;
  int64_t handle = 0, priority = 0, replace = 0;
  if (!tp_args(env, info, 4, argv, op) || !tp_tc_hook(env, argv, op, false, &hook) ||
      !tp_get_fd(env, argv[2], op, &fd) || !tp_opt_i64(env, argv[3], "handle", op, 0, UINT32_MAX, &handle) ||
      !tp_opt_i64(env, argv[3], "priority", op, 0, UINT16_MAX, &priority) ||
      !tp_opt_i64(env, argv[3], "replace", op, 0, 1, &replace))
    return NULL;
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = fd, .handle = (uint32_t)handle, .priority = (uint32_t)priority,
              .flags = replace ? BPF_TC_F_REPLACE : 0);
  tp_log_reset();
  int err = bpf_tc_attach(&hook, &opts);
  if (err) return tp_if_fail(env, op, err, hook.ifindex);
  napi_create_object(env, &o);
  tp_set(env, o, "handle", tp_num(env, opts.handle));
  tp_set(env, o, "priority", tp_num(env, opts.priority));
  tp_set(env, o, "progId", tp_num(env, opts.prog_id));
  return o;
}

static bool tp_tc_filter(napi_env env, napi_value *argv, const char *op, struct bpf_tc_opts *opts) {
  uint32_t handle, priority;
  if (!tp_get_u32(env, argv[2], op, "handle", &handle) || !tp_get_u32(env, argv[3], op, "priority", &priority))
    return false;
  if (!handle || !priority || priority > UINT16_MAX) {
    tp_throwf(env, op, EINVAL, "a tc filter is named by a non-zero handle and a priority in 1..65535");
    return false;
  }
  memset(opts, 0, sizeof *opts);
  opts->sz = sizeof *opts;
  opts->handle = handle;
  opts->priority = priority;
  return true;
}

/* tcDetach(ifindex, attachPoint, handle, priority) */
static napi_value tc_detach(napi_env env, napi_callback_info info) {
  const char *op = "tcDetach";
  napi_value argv[4];
  struct bpf_tc_hook hook;
  struct bpf_tc_opts opts;
  if (!tp_args(env, info, 4, argv, op) || !tp_tc_hook(env, argv, op, false, &hook) ||
      !tp_tc_filter(env, argv, op, &opts))
    return NULL;
  tp_log_reset();
  int err = bpf_tc_detach(&hook, &opts);
  return err ? tp_if_fail(env, op, err, hook.ifindex) : tp_undefined(env);
}

/* tcQuery(ifindex, attachPoint, handle, priority) -> progId | null when no such filter */
static napi_value tc_query(napi_env env, napi_callback_info info) {
  const char *op = "tcQuery";
  napi_value argv[4];
  struct bpf_tc_hook hook;
  struct bpf_tc_opts opts;
  if (!tp_args(env, info, 4, argv, op) || !tp_tc_hook(env, argv, op, false, &hook) ||
      !tp_tc_filter(env, argv, op, &opts))
    return NULL;
  tp_log_reset();
  int err = bpf_tc_query(&hook, &opts);
  if (err == -ENOENT || err == -EINVAL) return tp_null(env); /* EINVAL: no clsact qdisc at all */
  return err ? tp_if_fail(env, op, err, hook.ifindex) : tp_num(env, opts.prog_id);
}

/* ---- bpffs ----------------------------------------------------------------------------- */

static napi_value tp_path_fail(napi_env env, const char *op, int err, const char *path) {
  char detail[4200];
  snprintf(detail, sizeof detail, "\"%s\"", path);
  return tp_throw(env, op, err < 0 ? -err : err, detail, NULL);
}

/* objPin(fd, path): the path must be on a bpf filesystem */
static napi_value obj_pin(napi_env env, napi_callback_info info) {
  const char *op = "objPin";
  napi_value argv[2];
  int fd;
  char path[4096];
  if (!tp_args(env, info, 2, argv, op) || !tp_get_fd(env, argv[0], op, &fd) ||
      !tp_get_string(env, argv[1], op, "path", path, sizeof path))
    return NULL;
  int err = bpf_obj_pin(fd, path);
  return err ? tp_path_fail(env, op, err, path) : tp_undefined(env);
}

/* objGet(path) -> fd; the caller owns it and closes it with closeFd */
static napi_value obj_get(napi_env env, napi_callback_info info) {
  const char *op = "objGet";
  napi_value argv[1];
  char path[4096];
  if (!tp_args(env, info, 1, argv, op) || !tp_get_string(env, argv[0], op, "path", path, sizeof path)) return NULL;
  int fd = bpf_obj_get(path);
  return fd < 0 ? tp_path_fail(env, op, fd, path) : tp_num(env, fd);
}

/* unpin(path): removing the name drops its reference; the object lives on while others hold it */
static napi_value unpin(napi_env env, napi_callback_info info) {
  const char *op = "unpin";
  napi_value argv[1];
  char path[4096];
  if (!tp_args(env, info, 1, argv, op) || !tp_get_string(env, argv[0], op, "path", path, sizeof path)) return NULL;
  return unlink(path) ? tp_path_fail(env, op, errno, path) : tp_undefined(env);
}

/* closeFd(fd): for fds from objGet; the fds of an object's maps and programs belong to it */
static napi_value close_fd(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!tp_args(env, info, 1, argv, "closeFd") || !tp_get_fd(env, argv[0], "closeFd", &fd)) return NULL;
  if (fd <= 2) return tp_throwf(env, "closeFd", EBADF, "refusing to close standard stream fd %d", fd);
  return close(fd) ? tp_throw(env, "closeFd", errno, NULL, NULL) : tp_undefined(env);
}

void tp_register_attach(napi_env env, napi_value exports) {
  static const tp_export list[] = {
      {"xdpAttach", xdp_attach},       {"xdpDetach", xdp_detach},
      {"xdpQuery", xdp_query},         {"tcHookCreate", tc_hook_create},
      {"tcHookDestroy", tc_hook_destroy}, {"tcAttach", tc_attach},
      {"tcDetach", tc_detach},         {"tcQuery", tc_query},
      {"objPin", obj_pin},             {"objGet", obj_get},
      {"unpin", unpin},                {"closeFd", close_fd},
      {NULL, NULL},
  };
  tp_define(env, exports, list);
}
