#!/bin/bash
# Static checks of the installed systemd units: `systemd-analyze verify` (any
# output on stderr is a failure: it prints warnings with exit status 0) and
# `systemd-analyze security --offline=true` with an exposure threshold.
#
# usage: systemd_check.sh DESTDIR PREFIX [THRESHOLD]
#   DESTDIR    the tree `DESTDIR=... cmake --install` wrote
#   PREFIX     the CMAKE_INSTALL_PREFIX it was configured with (e.g. /usr/local)
#   THRESHOLD  exposure x10 above which the security check fails (default 20)
#
# The units name their binaries by their installed paths, and verify checks that
# those exist, so the install tree is bind-mounted onto PREFIX in a private mount
# namespace: this needs root (unshare), and changes nothing outside it.
set -euo pipefail

if [ $# -lt 2 ]; then
        echo "usage: $0 DESTDIR PREFIX [THRESHOLD]" >&2
        exit 2
fi
destdir=$(realpath "$1")
prefix=$2
threshold=${3:-20}

if [ -z "${LW_CHECK_INSIDE:-}" ]; then
        if [ ! -d "$destdir$prefix" ]; then
                echo "systemd_check: $destdir$prefix does not exist" >&2
                exit 1
        fi
        # The prefix is the mount point, so it must exist here (it does for /usr/local).
        if [ ! -d "$prefix" ]; then
                echo "systemd_check: $prefix does not exist here to mount the tree on" >&2
                exit 1
        fi
        exec env LW_CHECK_INSIDE=1 unshare --mount --propagation private "$0" "$@"
fi

mount --bind "$destdir$prefix" "$prefix"
unitdir=$prefix/lib/systemd/system
units=("$unitdir/lockwatchd.service" "$unitdir/lockwatchd.socket")
status=0

# Without man(1) (a minimal root), verify cannot look up man: links and says so on
# stderr: check them only where man is installed.
man_opt=()
command -v man >/dev/null 2>&1 || man_opt=(--man=no)
err=$(systemd-analyze verify "${man_opt[@]}" "${units[@]}" 2>&1 >/dev/null) || status=1
if [ -n "$err" ] || [ $status -ne 0 ]; then
        echo "FAIL verify (exit $status):" >&2
        printf '%s\n' "$err" >&2
        exit 1
fi
echo "verify: OK (${units[*]##*/})"

out=$(systemd-analyze security --offline=true --threshold="$threshold" --no-pager \
        "$unitdir/lockwatchd.service" 2>&1) || status=$?
score=$(printf '%s\n' "$out" | grep 'Overall exposure level' || true)
echo "security: ${score:-no score line}"
if [ $status -ne 0 ] || [ -z "$score" ]; then
        echo "FAIL security (exit $status, threshold $threshold):" >&2
        printf '%s\n' "$out" >&2
        exit 1
fi
