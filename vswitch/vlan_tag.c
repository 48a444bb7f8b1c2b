/* vlan_tag.c — a Linux host on a VLAN trunk without the 8021q module: tc
 * BPF programs (direct action, on the host's clsact qdisc) push tag VID on
 * every frame it sends and pop the tag of every frame it receives, with the
 * kernel's own bpf_skb_vlan_push/pop helpers.  Built by netlab.Lab.vlan_host
 * with `clang -target bpf -DVID=N`; no headers, so the helpers are called by
 * their numbers (include/uapi/linux/bpf.h). */
#define TC_ACT_OK 0
#define ETH_P_8021Q_BE 0x0081   /* htons(0x8100) on a little-endian host */

static long (*skb_vlan_push)(void *skb, unsigned short proto, unsigned short tci) = (void *)18;
static long (*skb_vlan_pop)(void *skb) = (void *)19;

__attribute__((section("egress"), used)) int tag(void *skb) {
    skb_vlan_push(skb, ETH_P_8021Q_BE, VID);
    return TC_ACT_OK;
}

/* the receive path has already moved the tag into the skb's metadata */
__attribute__((section("ingress"), used)) int untag(void *skb) {
    skb_vlan_pop(skb);
    return TC_ACT_OK;
}

__attribute__((section("license"), used)) char _license[] = "GPL";
