#!/usr/bin/env bash
# Makes sure a ClamAV daemon (clamd) answers for the tests of the virus
# scanner adapter (internal/scan), and prints its addresses, comma-separated,
# in the form the --clamav setting takes:
#
#   export IMI_TEST_CLAMAV="$(./scripts/clamav.sh)"
#   # unix:///…/data/clamav/clamd.sock,tcp://127.0.0.1:3310
#
# Installs Debian's clamav-daemon when it is missing. No signature download is
# possible (nor wanted) here: the daemon gets a local database of one
# signature, made with sigtool, that detects the EICAR test file. It listens on
# a socket in the project's data folder (ignored by git) and on 127.0.0.1.
# Idempotent: a daemon that already answers is left as it is.
#
# Settings (environment):
#   IMI_CLAMAV_DIR   folder for the database, socket, pid and log
#                    (default: data/clamav in the repository)
#   IMI_CLAMAV_PORT  TCP port on 127.0.0.1 (default 3310)
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${IMI_CLAMAV_DIR:-$PWD/data/clamav}"
port="${IMI_CLAMAV_PORT:-3310}"
sock="$dir/clamd.sock"
say() { echo "clamav: $*" >&2; }

# ping answers whether clamd on the TCP port says PONG.
ping() {
  local reply=""
  { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
  printf 'zPING\0' >&3
  IFS= read -r -d '' -t 5 reply <&3 || true
  exec 3<&- 3>&-
  [ "$reply" = PONG ]
}

if ! command -v clamd >/dev/null 2>&1 || ! command -v sigtool >/dev/null 2>&1; then
  say "installing Debian's clamav-daemon"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq clamav-daemon clamav >&2
fi

if ! ping; then
  mkdir -p "$dir/db"
  # The EICAR test file, put together here so that no file of the repository
  # is itself a test virus.
  eicar='X5O!P%@AP[4\PZX54(P^)7CC)7}$'
  eicar+='EICAR-STANDARD-ANTIVIRUS-'
  eicar+='TEST-FILE!$H+H*'
  hex=$(printf '%s' "$eicar" | sigtool --hex-dump)
  # A body signature: name, any target type, at offset 0, these bytes.
  printf 'OpenIMI.Test.EICAR:0:0:%s\n' "$hex" >"$dir/db/eicar.ndb"
  cat >"$dir/clamd.conf" <<EOF
LocalSocket $sock
LocalSocketMode 660
FixStaleSocket yes
TCPSocket $port
TCPAddr 127.0.0.1
DatabaseDirectory $dir/db
PidFile $dir/clamd.pid
LogFile $dir/clamd.log
LogTime yes
Foreground no
Bytecode no
StreamMaxLength 64M
MaxScanSize 256M
MaxFileSize 64M
ReadTimeout 60
CommandReadTimeout 30
EOF
  # A daemon of an earlier run that no longer answers.
  if [ -f "$dir/clamd.pid" ] && kill -0 "$(cat "$dir/clamd.pid")" 2>/dev/null; then
    kill "$(cat "$dir/clamd.pid")" || true
    sleep 1
  fi
  say "starting clamd ($dir)"
  clamd --config-file="$dir/clamd.conf" >&2
  for _ in $(seq 1 60); do ping && break; sleep 0.5; done
  ping || { say "clamd does not answer; see $dir/clamd.log"; exit 1; }
fi
say "$(clamd --version)"
# A daemon started from another checkout answers on the port but has its
# socket elsewhere: then only the TCP address is ours to give.
if [ -S "$sock" ]; then
  echo "unix://$sock,tcp://127.0.0.1:$port"
else
  echo "tcp://127.0.0.1:$port"
fi
