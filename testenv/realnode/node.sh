# The real node of scripts/testenv (sourced by it): kubelet with containerd and runc
# (cgroupfs), a CNI bridge network whose Pod IPs route from the host, kube-proxy for Service
# IPs, CoreDNS for Service names, and images built here (nothing is pulled). It joins the
# control plane as `realnode-0`, tainted `flinkops.io/real-node=true:NoSchedule` and labelled
# `flinkops.io/real-node=true`: only Pods that ask for it land there; everything else keeps
# running on the KWOK node. Linux, root, one real node per machine (the bridge, iptables
# rules and cgroups it makes are the host's).

NODE_NAME=realnode-0
POD_CIDR=10.244.0.0/24
POD_GATEWAY=10.244.0.1
BRIDGE=fo0
DNS_IP=10.96.0.10
COREDNS_VERSION=1.15.0
CRICTL_VERSION=1.34.0
DEBIAN_SUITE=bookworm
node_bin=$cache/kubernetes-node-v$K8S_VERSION/bin
coredns_bin=$cache/coredns-v$COREDNS_VERSION/bin
crictl_bin=$cache/cri-tools-v$CRICTL_VERSION/bin
realnode_src=$root/testenv/realnode
# Who holds the machine's one real node (a testenv state directory).
realnode_owner=/run/flinkops-realnode.owner

# Whether this run has a real node: on unless FLINKOPS_REALNODE=0, which CI refuses.
realnode_enabled() {
  if [ "${FLINKOPS_REALNODE:-1}" = 0 ]; then
    [ "${CI:-}" = true ] && die "FLINKOPS_REALNODE=0 under CI=true: the real-node tests must run in CI"
    return 1
  fi
  return 0
}

realnode_check_machine() {
  [ "$(uname -s)" = Linux ] || die "the real node needs Linux (set FLINKOPS_REALNODE=0 to run without it)"
  [ "$(id -u)" = 0 ] || die "the real node needs root: it runs containerd, mounts and iptables (set FLINKOPS_REALNODE=0 to run without it)"
  local missing=()
  for t in containerd containerd-shim-runc-v2 runc umoci debootstrap iptables ip gcc; do
    command -v "$t" >/dev/null || missing+=("$t")
  done
  [ -x /usr/lib/cni/bridge ] || missing+=("CNI plugins (/usr/lib/cni)")
  [ -f /usr/lib/x86_64-linux-gnu/libc.a ] || [ -n "$(ls /usr/lib/*/libc.a 2>/dev/null)" ] || missing+=("static libc")
  [ ${#missing[@]} -eq 0 ] || die "the real node needs: ${missing[*]} (Debian: apt-get install containerd runc containernetworking-plugins umoci debootstrap iptables iproute2 gcc libc6-dev; .ci/run installs them)"
}

build_realnode() {
  realnode_check_machine
  # The kubelet reports its version to the apiserver; without it: v0.0.0-master.
  GO_LDFLAGS="-X k8s.io/component-base/version.gitVersion=v$K8S_VERSION" \
    go_build "kubelet and kube-proxy v$K8S_VERSION" "$node_bin" "$(kubernetes_module kubernetes-node)" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
  go_build "coredns v$COREDNS_VERSION" "$coredns_bin" "module flinkops.local/coredns
go 1.24.0
require github.com/coredns/coredns v$COREDNS_VERSION" github.com/coredns/coredns
  go_build "crictl v$CRICTL_VERSION" "$crictl_bin" "module flinkops.local/crictl
go 1.24.0
require sigs.k8s.io/cri-tools v$CRICTL_VERSION" sigs.k8s.io/cri-tools/cmd/crictl
  build_jre_rootfs
  build_images
}

# Debian's JRE as a root filesystem (the base of the Flink image).
jre_rootfs=$cache/jre-$DEBIAN_SUITE/rootfs
build_jre_rootfs() {
  [ -f "$cache/jre-$DEBIAN_SUITE/.complete" ] && return 0
  log "building a Debian $DEBIAN_SUITE root filesystem with Java 17 (first run; cached in $cache/jre-$DEBIAN_SUITE)"
  rm -rf "$cache/jre-$DEBIAN_SUITE" && mkdir -p "$cache/jre-$DEBIAN_SUITE"
  debootstrap --variant=minbase --include=openjdk-17-jre-headless,bash,procps,gettext-base \
    "$DEBIAN_SUITE" "$jre_rootfs" "${FLINKOPS_DEBIAN_MIRROR:-http://deb.debian.org/debian}" \
    >"$cache/jre-$DEBIAN_SUITE/debootstrap.log" 2>&1 \
    || { tail -20 "$cache/jre-$DEBIAN_SUITE/debootstrap.log" >&2; die "debootstrap failed"; }
  # Package caches and docs are not needed in an image.
  rm -rf "$jre_rootfs"/var/cache/apt/archives/*.deb "$jre_rootfs"/usr/share/doc "$jre_rootfs"/usr/share/man
  touch "$cache/jre-$DEBIAN_SUITE/.complete"
}

# OCI image layouts, one per image name, each tagged: pause:1, flink:$FLINK_VERSION (Flink
# from the wheel on the JRE, the entrypoint above) and flink:$FLINK_VERSION-counter (plus the
# test job in /opt/flink/usrlib, as a user's image adds its job to the official one).
# Cached by a hash of what goes in.
build_images() {
  local hash
  hash=$(cat "$realnode_src/pause.c" "$realnode_src/flink-entrypoint.sh" "$realnode_src/build-images" "$test_jar" \
    <(echo "$FLINK_VERSION $DEBIAN_SUITE") | sha256sum | cut -c1-16)
  images=$cache/images-$hash
  [ -f "$images/.complete" ] && return 0
  log "building the real node's images (first run, or their sources changed; cached in $images)"
  rm -rf "$cache"/images-* && mkdir -p "$images"
  "$realnode_src/build-images" "$images" "$jre_rootfs" "$flink_home" "$FLINK_VERSION" "$test_jar" \
    >"$images/build.log" 2>&1 || { tail -20 "$images/build.log" >&2; die "building the images failed"; }
  touch "$images/.complete"
}

host_ip() {
  ip -4 route get 1.1.1.1 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "src") { print $(i + 1); exit } }'
}

up_realnode() {
  local t0=$SECONDS rn=$state/realnode kc=$state/admin.kubeconfig
  local holder
  holder=$(cat "$realnode_owner" 2>/dev/null || true)
  if [ -n "$holder" ] && [ "$holder" != "$state" ] && [ -f "$holder/pids/kubelet" ] \
    && kill -0 "$(cat "$holder/pids/kubelet")" 2>/dev/null; then
    die "this machine's real node is held by $holder (run scripts/testenv down there)"
  fi
  echo "$state" >"$realnode_owner"
  mkdir -p "$rn"/{cni,ipam,kubelet,manifests,containerd}
  local sock=$rn/containerd/containerd.sock
  cat >"$rn/containerd.toml" <<TOML
version = 2
root = "$rn/containerd/root"
state = "$rn/containerd/state"
[grpc]
  address = "$sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "flinkops.local/pause:1"
  # The kubelet asks for oom_score_adj -998 for sandboxes, which needs CAP_SYS_RESOURCE:
  # clamp to what this process may set.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$rn/cni"
TOML
  cat >"$rn/cni/10-flinkops.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "flinkops",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY"}]],
              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$rn/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
JSON
  start containerd containerd --config "$rn/containerd.toml"
  wait_for containerd 30 ctr -a "$sock" version || die "containerd did not start"
  local ctr=(ctr -a "$sock" -n k8s.io)
  "${ctr[@]}" images import --base-name flinkops.local/pause "$images/pause.tar" >/dev/null \
    || die "importing the pause image failed"
  "${ctr[@]}" images import --base-name flinkops.local/flink "$images/flink.tar" >/dev/null \
    || die "importing the Flink image failed"

  local kubelet_port proxy_health proxy_metrics dns_port
  kubelet_port=$(free_port); proxy_health=$(free_port); proxy_metrics=$(free_port); dns_port=$(free_port)
  cat >"$rn/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failSwapOn: false
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
address: 0.0.0.0
port: $kubelet_port
readOnlyPort: 0
healthzPort: 0
clusterDNS: [$DNS_IP]
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
containerRuntimeEndpoint: unix://$sock
imageServiceEndpoint: unix://$sock
serializeImagePulls: false
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
enforceNodeAllocatable: []
cgroupsPerQOS: true
localStorageCapacityIsolation: false
protectKernelDefaults: false
registerNode: true
registerWithTaints: [{key: flinkops.io/real-node, value: "true", effect: NoSchedule}]
podCIDR: $POD_CIDR
maxPods: 50
staticPodPath: $rn/manifests
YAML
  start kubelet "$node_bin/kubelet" --config "$rn/kubelet.yaml" --kubeconfig "$kc" \
    --root-dir "$rn/kubelet" --hostname-override "$NODE_NAME" --node-ip "$node_ip" \
    --node-labels flinkops.io/real-node=true
  cat >"$rn/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $kc}
hostnameOverride: $NODE_NAME
clusterCIDR: 10.244.0.0/16
healthzBindAddress: 127.0.0.1:$proxy_health
metricsBindAddress: 127.0.0.1:$proxy_metrics
YAML
  start kube-proxy "$node_bin/kube-proxy" --config "$rn/kube-proxy.yaml"
  # CoreDNS on the host, behind the kube-dns Service (no selector: its endpoint is the host).
  cat >"$rn/Corefile" <<COREFILE
.:$dns_port {
    errors
    log
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $kc
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    forward . /etc/resolv.conf
    cache 5
}
COREFILE
  start coredns "$coredns_bin/coredns" -conf "$rn/Corefile"
  "$k8s_bin/kubectl" --kubeconfig "$kc" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $DNS_IP
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: $dns_port}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: $dns_port}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-host
  namespace: kube-system
  labels: {kubernetes.io/service-name: kube-dns, endpointslice.kubernetes.io/managed-by: flinkops-testenv}
addressType: IPv4
endpoints: [{addresses: ["$node_ip"]}]
ports:
- {name: dns, port: $dns_port, protocol: UDP}
- {name: dns-tcp, port: $dns_port, protocol: TCP}
YAML
  wait_for kubelet 90 bash -c "'$k8s_bin/kubectl' --kubeconfig '$kc' get node $NODE_NAME -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -q True" \
    || die "the real node did not become Ready"
  wait_for coredns 30 bash -c "exec 3<>/dev/tcp/$node_ip/$dns_port" || die "CoreDNS did not start"
  wait_for kube-proxy 30 curl -sf "http://127.0.0.1:$proxy_health/healthz" || die "kube-proxy did not start"
  cat >>"$state/env" <<ENV
export FLINKOPS_REALNODE_NODE=$NODE_NAME
export FLINKOPS_REALNODE_FLINK_IMAGE=flinkops.local/flink:$FLINK_VERSION
export FLINKOPS_REALNODE_JOB_IMAGE=flinkops.local/flink:$FLINK_VERSION-counter
export FLINKOPS_REALNODE_CONTAINERD=$sock
export FLINKOPS_CRICTL=$crictl_bin/crictl
export FLINKOPS_REALNODE_HOST_IP=$node_ip
export FLINKOPS_REALNODE_DNS_LOG=$state/logs/coredns.log
ENV
  log "real node $NODE_NAME up in $((SECONDS - t0)) s (Pods on $POD_CIDR, Services by DNS at $DNS_IP)"
}

# Tears down everything the real node made, in the order that leaves nothing behind: Pods
# through the CRI first (their network namespaces, veths and CNI rules go with CNI DEL), then
# the processes, the Service rules, mounts, the bridge and cgroups.
down_realnode() {
  local rn=$state/realnode
  [ -d "$rn" ] || return 0
  # Every step is best effort (a grep that finds nothing is fine): go on past failures.
  set +e
  local sock=$rn/containerd/containerd.sock
  if [ -S "$sock" ] && [ -x "$crictl_bin/crictl" ]; then
    local cri=("$crictl_bin/crictl" --runtime-endpoint "unix://$sock" --timeout 20s)
    # The kubelet would restart what is removed under it.
    stop_within 10 kubelet
    "${cri[@]}" stopp $("${cri[@]}" pods -q 2>/dev/null) >/dev/null 2>&1 || true
    "${cri[@]}" rmp -af >/dev/null 2>&1 || true
  fi
  stop_within 10 kubelet kube-proxy coredns containerd
  [ -x "$node_bin/kube-proxy" ] && "$node_bin/kube-proxy" --cleanup >/dev/null 2>&1 || true
  # What --cleanup leaves (and the CNI's per-Pod chains, were a CNI DEL missed).
  for table in filter nat mangle; do
    local chains
    chains=$(iptables -t "$table" -S 2>/dev/null | awk '/^-N (KUBE-|CNI-)/ { print $2 }')
    [ -n "$chains" ] || continue
    iptables -t "$table" -S | grep -E -- '-j (KUBE-|CNI-)' | sed 's/^-A/-D/' \
      | while read -r rule; do eval "iptables -t $table $rule" 2>/dev/null || true; done
    for c in $chains; do iptables -t "$table" -F "$c" 2>/dev/null || true; done
    for c in $chains; do iptables -t "$table" -X "$c" 2>/dev/null || true; done
  done
  # Deepest first.
  grep -F " $rn/" /proc/mounts | awk '{ print $2 }' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  for ns in $(ip netns list 2>/dev/null | awk '/^cni-/ { print $1 }'); do ip netns delete "$ns" 2>/dev/null || true; done
  ip link delete "$BRIDGE" 2>/dev/null || true
  for hier in /sys/fs/cgroup/*/; do
    for top in kubepods k8s.io; do
      [ -d "$hier$top" ] && find "$hier$top" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
  done
  # The images and snapshots are the bulk of it (GBs); the logs stay.
  rm -rf "$rn/containerd" "$rn/kubelet" "$rn/ipam"
  [ -f "$realnode_owner" ] && [ "$(cat "$realnode_owner")" = "$state" ] && rm -f "$realnode_owner"
  set -e
  return 0
}

# flinkops' own image (flinkops.local/flinkops:testenv) from a release build of this
# checkout, imported into the running real node. The release build has its own target
# directory under the cache, so a warm run rebuilds only what changed.
flinkops_image() {
  [ -f "$state/env" ] && [ -d "$state/realnode" ] || die "the test environment with its real node is not up (scripts/testenv up)"
  local bin=${FLINKOPS_RELEASE_BINARY:-}
  if [ -z "$bin" ]; then
    log "building flinkops (release) for its image"
    (cd "$root" && CARGO_TARGET_DIR=$cache/release-target cargo build --quiet --release --locked --bin flinkops) \
      || die "the release build of flinkops failed"
    bin=$cache/release-target/release/flinkops
  fi
  local tar=$state/realnode/flinkops-image.tar
  "$realnode_src/build-flinkops-image" "$bin" "$tar" testenv >"$state/logs/flinkops-image.log" 2>&1 \
    || { tail -20 "$state/logs/flinkops-image.log" >&2; die "building flinkops' image failed"; }
  ctr -a "$state/realnode/containerd/containerd.sock" -n k8s.io images import \
    --base-name flinkops.local/flinkops "$tar" >/dev/null || die "importing flinkops' image failed"
  rm -f "$tar"
  grep -q FLINKOPS_REALNODE_FLINKOPS_IMAGE "$state/env" \
    || echo "export FLINKOPS_REALNODE_FLINKOPS_IMAGE=flinkops.local/flinkops:testenv" >>"$state/env"
  log "flinkops.local/flinkops:testenv imported from $bin"
}
