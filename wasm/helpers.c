/* Helper functions by set and UAPI id. A program is loaded against one set; a call to an id the
 * set lacks is refused at load. The conformance set holds the suite's test helper only. */
#include "vm.h"

/* The bpf_conformance suite's helper 5: returns its argument, and when the argument is 0 it
 * ends the whole program with r0 = 0 (an "unwind"). */
static u64 conformance_unwind(struct vm_state *st, u64 a1, u64 a2, u64 a3, u64 a4, u64 a5) {
  (void)a2; (void)a3; (void)a4; (void)a5;
  if (a1 == 0) {
    st->stop = 1;
    st->stop_r0 = 0;
  }
  return a1;
}

static const struct helper_def conformance_helpers[] = {
  {5, conformance_unwind},
};

helper_fn vm_find_helper(u32 set, u32 id) {
  const struct helper_def *defs = NULL;
  u32 n = 0;
  if (set == VM_HELPERS_CONFORMANCE) {
    defs = conformance_helpers;
    n = sizeof conformance_helpers / sizeof conformance_helpers[0];
  }
  for (u32 i = 0; i < n; i++)
    if (defs[i].id == id) return defs[i].fn;
  return NULL;
}
