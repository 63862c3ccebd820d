# Network namespaces for multi-host tests (sourced, not run): one namespace
# per host and one for the coordinator, each host joined to the coordinator's
# namespace by a veth pair whose coordinator end is a port of a bridge there.
# Nothing is routed to the root namespace or anywhere else: the only traffic
# targets are loopback and these namespaces.
#
#   netns_require                 exit 77 ("SKIP: ...") when namespaces cannot be made
#   netns_setup N                 namespaces, links and addresses for hosts 1..N
#   ns_exec NS CMD...             run CMD inside NS ($NETNS_COORD or $(ns_host I))
#   cut I / heal I                take host I's link down / up (both ends)
#   cut_all / heal_all            every host's link
#   netns_on_exit FUNC            run FUNC at exit, before the namespaces go
#
# Names are ebbt-<pid>-coord and ebbt-<pid>-h<I> (pid of the sourcing shell),
# so parallel runs never share one; the addresses are 10.<X>.0.0/16 with X
# derived from the pid (cosmetic: every run has its own network stack).
# Everything created is deleted by the EXIT trap, also on failure; a run that
# was SIGKILLed leaves namespaces behind, which the next run removes when
# their pid is gone.

NETNS_PREFIX="ebbt-$$"
NETNS_COORD="$NETNS_PREFIX-coord"
NETNS_NET="10.$((20 + $$ % 200))"
NETNS_COORD_IP="$NETNS_NET.0.1"
NETNS_HOSTS=0
NETNS_CREATED=()
NETNS_EXIT_HOOKS=()
NETNS_SKIP_RC=77 # ctest SKIP_RETURN_CODE (tests/CMakeLists.txt)

netns_skip() {
  echo "SKIP: network namespaces unavailable: $*"
  exit "$NETNS_SKIP_RC"
}

# netns_require: the capability check. Exits 77 with the reason when this
# process cannot create namespaces, veth pairs and a bridge.
netns_require() {
  command -v ip >/dev/null 2>&1 || netns_skip "no 'ip' command (iproute2)"
  local probe="$NETNS_PREFIX-probe" out
  # No uid test: what counts is CAP_SYS_ADMIN and CAP_NET_ADMIN, which only trying shows.
  if ! out=$(ip netns add "$probe" 2>&1); then
    netns_skip "ip netns add failed (uid $(id -u); needs CAP_SYS_ADMIN and CAP_NET_ADMIN): $out"
  fi
  if ! out=$(ip -n "$probe" link add p0 type veth peer name p1 2>&1 &&
    ip -n "$probe" link add b0 type bridge 2>&1); then
    ip netns del "$probe" 2>/dev/null
    netns_skip "veth or bridge links cannot be created: $out"
  fi
  ip netns del "$probe"
}

# Namespaces of earlier runs whose process is gone (killed before their trap ran).
netns_sweep_stale() {
  local ns pid
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^ebbt-[0-9]*-' || true); do
    pid=${ns#ebbt-}
    pid=${pid%%-*}
    [ -d "/proc/$pid" ] || ip netns del "$ns" 2>/dev/null || true
  done
}

ns_host() { echo "$NETNS_PREFIX-h$1"; }
ns_host_ip() { echo "$NETNS_NET.0.$((10 + $1))"; }

ns_exec() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}

netns_add() {
  ip netns add "$1"
  NETNS_CREATED+=("$1")
  ip -n "$1" link set lo up
}

# netns_setup N: the coordinator namespace with bridge br0 ($NETNS_COORD_IP/16)
# and N host namespaces, host I with eth0 ($(ns_host_ip I)/16) whose peer vh<I>
# is a port of br0.
netns_setup() {
  local n=$1 i ns
  netns_sweep_stale
  netns_add "$NETNS_COORD"
  # No STP and no forwarding delay: a port that comes back up forwards at once.
  ip -n "$NETNS_COORD" link add br0 type bridge stp_state 0 forward_delay 0
  ip -n "$NETNS_COORD" addr add "$NETNS_COORD_IP/16" dev br0
  ip -n "$NETNS_COORD" link set br0 up
  for i in $(seq 1 "$n"); do
    ns=$(ns_host "$i")
    netns_add "$ns"
    # Both ends are created inside their namespaces: no name ever exists in the root one.
    ip link add eth0 netns "$ns" type veth peer name "vh$i" netns "$NETNS_COORD"
    ip -n "$NETNS_COORD" link set "vh$i" master br0
    ip -n "$ns" addr add "$(ns_host_ip "$i")/16" dev eth0
    ip -n "$NETNS_COORD" link set "vh$i" up
    ip -n "$ns" link set eth0 up
  done
  NETNS_HOSTS=$n
}

# cut I: host I loses its link, at both ends (as a pulled cable seen by both).
cut() {
  ip -n "$NETNS_COORD" link set "vh$1" down
  ip -n "$(ns_host "$1")" link set eth0 down
}

heal() {
  ip -n "$(ns_host "$1")" link set eth0 up
  ip -n "$NETNS_COORD" link set "vh$1" up
}

cut_all() {
  local i
  for i in $(seq 1 "$NETNS_HOSTS"); do cut "$i"; done
}

heal_all() {
  local i
  for i in $(seq 1 "$NETNS_HOSTS"); do heal "$i"; done
}

# link_up I: "true" when both ends of host I's link are up.
link_up() {
  ip -n "$NETNS_COORD" -o link show "vh$1" | grep -q '[<,]UP[,>]' &&
    ip -n "$(ns_host "$1")" -o link show eth0 | grep -q '[<,]UP[,>]'
}

netns_on_exit() { NETNS_EXIT_HOOKS+=("$1"); }

# Processes still inside our namespaces (all started by this test), then the
# namespaces; deleting a namespace deletes its veth ends and bridge.
netns_teardown() {
  local ns pid
  for ns in "${NETNS_CREATED[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  done
  for ns in "${NETNS_CREATED[@]}"; do
    ip netns del "$ns" 2>/dev/null || echo "warning: could not delete namespace $ns" >&2
  done
  NETNS_CREATED=()
}

netns_exit_trap() {
  local rc=$? hook
  set +e
  for hook in "${NETNS_EXIT_HOOKS[@]}"; do "$hook" "$rc"; done
  netns_teardown
  exit "$rc"
}
trap netns_exit_trap EXIT
# A signal ends the script through the EXIT trap, so the namespaces go too.
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP
