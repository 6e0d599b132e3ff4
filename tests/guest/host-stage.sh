#!/bin/busybox sh
# Runs inside the guest (sourced by init.sh with sdmdev/softzip loaded, and by
# uacce-stage.sh with HS=uacce and uacce_softzip loaded): mounts the host's root read-only
# over 9p, chroots into it to use the host's own programs (strace, the Rust examples, the
# Python suite) against the backend $HS (default vfio). Uses fail/ok from init.sh, and
# pytest_suite and pytest_options from /pytest-suite.sh (tests/guest/pytest-suite.sh).
HS=${HS:-vfio}
. /pytest-suite.sh
case $HS in
vfio) VIA=/dev/vfio ;;
*) VIA=/dev/$U ;;
esac

REPO=$(sed -n 's/.*wdrepo=\([^ ]*\).*/\1/p' /proc/cmdline)
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci \
	netfs fscache 9pnet 9pnet_virtio 9p; do
	grep -q "^$m " /proc/modules || insmod /modules/9p/$m.ko || fail "insmod $m"
done
mkdir -p /host
if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro hostroot /host; then
	fail "mounting the host's root over 9p"
	return
fi
mounted() { grep -q " $1 " /proc/mounts; }
mounted /dev/pts || { mkdir -p /dev/pts && mount -t devpts devpts /dev/pts; } || fail "mount devpts"
# POSIX semaphores (multiprocessing's locks) live in /dev/shm
mounted /dev/shm || { mkdir -p /dev/shm && mount -t tmpfs -o mode=1777 tmpfs /dev/shm; } ||
	fail "mount /dev/shm"
for d in dev dev/pts dev/shm proc sys; do mount --bind /$d /host/$d || fail "bind /$d"; done
# Scratch space the chroot can write: the guest's /tmp, mounted over an empty host directory
# that does not hold the checkout (which may itself live under the host's /tmp). Files the
# guest writes to /tmp/F, programs in the chroot see as $S/F.
for S in /mnt /srv /media /opt; do
	case "$REPO/" in "$S"/*) continue ;; esac
	[ -d /host$S ] && break
done
mount --bind /tmp /host$S || fail "bind /tmp on $S"
# The venv's interpreter may live under the host's /root (pyenv), which only root may enter:
# show the chroot an open /root that holds just that tree.
VENV=$REPO/.venv
PYREAL=$(chroot /host readlink -f $VENV/bin/python 2>/dev/null)
PYTOP=
case "$PYREAL" in
/root/*)
	PYTOP=/root/$(echo "${PYREAL#/root/}" | cut -d/ -f1)
	mkdir -p /pytop && mount --bind /host$PYTOP /pytop &&
		mount -t tmpfs -o mode=755 tmpfs /host/root &&
		mkdir -p /host$PYTOP && mount --bind /pytop /host$PYTOP ||
		fail "showing $PYTOP to the ordinary user"
	;;
esac

# Everything below runs as the ordinary user of init.sh (uid $WD_UID, the default 8 MiB
# locked-memory limit) through the host's setpriv.
ulimit -l $MEMLOCK_KB
ENVS="env HOME=$S WARPDRIVE_DEVICE=$HS TMPDIR=$S PATH=/usr/bin:/bin"
H="chroot /host /usr/bin/setpriv --reuid=$WD_UID --regid=$WD_UID --clear-groups $ENVS"
USER_DESC="uid $WD_UID, memlock $((MEMLOCK_KB / 1024)) MiB"

# System calls per request on the busy path: strace counts every call of every thread;
# two runs that differ only in the number of requests cancel out set-up and teardown.
BIN=$REPO/tests/guest/work/bin
NOP=$BIN/ring_nop
# uacce_softzip naps between requests of a driver that spins without a system call (as
# ring_nop does): fewer requests there.
case $HS in
vfio) N1=10000 N2=30000 ;;
*) N1=1000 N2=3000 ;;
esac
for b in 1 32; do
	for n in $N1 $N2; do
		$H strace -c -f -o $S/strace-$b-$n.txt $NOP --requests $n --batch $b \
			> /tmp/nop.txt 2>&1 || { cat /tmp/nop.txt; fail "ring_nop $n batch $b"; }
		cat /tmp/nop.txt
		echo "strace -c -f, $n NOPs at batch $b (top calls):"
		sed -n '3,8p' /tmp/strace-$b-$n.txt
		calls=$(awk '$NF == "total" { print $(NF-2) }' /tmp/strace-$b-$n.txt)
		[ $n = $N1 ] && calls1=$calls || calls2=$calls
	done
	# at most: every call of the larger run, set-up included; marginal: the difference
	# between the two runs (noisy when the totals are this small)
	echo "$HS backend: system calls per request at batch $b:" \
		"at most $(awk -v b=$calls2 -v n=$N2 'BEGIN { printf "%.5f", b / n }')," \
		"marginal $(awk -v a=$calls1 -v b=$calls2 -v n=$((N2 - N1)) 'BEGIN { printf "%.5f", (b - a) / n }')" \
		"($calls1 calls for $N1 NOPs, $calls2 for $N2, strace -c -f)"
	grep -q "on $HS" /tmp/nop.txt || fail "ring_nop did not use the $HS backend"
done

# The main job through the device: compress a 15 MB file, check it with gzip -t.
seq 1 500000 | sed "s/$/ main job through $HS/" > /tmp/job.txt
if $H $BIN/compress_file $S/job.txt $S/job.txt.gz --level 6 \
	> /tmp/job.log 2>&1 && $H gzip -t $S/job.txt.gz; then
	ok "compress_file of $(wc -c < /tmp/job.txt) bytes through $VIA ($USER_DESC) passes gzip -t: $(cat /tmp/job.log)"
else
	cat /tmp/job.log
	fail "compress_file through $VIA as $USER_DESC"
fi
grep -q "$HS queue" /tmp/job.log || fail "compress_file did not use the $HS backend"
if [ $HS != vfio ]; then
	# SVA pins nothing: a 4 KiB locked-memory limit changes nothing.
	if (ulimit -l 4 && $H $BIN/compress_file $S/job.txt $S/tiny.gz) > /tmp/tiny.log 2>&1 &&
		$H gzip -t $S/tiny.gz; then
		ok "at a 4 KiB memlock limit, nothing pinned: $(cat /tmp/tiny.log)"
	else
		cat /tmp/tiny.log
		fail "compress_file through $VIA at a 4 KiB memlock limit"
	fi
# A limit below the smallest request: the locked-memory error, never a DMA fault.
elif (ulimit -l 4 && $H $BIN/compress_file $S/job.txt $S/tiny.gz) > /tmp/tiny.log 2>&1; then
	fail "compress_file at a 4 KiB memlock limit succeeded"
elif grep -q "RLIMIT_MEMLOCK is 4096 bytes" /tmp/tiny.log && grep -q "ulimit -l" /tmp/tiny.log &&
	! grep -qi "dma fault" /tmp/tiny.log; then
	ok "at a 4 KiB memlock limit: $(cat /tmp/tiny.log)"
else
	cat /tmp/tiny.log
	fail "compress_file at a 4 KiB memlock limit: want the RLIMIT_MEMLOCK error"
fi

# A short soak of the backend (tests/soak): verified round trips from a thread with its
# own queues and one on the shared one-shot pool; fds, maps and DMA shares must stay flat.
if $H $BIN/soak --requests 500 --threads 1 --oneshot-threads 1 > /tmp/soak.log 2>&1 &&
	tail -n 1 /tmp/soak.log | grep -q "^500 passed, 0 failed$"; then
	ok "soak through $VIA ($USER_DESC): $(tail -n 1 /tmp/soak.log)"
	grep "^soak:" /tmp/soak.log || true
else
	tail -n 40 /tmp/soak.log
	fail "soak through $VIA as $USER_DESC"
fi

# The Python package against the backend: the host's venv with the installed wheel
# (tests/python/run builds it; tests/run runs that stage first). Run from the guest's
# writable scratch ($S): the host's tree is read-only here.
# (checked inside the chroot: the venv links into the host's Python by absolute path)
# The suite runs on the backends in $PY_ON (guest.conf); the CLI runs on every backend.
if $H test -x $VENV/bin/python; then
	# an earlier pass left cli.txt.gz in the same scratch folder
	rm -f /tmp/cli.txt.gz
	case " $PY_ON " in *" $HS "*) PY_HERE=1 ;; *) PY_HERE=0 ;; esac
	if [ $PY_HERE = 1 ]; then
		# Its output reaches the console as it goes, so a test that hangs shows: after
		# 300 s faulthandler prints every thread's stack, and the whole suite is stopped
		# after $PY_LIMIT s (the host's timeout then exits 124).
		PY_LIMIT=$((2400 * TIME_FACTOR))
		pytest_suite "$USER_DESC" 124 $H PYTHONDONTWRITEBYTECODE=1 timeout -k 30 $PY_LIMIT \
			sh -c "cd $S && exec $VENV/bin/python $(pytest_options $REPO $S 300)"
	fi
	# the CLI's main job through the device
	seq 1 100000 | sed "s/$/ warpdrive cli through $HS/" > /tmp/cli.txt
	echo "the CLI through $VIA ..."
	CLI_LIMIT=$((300 * TIME_FACTOR))
	if $H timeout -k 10 $CLI_LIMIT $VENV/bin/warpdrive compress -k $S/cli.txt > /tmp/cli.log 2>&1 &&
		$H gzip -t $S/cli.txt.gz &&
		$H timeout -k 10 $CLI_LIMIT $VENV/bin/warpdrive decompress -c $S/cli.txt.gz \
			> /tmp/cli.out 2>> /tmp/cli.log && cmp /tmp/cli.out /tmp/cli.txt >> /tmp/cli.log 2>&1 &&
		$H timeout -k 10 $CLI_LIMIT $VENV/bin/warpdrive devices >> /tmp/cli.log 2>&1 &&
		{ [ $HS = vfio ] || grep -q "^$U  *uacce  *hisi_qm_v2 .* yes " /tmp/cli.log; }; then
		ok "WARPDRIVE_DEVICE=$HS warpdrive compress through $VIA ($USER_DESC) passes gzip -t, decompress gives the input back"
		cat /tmp/cli.log
	else
		cat /tmp/cli.log
		fail "WARPDRIVE_DEVICE=$HS warpdrive compress through $VIA"
	fi
else
	fail "no $VENV: build and install the wheel first (bash tests/python/run)"
fi

umount /host$S
if [ -n "$PYTOP" ]; then
	umount /host$PYTOP
	umount /host/root
	umount /pytop
fi
for d in sys proc dev/shm dev/pts dev; do umount /host/$d; done
umount /host
unset HS
