// Test object for the BTF reader: a map value that uses the rarer BTF kinds (enum64, float,
// bitfields, bool, decl_tag, type_tag, union) so formatValue and the parser see each of them.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum wide { WIDE_SMALL = 1, WIDE_BIG = 0x100000000ULL };
enum color { RED = 0, GREEN = 1, BLUE = -1 };

struct kinds {
	float ratio;
	double precise;
	enum wide w;
	enum color c;
	unsigned int low : 3;
	int neg : 5;
	_Bool on;
	int *__attribute__((btf_type_tag("user"))) user_ptr;
	union {
		__u32 word;
		__u8 bytes[4];
	} u;
	__u64 cookie __attribute__((btf_decl_tag("cookie")));
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct kinds);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} kinds_map SEC(".maps");

SEC("tc")
int tc_kinds(struct __sk_buff *skb)
{
	__u32 k = skb->mark;
	struct kinds *v = bpf_map_lookup_elem(&kinds_map, &k);
	if (v && v->on)
		return v->low;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
