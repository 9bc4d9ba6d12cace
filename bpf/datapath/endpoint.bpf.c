// SPDX-License-Identifier: GPL-2.0
//
// The endpoint datapath: Cilium-style policy enforcement and service load balancing for every pod
// on a node, one object for all of them (the endpoint is found by interface, see lib/endpoint.h),
// and the program for traffic that arrives at the node from outside. The logic is in lib/lxc.h
// and the headers it includes.
#include "lib/lxc.h"

/* Traffic leaving the pod: tc ingress of the host-side veth. Service translation, egress policy. */
SEC("tc")
int cil_from_container(struct __sk_buff *skb)
{
	return handle_endpoint(skb, DIR_EGRESS);
}

/* Traffic arriving at the pod: tc egress of the host-side veth. Ingress policy. */
SEC("tc")
int cil_to_container(struct __sk_buff *skb)
{
	return handle_endpoint(skb, DIR_INGRESS);
}

/* Traffic arriving from outside the node: tc ingress of its external interface. NodePort and
 * externalIP translation, then the destination endpoint's ingress policy. */
SEC("tc")
int cil_from_netdev(struct __sk_buff *skb)
{
	return handle_netdev(skb);
}

char LICENSE[] SEC("license") = "GPL";
