/* Shared definitions for the engine-agreement test programs: includes, small helpers and the
 * return codes both hooks use. Every program in bpf/test/progs includes this first. */
#ifndef TWINPATH_TEST_COMMON_H
#define TWINPATH_TEST_COMMON_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* <linux/icmp.h> pulls in libc's <sys/socket.h>, which the BPF target cannot compile, so the
 * one ICMP layout these programs need (echo, and the shared first four bytes) is here. */
struct icmp_echo {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 id;
	__be16 sequence;
};

/* IP protocol numbers (IANA); <linux/in.h> is left out for the same reason as <linux/icmp.h>. */
#define IPPROTO_ICMP 1
#define IPPROTO_IPIP 4
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ICMPV6 58

#ifndef ETH_P_8021Q
#define ETH_P_8021Q 0x8100
#endif
#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

/* Folds a 32-bit one's complement sum (as bpf_csum_diff returns it) to 16 bits. */
static __always_inline __u16 csum_fold32(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

#endif
