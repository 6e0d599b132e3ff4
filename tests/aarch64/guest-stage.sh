#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
# In the arm64 guest, in place of tests/guest/host-stage.sh, and sourced the same way: by
# init.sh with sdmdev and softzip loaded and 24 mdevs granted to uid $WD_UID, and by
# uacce-stage.sh with HS=uacce, uacce_softzip loaded (24 queues) and /dev/$U granted to that
# user. Runs the aarch64 wheel (/site) in Debian's arm64 Python (unpacked at the initramfs'
# root) on the backend $HS (default vfio), as that ordinary user at the default locked-memory
# limit. The x86 stage's host programs (strace, the Rust examples and the soak over 9p) are
# x86 binaries and are not run here. Uses init.sh's ok, fail and as_user.
HS=${HS:-vfio}

echo "=== the aarch64 wheel on the $HS backend ==="
PYENV="WARPDRIVE_DEVICE=$HS PYTHONPATH=/site HOME=/tmp TMPDIR=/tmp"
PY=/usr/bin/python3.11
# the queue the wheel opens is one of $HS (WARPDRIVE_DEVICE allows nothing else: say so
# from the queue itself)
as_user "$PYENV $PY -c 'import platform, warpdrive; q = warpdrive.open_queue(\"compress\"); print(platform.machine(), q.kind, q.device)'" \
	> /tmp/pykind.log 2>&1
kind=$(cat /tmp/pykind.log)
case "$kind" in
"aarch64 $HS "*) ok "the wheel's queue on arm64: $kind" ;;
*) fail "the wheel's queue: want aarch64 $HS, got '$kind'" ;;
esac
if as_user "$PYENV $PY /smoke.py" > /tmp/smoke.log 2>&1; then
	echo "$HS backend (uid $WD_UID, memlock $((MEMLOCK_KB / 1024)) MiB): $(tail -n 1 /tmp/smoke.log)"
else
	cat /tmp/smoke.log
	fail "aarch64 smoke test on the $HS backend"
fi
unset HS
