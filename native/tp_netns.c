/* Network namespaces for the calling thread: open a namespace by path, enter it with setns(),
 * and look up interface indexes by name in whatever namespace the thread is in.
 *
 * setns(CLONE_NEWNET) changes only the calling thread. Node runs JavaScript on one thread, so
 * synchronous addon calls made after netnsEnter (netlink sockets for tc and XDP, ioctls) act
 * in the entered namespace until the saved one is entered again; src/kernel/netns.ts pairs
 * the two. sysfs is not consulted here on purpose: /sys/class/net shows the namespace sysfs
 * was mounted for, not the thread's. */
#define _GNU_SOURCE
#include "tp.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

/* netnsOpen(path) -> fd: "/run/netns/NAME", "/proc/PID/ns/net", or "/proc/thread-self/ns/net"
 * for the thread's current namespace. */
static napi_value netns_open(napi_env env, napi_callback_info info) {
  const char *op = "netnsOpen";
  napi_value argv[1];
  char path[4096];
  if (!tp_args(env, info, 1, argv, op) || !tp_get_string(env, argv[0], op, "path", path, sizeof path))
    return NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return tp_throw(env, op, errno, path, NULL);
  return tp_num(env, fd);
}

/* netnsEnter(fd): moves the calling thread into the network namespace behind fd. */
static napi_value netns_enter(napi_env env, napi_callback_info info) {
  const char *op = "netnsEnter";
  napi_value argv[1];
  int fd;
  if (!tp_args(env, info, 1, argv, op) || !tp_get_fd(env, argv[0], op, &fd)) return NULL;
  if (setns(fd, CLONE_NEWNET) != 0) return tp_throw(env, op, errno, "setns(CLONE_NEWNET)", NULL);
  return tp_undefined(env);
}

/* ifNameToIndex(name) -> ifindex in the thread's current namespace; ENODEV when absent. */
static napi_value if_name_to_index(napi_env env, napi_callback_info info) {
  const char *op = "ifNameToIndex";
  napi_value argv[1];
  char name[IF_NAMESIZE];
  if (!tp_args(env, info, 1, argv, op) || !tp_get_string(env, argv[0], op, "name", name, sizeof name))
    return NULL;
  unsigned idx = if_nametoindex(name);
  if (idx == 0) return tp_throw(env, op, errno ? errno : ENODEV, name, NULL);
  return tp_num(env, idx);
}

void tp_register_netns(napi_env env, napi_value exports) {
  static const tp_export list[] = {
      {"netnsOpen", netns_open},
      {"netnsEnter", netns_enter},
      {"ifNameToIndex", if_name_to_index},
      {NULL, NULL},
  };
  tp_define(env, exports, list);
}
