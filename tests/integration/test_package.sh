#!/usr/bin/env bash
# The Debian package (cmake/Packaging.cmake, deploy/): builds the .deb with
# cpack into a temporary directory and checks, without installing anything on
# this host (dpkg -x into a temporary root, never dpkg -i):
#   - its name, contents (programs, units, examples, docs, the Alembic helper)
#     and nothing from the test tree;
#   - Depends: adduser, postgresql-client-15 and a package for every shared
#     library the programs need (dpkg-shlibdeps), Recommends python3-alembic;
#   - the maintainer scripts: users and directories, no service enabled or
#     started;
#   - the extracted programs run; the units pass systemd-analyze verify, alone
#     and with the sudoers drop-in, which must undo every option that forces
#     NoNewPrivileges=yes; the polkit rule allows exactly stop/start of the
#     listed unit to ebb-agent (on Duktape, polkitd's engine);
#   - the example configurations load with check-config: the shipped files
#     fail only for their missing keys, and pass with generated keys.
set -euo pipefail
: "${EBB_BIN_DIR:?}" "${EBB_SRC_DIR:?}"

fail() { echo "test_package: FAIL: $*" >&2; exit 1; }
trap 'echo "test_package: FAIL: line $LINENO exited $?" >&2' ERR
note() { echo "test_package: $*"; }

for tool in cpack dpkg-deb; do
  if ! command -v "$tool" >/dev/null; then
    note "SKIP: $tool not found (cmake / dpkg)"
    exit 0
  fi
done

T=$(mktemp -d /tmp/ebb-package.XXXXXX)
trap 'rm -rf "$T"' EXIT

VERSION=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$EBB_BIN_DIR/CMakeCache.txt")
[ -n "$VERSION" ] || fail "no CMAKE_PROJECT_VERSION in $EBB_BIN_DIR/CMakeCache.txt"
ARCH=$(dpkg --print-architecture)

# --- build
cpack -G DEB --config "$EBB_BIN_DIR/CPackConfig.cmake" -B "$T/out" >"$T/cpack.log" 2>&1 ||
  { cat "$T/cpack.log" >&2; fail "cpack -G DEB failed"; }
DEB="$T/out/ebb_${VERSION}_${ARCH}.deb"
[ -f "$DEB" ] || fail "no $DEB (got: $(ls "$T/out"))"

# --- contents
dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's#^\./#/#' >"$T/files"
expect_file() { grep -qx "$1" "$T/files" || fail "$1 is not in the package"; }
for f in /usr/bin/ebb /usr/bin/ebb-agent /usr/bin/ebb-coordinator \
         /usr/lib/systemd/system/ebb-agent.service \
         /usr/lib/systemd/system/ebb-coordinator.service \
         /usr/share/doc/ebb/README.md /usr/share/doc/ebb/deployment.md \
         /usr/share/doc/ebb/security.md \
         /usr/share/doc/ebb/examples/agent.conf /usr/share/doc/ebb/examples/coordinator.conf \
         /usr/share/doc/ebb/examples/app-example.service \
         /usr/share/doc/ebb/examples/polkit/50-ebb-agent.rules \
         /usr/share/doc/ebb/examples/sudoers/ebb-agent \
         /usr/share/doc/ebb/examples/sudoers/ebb-agent-sudo.conf; do
  expect_file "$f"
done
# The Alembic helper is installed where ebb_alembic_helper_path() looks.
if [ -f "$EBB_SRC_DIR/agent/alembic/ebb_alembic.py" ]; then
  expect_file /usr/share/ebb/ebb_alembic.py
fi
if grep -E '/(ebb-test-|unit_|integration_|bench_|fuzz_)|/etc/' "$T/files"; then
  fail "test programs or /etc files in the package"
fi
[ "$(dpkg-deb -f "$DEB" Package)" = ebb ] || fail "package name $(dpkg-deb -f "$DEB" Package)"
[ "$(dpkg-deb -f "$DEB" Version)" = "$VERSION" ] || fail "version $(dpkg-deb -f "$DEB" Version)"

# --- relationships
DEPENDS=$(dpkg-deb -f "$DEB" Depends)
# (No `grep -q` or awk `exit` at the end of a pipe: with pipefail, the writer's
# SIGPIPE would fail the pipeline at random.)
DEPNAMES=$(tr ',' '\n' <<<"$DEPENDS" | sed 's/^ *//; s/ .*//')
has_dep() { grep -qx "$1" <<<"$DEPNAMES"; }
for p in adduser postgresql-client-15 libc6; do
  has_dep "$p" || fail "Depends lacks $p: $DEPENDS"
done
RECOMMENDS=$(dpkg-deb -f "$DEB" Recommends)
grep -qw python3-alembic <<<"$RECOMMENDS" || fail "Recommends lacks python3-alembic: $RECOMMENDS"

mkdir "$T/root"
dpkg -x "$DEB" "$T/root"
# Every shared library a program needs comes from a package in Depends.
LDCACHE=$(ldconfig -p)
for prog in ebb ebb-agent ebb-coordinator; do
  for soname in $(readelf -d "$T/root/usr/bin/$prog" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
    path=$(awk -v s="$soname" '$1 == s && /x86-64/ && !p {print $NF; p = 1}' <<<"$LDCACHE")
    [ -n "$path" ] || path=$(awk -v s="$soname" '$1 == s && !p {print $NF; p = 1}' <<<"$LDCACHE")
    [ -n "$path" ] || fail "$prog needs $soname, which this host does not have"
    pkg=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$(readlink -f "$path")" 2>/dev/null ||
          dpkg -S "/usr$path" 2>/dev/null || dpkg -S "${path#/usr}" 2>/dev/null || true)
    pkg=${pkg%%:*}
    [ -n "$pkg" ] || fail "no package owns $path ($soname of $prog)"
    has_dep "$pkg" || fail "$prog needs $soname from $pkg, which Depends lacks: $DEPENDS"
  done
done

# --- maintainer scripts
dpkg-deb -e "$DEB" "$T/control"
for s in postinst prerm postrm; do
  [ -x "$T/control/$s" ] || fail "$s missing or not executable"
  sh -n "$T/control/$s" || fail "$s: syntax"
done
for u in ebb-agent ebb-coordinator; do
  grep -Eq "adduser --system .*$u\$|adduser --system .* $u$" "$T/control/postinst" ||
    grep -q -- "--gecos \"ebb ${u#ebb-}\" $u" "$T/control/postinst" ||
    fail "postinst does not create the system user $u"
done
for d in /etc/ebb /var/lib/ebb-agent /var/lib/ebb-coordinator /var/backups/ebb; do
  grep -Eq "mkdir_if_missing $d [a-z-]+ [a-z-]+ 0750" "$T/control/postinst" ||
    fail "postinst does not create $d with mode 0750"
done
if grep -Eq '^[[:space:]]*(systemctl|deb-systemd-invoke|invoke-rc.d)[[:space:]]+(start|enable|restart)' \
     "$T/control/postinst"; then
  fail "postinst enables or starts a service"
fi

# The postinst for real, twice (install, then upgrade), in a private mount
# namespace where /etc, /var/lib and /var/backups are copies: users, groups,
# owners and modes as docs/deployment.md lists them. With check-config, the
# agent's configuration laid out as the docs say is then checked as the
# ebb-agent user, so the permission model itself is tested.
if [ "$(id -u)" = 0 ] && unshare --mount --fork true 2>/dev/null; then
  NS="$T/ns"
  mkdir -p "$NS/etc" "$NS/varlib" "$NS/backups" "$NS/src"
  cp -a /etc/. "$NS/etc/"
  chmod 755 "$T"   # the extracted programs, for the ebb-agent user
  echo 'CREATE TABLE invoices (id bigint PRIMARY KEY);' >"$NS/src/1_invoices.up.sql"
  echo 'DROP TABLE invoices;' >"$NS/src/1_invoices.down.sql"
  chmod -R a+rX "$NS/src"
  cat >"$T/ns.sh" <<EOF
set -e
mount --make-rprivate /
mount --bind "$NS/etc" /etc
mount --bind "$NS/varlib" /var/lib
mount --bind "$NS/backups" /var/backups
sh "$T/control/postinst" configure
sh "$T/control/postinst" configure 0.0.1
id -nG ebb-agent; id -nG ebb-coordinator
getent passwd ebb-agent | cut -d: -f6,7
stat -c '%n %U:%G %a' /etc/ebb /var/lib/ebb-agent /var/lib/ebb-coordinator /var/backups/ebb
if grep -q check-config "$T/agent-help"; then
  "$T/root/usr/bin/ebb" keygen --out /etc/ebb/agent.key >/dev/null
  chown ebb-agent: /etc/ebb/agent.key
  "$T/root/usr/bin/ebb" keygen --out "$NS/coordinator.key" >/dev/null
  install -m 0644 "$NS/coordinator.key.pub" /etc/ebb/coordinator.key.pub
  sed -e "s#/srv/[a-z]*/migrations#$NS/src#" -e "s#/usr/local/bin/[a-z-]*#/bin/true#" \
      "$T/root/usr/share/doc/ebb/examples/agent.conf" >"$NS/agent.conf"
  install -m 0640 -g ebb-agent "$NS/agent.conf" /etc/ebb/agent.conf
  runuser -u ebb-agent -- "$T/root/usr/bin/ebb-agent" check-config --config /etc/ebb/agent.conf
fi
EOF
  unshare --mount --fork sh "$T/ns.sh" >"$T/ns.out" 2>&1 ||
    { cat "$T/ns.out" >&2; fail "postinst (or check-config as ebb-agent) in a private namespace"; }
  for line in "ebb-agent ebb" "ebb-coordinator ebb" "/var/lib/ebb-agent:/usr/sbin/nologin" \
              "/etc/ebb root:ebb 750" "/var/lib/ebb-agent ebb-agent:ebb-agent 750" \
              "/var/lib/ebb-coordinator ebb-coordinator:ebb-coordinator 750" \
              "/var/backups/ebb ebb-agent:ebb-agent 750"; do
    grep -qx "$line" "$T/ns.out" || { cat "$T/ns.out" >&2; fail "after postinst: no '$line'"; }
  done
  if grep -q check-config "$T/agent-help"; then
    grep -q '/etc/ebb/agent.conf: ok' "$T/ns.out" || { cat "$T/ns.out" >&2; fail "check-config as ebb-agent"; }
  fi
else
  note "not root or no unshare: postinst not run"
fi

# --- the extracted programs run
out=$("$T/root/usr/bin/ebb" --version) || fail "ebb --version failed"
[ "$out" = "ebb $VERSION" ] || fail "ebb --version: '$out'"
"$T/root/usr/bin/ebb-agent" --help >"$T/agent-help" || fail "ebb-agent --help failed"
grep -q 'Usage: ebb-agent' "$T/agent-help" || fail "ebb-agent --help: $(head -1 "$T/agent-help")"
"$T/root/usr/bin/ebb-coordinator" --help >"$T/coord-help" || fail "ebb-coordinator --help failed"

# --- units
UNITS="$T/root/usr/lib/systemd/system"
for u in ebb-agent ebb-coordinator; do
  grep -qx "ExecStart=/usr/bin/$u run --config /etc/ebb/${u#ebb-}.conf.*" "$UNITS/$u.service" ||
    fail "$u.service does not run /usr/bin/$u with /etc/ebb/${u#ebb-}.conf"
  for kv in "User=$u" "Group=$u" "StateDirectory=$u" ConfigurationDirectory=ebb \
            NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
            "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" SystemCallFilter=@system-service \
            MemoryDenyWriteExecute=yes Restart=on-failure; do
    grep -qx "$kv" "$UNITS/$u.service" || fail "$u.service lacks $kv"
  done
done
grep -Eqx 'ReadWritePaths=-?/var/backups/ebb' "$UNITS/ebb-agent.service" ||
  fail "ebb-agent.service cannot write /var/backups/ebb"
grep -qx 'KillMode=mixed' "$UNITS/ebb-agent.service" ||
  fail "ebb-agent.service: SIGTERM would also hit the running job's children"
# Under ProtectSystem=strict the daemons write only to their StateDirectory
# (and the agent to ReadWritePaths): the examples must keep state there.
EXAMPLES="$T/root/usr/share/doc/ebb/examples"
for key in replay_store job_journal; do
  grep -Eq "^[[:space:]]*$key = \"/var/lib/ebb-agent/[^\"/]+\";" "$EXAMPLES/agent.conf" ||
    fail "agent.conf: $key is not in /var/lib/ebb-agent (StateDirectory of ebb-agent.service)"
done
grep -Eo 'backup = \{ dir = "[^"]*"' "$EXAMPLES/agent.conf" | grep -v '"/var/backups/ebb/' &&
  fail "agent.conf: a backup dir outside /var/backups/ebb (ReadWritePaths of ebb-agent.service)"
grep -Eq '^[[:space:]]*journal_dir = "/var/lib/ebb-coordinator";' "$EXAMPLES/coordinator.conf" ||
  fail "coordinator.conf: journal_dir is not /var/lib/ebb-coordinator (StateDirectory)"

# The sudoers drop-in must undo every option that makes systemd force
# NoNewPrivileges=yes on a non-root service (systemd.exec(5)), or sudo fails.
DROPIN="$T/root/usr/share/doc/ebb/examples/sudoers/ebb-agent-sudo.conf"
grep -qx 'NoNewPrivileges=no' "$DROPIN" || fail "sudo drop-in keeps NoNewPrivileges"
for opt in DynamicUser LockPersonality MemoryDenyWriteExecute PrivateDevices ProtectClock \
           ProtectHostname ProtectKernelLogs ProtectKernelModules ProtectKernelTunables \
           RestrictAddressFamilies RestrictNamespaces RestrictRealtime RestrictSUIDSGID \
           SystemCallArchitectures SystemCallFilter SystemCallLog; do
  if grep -Eq "^$opt=" "$UNITS/ebb-agent.service" && ! grep -Eqx "$opt=(no)?" "$DROPIN"; then
    fail "sudo drop-in leaves $opt set, which forces NoNewPrivileges=yes"
  fi
done

if command -v systemd-analyze >/dev/null; then
  # Verified on this host's unit tree, with ExecStart pointing at the
  # extracted programs (verify checks that they can be run).
  mkdir -p "$T/units/ebb-agent.service.d"
  for u in ebb-agent ebb-coordinator; do
    sed "s#=/usr/bin/#=$T/root/usr/bin/#" "$UNITS/$u.service" >"$T/units/$u.service"
    systemd-analyze verify "$T/units/$u.service" >"$T/verify.log" 2>&1 ||
      { cat "$T/verify.log" >&2; fail "systemd-analyze verify $u.service"; }
    [ ! -s "$T/verify.log" ] || { cat "$T/verify.log" >&2; fail "systemd-analyze warns on $u.service"; }
  done
  cp "$DROPIN" "$T/units/ebb-agent.service.d/sudo.conf"
  systemd-analyze verify "$T/units/ebb-agent.service" >"$T/verify.log" 2>&1 ||
    { cat "$T/verify.log" >&2; fail "systemd-analyze verify with the sudo drop-in"; }
  [ ! -s "$T/verify.log" ] || { cat "$T/verify.log" >&2; fail "systemd-analyze warns on the sudo drop-in"; }
else
  note "systemd-analyze not found: units not verified"
fi

# --- polkit rule, on the JavaScript engine polkitd 122 embeds
JS=""
if command -v duk >/dev/null; then JS=duk
elif command -v node >/dev/null; then JS=node
fi
if [ -n "$JS" ]; then
  RULES="$T/root/usr/share/doc/ebb/examples/polkit/50-ebb-agent.rules"
  cat >"$T/polkit.js" <<'EOF'
var rules = [];
var polkit = { Result: { YES: "yes", NO: "no", NOT_HANDLED: null },
               addRule: function (f) { rules.push(f); } };
EOF
  cat "$RULES" >>"$T/polkit.js"
  cat >>"$T/polkit.js" <<'EOF'
var out = typeof print === "function" ? print : console.log;
function ask(user, id, unit, verb) {
    var action = { id: id, lookup: function (k) { return k === "unit" ? unit : k === "verb" ? verb : undefined; } };
    var r = rules[0](action, { user: user });
    out([user, id, unit, verb, r === null ? "not-handled" : r].join(" "));
}
var M = "org.freedesktop.systemd1.manage-units";
ask("ebb-agent", M, "orders-api.service", "stop");
ask("ebb-agent", M, "billing.service", "start");
ask("ebb-agent", M, "orders-api.service", "restart");
ask("ebb-agent", M, "ssh.service", "stop");
ask("ebb-agent", M, "orders-api", "stop");
ask("ebb-agent", "org.freedesktop.systemd1.manage-unit-files", "orders-api.service", "enable");
ask("ebb-agent", "org.freedesktop.login1.reboot", undefined, undefined);
ask("mallory", M, "orders-api.service", "stop");
EOF
  $JS "$T/polkit.js" >"$T/polkit.out" 2>&1 || { cat "$T/polkit.out" >&2; fail "polkit rule does not run on $JS"; }
  M=org.freedesktop.systemd1.manage-units
  expected="ebb-agent $M orders-api.service stop yes
ebb-agent $M billing.service start yes
ebb-agent $M orders-api.service restart no
ebb-agent $M ssh.service stop no
ebb-agent $M orders-api stop no
ebb-agent org.freedesktop.systemd1.manage-unit-files orders-api.service enable no
ebb-agent org.freedesktop.login1.reboot   not-handled
mallory $M orders-api.service stop not-handled"
  if [ "$(cat "$T/polkit.out")" != "$expected" ]; then
    diff <(echo "$expected") "$T/polkit.out" >&2 || true
    fail "polkit rule decisions"
  fi
else
  note "neither duk nor node found: polkit rule not exercised"
fi

# --- example configurations
EBB="$T/root/usr/bin/ebb"
EX="$T/root/usr/share/doc/ebb/examples"
if grep -q 'check-config' "$T/agent-help"; then
  # As shipped: refused for the pinned coordinator key / agent key that do not
  # exist yet, and for nothing else.
  rc=0
  "$T/root/usr/bin/ebb-agent" check-config --config "$EX/agent.conf" >"$T/cc.out" 2>&1 || rc=$?
  [ "$rc" = 3 ] || { cat "$T/cc.out" >&2; fail "check-config of the shipped agent.conf: exit $rc"; }
  grep -Eq '(public_key_file|key_file): .*/etc/ebb/(coordinator\.key\.pub|agent\.key)' "$T/cc.out" ||
    { cat "$T/cc.out" >&2; fail "shipped agent.conf refused for another reason than its missing keys"; }
  # With keys generated as docs/deployment.md says, and the host paths moved
  # into the temporary directory (the site's own health-check program
  # replaced by /bin/true): accepted.
  A="$T/agent"
  mkdir -p "$A/etc" "$A/state" "$A/backups" "$A/migrations"
  "$EBB" keygen --out "$A/etc/agent.key" >/dev/null
  "$EBB" keygen --out "$A/coordinator.key" >/dev/null
  cp "$A/coordinator.key.pub" "$A/etc/coordinator.key.pub"
  echo 'CREATE TABLE invoices (id bigint PRIMARY KEY);' >"$A/migrations/1_invoices.up.sql"
  echo 'DROP TABLE invoices;' >"$A/migrations/1_invoices.down.sql"
  sed -e "s#/etc/ebb/#$A/etc/#g; s#/var/lib/ebb-agent/#$A/state/#g" \
      -e "s#/var/backups/ebb/#$A/backups/#g; s#/srv/[a-z]*/migrations#$A/migrations#g" \
      -e "s#/usr/local/bin/[a-z-]*#/bin/true#g" \
      "$EX/agent.conf" >"$A/etc/agent.conf"
  "$T/root/usr/bin/ebb-agent" check-config --config "$A/etc/agent.conf" >"$T/cc.out" 2>&1 ||
    { cat "$T/cc.out" >&2; fail "check-config of agent.conf with generated keys"; }
else
  note "this ebb-agent has no check-config yet: agent.conf not loaded"
fi
if grep -q 'check-config' "$T/coord-help"; then
  C="$T/coord"
  mkdir -p "$C/etc/operators" "$C/state"
  "$EBB" keygen --out "$C/etc/coordinator.key" >/dev/null
  for op in alice bob; do "$EBB" keygen --out "$C/etc/operators/$op.key" >/dev/null; done
  sed -e "s#/etc/ebb/#$C/etc/#g; s#/var/lib/ebb-coordinator#$C/state#g" \
      "$EX/coordinator.conf" >"$C/etc/coordinator.conf"
  "$T/root/usr/bin/ebb-coordinator" check-config --config "$C/etc/coordinator.conf" \
      >"$T/cc.out" 2>&1 || { cat "$T/cc.out" >&2; fail "check-config of coordinator.conf"; }
else
  note "this ebb-coordinator has no check-config yet: coordinator.conf not loaded"
fi

note "ok ($(basename "$DEB"), $(wc -l <"$T/files") entries)"
