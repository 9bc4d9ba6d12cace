/* Running programs and reading what they emit: BPF_PROG_TEST_RUN on a packet with an optional
 * context, program info by fd, and a ring buffer consumer drained synchronously into an array. */
#define _GNU_SOURCE
#include "tp.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

/* Room for what a program may add to a packet: XDP can grow by its 256-byte headroom and by
 * the tailroom of its page, tc by skb_change_head/tail; a page more than the input covers both. */
#define TP_DATA_OUT_SLACK 4096

/* The context struct the kernel copies in and out for a program type, 0 for none we know. */
static size_t tp_ctx_size(uint32_t prog_type) {
  switch (prog_type) {
    case BPF_PROG_TYPE_XDP: return sizeof(struct xdp_md);
    case BPF_PROG_TYPE_SCHED_CLS:
    case BPF_PROG_TYPE_SCHED_ACT:
    case BPF_PROG_TYPE_SOCKET_FILTER:
    case BPF_PROG_TYPE_CGROUP_SKB:
    case BPF_PROG_TYPE_LWT_IN:
    case BPF_PROG_TYPE_LWT_OUT:
    case BPF_PROG_TYPE_LWT_XMIT: return sizeof(struct __sk_buff);
    default: return 0;
  }
}

/* progInfo(fd) -> { id, name, type, typeName, tag } */
static napi_value prog_info(napi_env env, napi_callback_info info) {
  const char *op = "progInfo";
  napi_value argv[1], o;
  int fd;
  if (!tp_args(env, info, 1, argv, op) || !tp_get_fd(env, argv[0], op, &fd)) return NULL;
  struct bpf_prog_info pi;
  uint32_t len = sizeof pi;
  memset(&pi, 0, sizeof pi);
  int err = bpf_obj_get_info_by_fd(fd, &pi, &len);
  if (err) return tp_throwf(env, op, -err, "fd %d is not a BPF program", fd);
  char tag[2 * BPF_TAG_SIZE + 1];
  for (int i = 0; i < BPF_TAG_SIZE; i++) snprintf(tag + 2 * i, 3, "%02x", pi.tag[i]);
  const char *tn = libbpf_bpf_prog_type_str((enum bpf_prog_type)pi.type);
  napi_create_object(env, &o);
  tp_set(env, o, "id", tp_num(env, pi.id));
  tp_set(env, o, "name", tp_str(env, pi.name));
  tp_set(env, o, "type", tp_num(env, pi.type));
  tp_set(env, o, "typeName", tp_str(env, tn ? tn : "unknown"));
  tp_set(env, o, "tag", tp_str(env, tag));
  return o;
}

/* testRun(fd, data, ctx | null, { repeat?, flags?, cpu?, dataOutSize?, pinCpu? })
 *   -> { retval, dataOut, ctxOut | null, durationNs, pinned }
 * pinCpu runs the test on that CPU: the calling thread's affinity is narrowed to it for the
 * run (sched_setaffinity migrates the thread before it returns) and restored after, so
 * bpf_get_smp_processor_id and per-CPU map slots are the same on every run. When the CPU is
 * not allowed here (a cpuset without it), the run goes ahead unpinned and `pinned` says so. */
static napi_value test_run(napi_env env, napi_callback_info info) {
  const char *op = "testRun";
  napi_value argv[4];
  int fd;
  void *data, *ctx = NULL;
  size_t len, ctx_len = 0;
  int64_t repeat = 1, flags = 0, cpu = 0, out_size = -1, pin_cpu = -1;
  if (!tp_args(env, info, 4, argv, op) || !tp_get_fd(env, argv[0], op, &fd) ||
      !tp_get_bytes(env, argv[1], op, "packet", &data, &len) ||
      (!tp_is_nullish(env, argv[2]) && !tp_get_bytes(env, argv[2], op, "context", &ctx, &ctx_len)) ||
      !tp_opt_i64(env, argv[3], "repeat", op, 1, INT32_MAX, &repeat) ||
      !tp_opt_i64(env, argv[3], "flags", op, 0, UINT32_MAX, &flags) ||
      !tp_opt_i64(env, argv[3], "cpu", op, 0, UINT32_MAX, &cpu) ||
      !tp_opt_i64(env, argv[3], "dataOutSize", op, 0, 1 << 24, &out_size) ||
      !tp_opt_i64(env, argv[3], "pinCpu", op, -1, CPU_SETSIZE - 1, &pin_cpu))
    return NULL;
  if (len == 0) return tp_throwf(env, op, EINVAL, "the packet is empty");
  if (len > UINT32_MAX - TP_DATA_OUT_SLACK) return tp_throwf(env, op, E2BIG, "the packet is %zu bytes", len);

  struct bpf_prog_info pi;
  uint32_t pi_len = sizeof pi;
  memset(&pi, 0, sizeof pi);
  int err = bpf_obj_get_info_by_fd(fd, &pi, &pi_len);
  if (err) return tp_throwf(env, op, -err, "fd %d is not a BPF program", fd);
  size_t ctx_size = tp_ctx_size(pi.type);
  if (ctx && ctx_size && ctx_len > ctx_size)
    return tp_throwf(env, op, EINVAL, "context is %zu bytes, %s takes at most %zu", ctx_len,
                     libbpf_bpf_prog_type_str((enum bpf_prog_type)pi.type), ctx_size);

  /* XDP refuses a context whose data_end differs from the packet length; asking for the
   * context back without passing one in would hand it a zeroed one, so give it a truthful one. */
  struct xdp_md xdp_default;
  if (!ctx && pi.type == BPF_PROG_TYPE_XDP) {
    memset(&xdp_default, 0, sizeof xdp_default);
    xdp_default.data_end = (uint32_t)len;
    ctx = &xdp_default;
    ctx_len = sizeof xdp_default;
  }

  size_t cap = out_size >= 0 ? (size_t)out_size : len + TP_DATA_OUT_SLACK;
  unsigned char *out = malloc(cap ? cap : 1);
  unsigned char *ctx_out = ctx_size ? calloc(1, ctx_size) : NULL;
  if (!out || (ctx_size && !ctx_out)) {
    free(out);
    free(ctx_out);
    return tp_throw(env, op, ENOMEM, NULL, NULL);
  }
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data, .data_size_in = (uint32_t)len, .data_out = out,
              .data_size_out = (uint32_t)cap, .ctx_in = ctx, .ctx_size_in = (uint32_t)ctx_len,
              .ctx_out = ctx_out, .ctx_size_out = (uint32_t)ctx_size, .repeat = (int)repeat,
              .flags = (uint32_t)flags, .cpu = (uint32_t)cpu);
  cpu_set_t saved;
  int pinned = 0;
  if (pin_cpu >= 0 && sched_getaffinity(0, sizeof saved, &saved) == 0) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET((int)pin_cpu, &one);
    pinned = sched_setaffinity(0, sizeof one, &one) == 0;
  }
  err = bpf_prog_test_run_opts(fd, &opts);
  if (pinned) sched_setaffinity(0, sizeof saved, &saved);
  napi_value res = NULL;
  if (err) {
    if (err == -ENOSPC)
      tp_throwf(env, op, ENOSPC, "program \"%s\": output packet is %u bytes, buffer holds %zu (pass dataOutSize)",
                pi.name, opts.data_size_out, cap);
    else
      tp_throwf(env, op, -err, "program \"%s\" (%s), %zu-byte packet", pi.name,
                libbpf_bpf_prog_type_str((enum bpf_prog_type)pi.type), len);
  } else {
    napi_create_object(env, &res);
    size_t got = opts.data_size_out < cap ? opts.data_size_out : cap;
    tp_set(env, res, "retval", tp_num(env, opts.retval));
    tp_set(env, res, "dataOut", tp_buffer(env, out, got));
    tp_set(env, res, "ctxOut", ctx_out && opts.ctx_size_out ? tp_buffer(env, ctx_out, opts.ctx_size_out) : tp_null(env));
    tp_set(env, res, "durationNs", tp_num(env, opts.duration));
    tp_set(env, res, "pinned", tp_bool(env, pinned));
  }
  free(out);
  free(ctx_out);
  return res;
}

/* ---- ring buffer ----------------------------------------------------------------------- */

typedef struct {
  struct ring_buffer *rb;
  /* Valid only while a poll/consume call runs: where the callback puts records. */
  napi_env env;
  napi_value out;
  uint32_t count, max;
} tp_ringbuf;

static const napi_type_tag TP_RINGBUF_TAG = {0x7477696e70617468ULL, 0x72696e6762756601ULL};
/* Returned by the sample callback to stop once `max` records are taken; libbpf consumes the
 * record that returned it and then stops, so nothing is lost. */
#define TP_RB_FULL (-ECANCELED)

static int tp_rb_sample(void *ctx, void *data, size_t size) {
  tp_ringbuf *r = ctx;
  napi_set_element(r->env, r->out, r->count++, tp_buffer(r->env, data, size));
  return r->count >= r->max ? TP_RB_FULL : 0;
}

static void tp_rb_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  tp_ringbuf *r = data;
  if (r->rb) ring_buffer__free(r->rb);
  free(r);
}

static tp_ringbuf *tp_rb_from(napi_env env, napi_value v, const char *op, bool must_be_open) {
  napi_valuetype t;
  bool tagged = false;
  void *data = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_object ||
      napi_check_object_type_tag(env, v, &TP_RINGBUF_TAG, &tagged) != napi_ok || !tagged ||
      napi_unwrap(env, v, &data) != napi_ok || !data) {
    tp_throwf(env, op, EINVAL, "not a ring buffer handle");
    return NULL;
  }
  tp_ringbuf *r = data;
  if (must_be_open && !r->rb) {
    tp_throwf(env, op, EBADF, "the ring buffer consumer is closed");
    return NULL;
  }
  return r;
}

/* ringbufOpen(mapFd) -> handle */
static napi_value ringbuf_open(napi_env env, napi_callback_info info) {
  const char *op = "ringbufOpen";
  napi_value argv[1], h;
  int fd;
  if (!tp_args(env, info, 1, argv, op) || !tp_get_fd(env, argv[0], op, &fd)) return NULL;
  tp_ringbuf *r = calloc(1, sizeof *r);
  if (!r) return tp_throw(env, op, ENOMEM, NULL, NULL);
  tp_log_reset();
  errno = 0;
  r->rb = ring_buffer__new(fd, tp_rb_sample, r, NULL);
  if (!r->rb) {
    int err = errno ? errno : EINVAL;
    free(r);
    char detail[48];
    snprintf(detail, sizeof detail, "map fd %d", fd);
    return tp_throw(env, op, err, detail, tp_log_text());
  }
  napi_create_object(env, &h);
  if (napi_wrap(env, h, r, tp_rb_finalize, NULL, NULL) != napi_ok ||
      napi_type_tag_object(env, h, &TP_RINGBUF_TAG) != napi_ok) {
    ring_buffer__free(r->rb);
    free(r);
    return tp_throwf(env, op, ENOMEM, "cannot wrap the ring buffer handle");
  }
  return h;
}

/* ringbufPoll(handle, timeoutMs, maxRecords?) -> Buffer[]; timeoutMs 0 consumes what is
 * there without waiting. Blocks the JS thread for at most timeoutMs. */
static napi_value ringbuf_poll(napi_env env, napi_callback_info info) {
  const char *op = "ringbufPoll";
  napi_value argv[3];
  int64_t timeout, max = UINT32_MAX;
  tp_ringbuf *r;
  if (!tp_args(env, info, 3, argv, op) || !(r = tp_rb_from(env, argv[0], op, true)) ||
      !tp_get_i64(env, argv[1], op, "timeoutMs", 0, INT32_MAX, &timeout) ||
      (!tp_is_nullish(env, argv[2]) && !tp_get_i64(env, argv[2], op, "maxRecords", 1, UINT32_MAX, &max)))
    return NULL;
  napi_create_array(env, &r->out);
  r->env = env;
  r->count = 0;
  r->max = (uint32_t)max;
  int err = timeout ? ring_buffer__poll(r->rb, (int)timeout) : ring_buffer__consume(r->rb);
  napi_value out = r->out;
  r->env = NULL;
  /* An interrupted wait is an empty poll, not a failure: signals reach Node's process too. */
  if (err < 0 && err != TP_RB_FULL && err != -EINTR) return tp_throw(env, op, -err, NULL, NULL);
  return out;
}

/* ringbufClose(handle): idempotent */
static napi_value ringbuf_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tp_ringbuf *r;
  if (!tp_args(env, info, 1, argv, "ringbufClose") || !(r = tp_rb_from(env, argv[0], "ringbufClose", false)))
    return NULL;
  if (r->rb) ring_buffer__free(r->rb);
  r->rb = NULL;
  return tp_undefined(env);
}

void tp_register_run(napi_env env, napi_value exports) {
  static const tp_export list[] = {
      {"progInfo", prog_info},
      {"testRun", test_run},
      {"ringbufOpen", ringbuf_open},
      {"ringbufPoll", ringbuf_poll},
      {"ringbufClose", ringbuf_close},
      {NULL, NULL},
  };
  tp_define(env, exports, list);
}
