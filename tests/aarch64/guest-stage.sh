#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
# In the arm64 guest, in place of tests/guest/host-stage.sh, and sourced the same way: by
# init.sh with sdmdev and softzip loaded and 24 mdevs granted to uid $WD_UID, and by
# uacce-stage.sh with HS=uacce, uacce_softzip loaded (24 queues) and /dev/$U granted to that
# user. Runs the aarch64 wheel (/site) in Debian's arm64 Python (unpacked at the initramfs'
# root) on the backend $HS (default vfio), as that ordinary user at the default locked-memory
# limit. With ARM64_PYTEST=1 (tests/aarch64/guest) it also runs the Python suite
# (tests/python) there, as the x86 stage does. The x86 stage's host programs (strace, the
# Rust examples and the soak over 9p) are x86 binaries and are not run here. Uses init.sh's
# ok, fail and as_user, PY_ON, PY_ARGS and PY_LIMIT of /guest.conf, and the Python suite's
# run that the x86 stage uses too, pytest_suite and pytest_options of /pytest-suite.sh
# (tests/guest/pytest-suite.sh).
HS=${HS:-vfio}
. /pytest-suite.sh

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

# The Python suite, when the guest was built with ARM64_PYTEST=1: the wheel installed in
# /venv with the suite's packages (tests/aarch64/pyvenv.py), the suite and the files it
# reads in /repo, Debian's arm64 gzip in /usr/bin. It runs as on x86 (tests/guest/
# host-stage.sh), through the same pytest_suite: the same pytest options, as the same user
# at the same limit, from the guest's /tmp (memory); on the backends in $PY_ON.
case " $PY_ON " in *" $HS "*) PY_HERE=1 ;; *) PY_HERE=0 ;; esac
if [ -x /venv/bin/python ] && [ $PY_HERE = 1 ]; then
	mounted() { grep -q " $1 " /proc/mounts; }
	# terminals for the CLI's progress tests; POSIX semaphores (multiprocessing's locks)
	mounted /dev/pts || { mkdir -p /dev/pts && mount -t devpts devpts /dev/pts; } ||
		fail "mount devpts"
	mounted /dev/shm || { mkdir -p /dev/shm && mount -t tmpfs -o mode=1777 tmpfs /dev/shm; } ||
		fail "mount /dev/shm"
	# Its output reaches the console as it goes; a test that hangs shows its threads'
	# stacks after $((PY_LIMIT / 8)) s (faulthandler), the suite is stopped after $PY_LIMIT s
	# (busybox's timeout runs the suite in its own process: SIGTERM at the limit is 143).
	pytest_suite "uid $WD_UID, memlock $((MEMLOCK_KB / 1024)) MiB" 143 as_user \
		"WARPDRIVE_DEVICE=$HS HOME=/tmp TMPDIR=/tmp PATH=/venv/bin:/usr/bin:/bin \
		PYTHONDONTWRITEBYTECODE=1 timeout -k 30 $PY_LIMIT /venv/bin/python \
		$(pytest_options /repo /tmp $((PY_LIMIT / 8)))"
fi
unset HS
