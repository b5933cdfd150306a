#!/usr/bin/env bash
# ssh_closefrom.sh: OpenSSH's client closes every fd above 2 as it starts (closefrom), and for a
# ProxyCommand forks a child that closes them again before it execs the command. Under weftrun it
# must end as natively (status 255: the proxy, `true`, closes the connection at once) on one and
# on two carriers, where it used to hang with the runtime's fds gone. Skips (77) without ssh.
# Usage: ssh_closefrom.sh WEFTRUN DIFFERENTIAL_SH
set -uo pipefail
weftrun=$1 differential=$2
if ! ssh=$(command -v ssh); then
  echo "SKIP: ssh is not installed"
  exit 77
fi
args=(-F /dev/null -o BatchMode=yes -o ProxyCommand=true -o UserKnownHostsFile=/dev/null
      nohost true)
# timeout(1) bounds a hang (status 124, which the native run never has).
bash "$differential" "$weftrun" --carriers 1 -- timeout 30 "$ssh" "${args[@]}" &&
  bash "$differential" "$weftrun" --carriers 2 -- timeout 30 "$ssh" "${args[@]}"
