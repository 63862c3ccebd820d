#!/usr/bin/env bash
# Installs every build, test and demo dependency of ebb from Debian 12's
# packages. Idempotent and non-interactive; safe to run on every CI run.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config git
  protobuf-c-compiler libprotobuf-c-dev
  libnng-dev libsodium-dev libpq-dev libpg-query-dev
  libconfig-dev libjansson-dev libpcre2-dev
  # tests
  libcmocka-dev postgresql-15 postgresql-client-15 iproute2 procps jq
  # packaging (cpack -G DEB: dpkg-shlibdeps) and its test (duk: the
  # JavaScript engine polkitd runs the deploy/polkit rule on)
  dpkg-dev duktape
  # migration tools ebb drives or is compared with
  alembic python3-sqlalchemy python3-psycopg2 sqitch libdbd-pg-perl
)

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
# The postgresql package may start a default cluster; tests run their own
# throwaway clusters on private ports and do not need it.
echo "install-deps: done"
