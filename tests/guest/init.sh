#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
# /init of the test guest (busybox). Loads VFIO, mdev and our modules twice
# (multi-process mode, then single-process mode), checks sysfs, runs the
# user-space test, kills a process with requests in flight, unloads, and
# checks dmesg. The last line it prints is "GUEST RESULT: PASS" or "FAIL".

/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# what udev makes on a real system: bash's <(cmd) hands out /dev/fd/N
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
mkdir -p /tmp && mount -t tmpfs tmpfs /tmp

if grep -q wdprobe /proc/cmdline; then
	echo "WD-PROBE-OK"
	poweroff -f
fi

# the host's settings for this run (TIME_FACTOR: 4 on the slow debug kernel;
# PY_ON: the backends the Python suite runs on; PY_ARGS: more pytest arguments; PY_ALL=1:
# the whole suite, with the files pytest-suite.sh's PY_HOST_ONLY names)
TIME_FACTOR=1
PY_ON="vfio uacce"
PY_ARGS=
PY_ALL=0
[ -f /guest.conf ] && . /guest.conf

FAILS=0
fail() { echo "CHECK FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }
# expect <description> <expected> <actual>
expect() {
	if [ "$2" = "$3" ]; then ok "$1 = $3"; else fail "$1: want '$2', got '$3'"; fi
}
# one line, newline-terminated: read() gives back exactly "value\n"
attr() {
	if [ "$(wc -l < "$1")" != 1 ]; then
		fail "$1 is not one newline-terminated line"
	fi
	cat "$1"
}
uuid() { cat /proc/sys/kernel/random/uuid; }
# create <type> <uuid>: prints the error text on failure
create() { echo "$2" 2>/tmp/err > "$T/softzip-$1/create" || { cat /tmp/err; return 1; }; }
pinned() { cat /sys/class/sdmdev/softzip/stats/pinned_pages; }

M=/modules
for m in vfio vfio_iommu_type1 mdev; do
	insmod $M/$m.ko || fail "insmod $m"
done
[ -c /dev/vfio/vfio ] && ok "/dev/vfio/vfio" || fail "no /dev/vfio/vfio"

# SIGKILL a process that has big requests in flight; nothing stays pinned
# and the queue opens again
kill_test() {
	rm -f /tmp/ready
	/sdmdev_bench hog "$1" /tmp/ready &
	pid=$!
	i=0
	while [ ! -e /tmp/ready ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
	[ -e /tmp/ready ] || fail "hog never became ready"
	seen=0
	i=0
	while [ $i -lt 100 ]; do
		p=$(pinned)
		[ "$p" -gt "$seen" ] && seen=$p
		[ "$seen" -gt 0 ] && [ $i -gt 10 ] && break
		sleep 0.02
		i=$((i + 1))
	done
	[ "$seen" -gt 0 ] && ok "pages pinned while busy: $seen" ||
		fail "pin counter never moved while requests ran"
	# an open device holds the parent driver's module
	if rmmod softzip 2>/dev/null; then fail "rmmod softzip while in use"; else ok "rmmod refused while in use"; fi
	kill -9 $pid
	wait $pid 2>/dev/null
	expect "pinned pages after SIGKILL" 0 "$(pinned)"
}

vmalloc_kb() { sed -n 's/^VmallocUsed: *\([0-9]*\) kB/\1/p' /proc/meminfo; }
# Slab in use once every cache gave back its empty slabs. Shrinking a cache
# also frees its objects that KASAN holds in quarantine (the debug kernel keeps
# freed objects there, up to 1/32 of memory, before they return to the slab):
# the figure then counts live objects on either kernel.
slab_kb() {
	sleep 1	# objects freed after an RCU grace period
	for f in /sys/kernel/slab/*/shrink; do echo 1 > "$f" 2>/dev/null; done
	sed -n 's/^Slab: *\([0-9]*\) kB/\1/p' /proc/meminfo
}

# create, open, use, close, remove: 20 times. Each cycle allocates about
# 420 KB of vmalloc (rings, MMIO page, zlib workspace); none may stay.
leak_test() {
	i=0
	while [ $i -lt 21 ]; do
		U=$(uuid)
		create comp $U || fail "cycle $i: create"
		/sdmdev_test cycle $U || fail "cycle $i: use"
		echo 1 > /sys/bus/mdev/devices/$U/remove || fail "cycle $i: remove"
		if [ $i = 0 ]; then v0=$(vmalloc_kb); s0=$(slab_kb); fi
		i=$((i + 1))
	done
	v1=$(vmalloc_kb)
	s1=$(slab_kb)
	echo "after 1 cycle: vmalloc $v0 kB slab $s0 kB; after 21: vmalloc $v1 kB slab $s1 kB"
	[ $((v1 - v0)) -lt 256 ] && ok "no vmalloc growth over 20 cycles" ||
		fail "vmalloc grew by $((v1 - v0)) kB over 20 cycles"
	[ $((s1 - s0)) -lt 512 ] && ok "no slab growth over 20 cycles" ||
		fail "slab grew by $((s1 - s0)) kB over 20 cycles"
	expect "pinned pages after cycles" 0 "$(pinned)"
}

# GUEST_ONLY of tests/guest/run: only the commands it gave, then the dmesg check
if [ -f /only.sh ]; then
	echo "=== round 1 === (only: $(cat /only.sh))"
	insmod $M/sdmdev.ko || fail "insmod sdmdev"
	insmod $M/softzip.ko queues=2 dma_flag=2 || fail "insmod softzip"
	P=/sys/class/sdmdev/softzip
	T=$P/device/mdev_supported_types
	C=$(uuid)
	D=$(uuid)
	create comp $C || fail "create comp"
	create decomp $D || fail "create decomp"
	. /only.sh || fail "only: $(cat /only.sh)"
	for u in $C $D; do echo 1 > /sys/bus/mdev/devices/$u/remove || fail "remove $u"; done
	expect "pinned pages" 0 "$(pinned)"
	rmmod softzip || fail "rmmod softzip"
	rmmod sdmdev || fail "rmmod sdmdev"
fi

for round in 1 2; do
	[ -f /only.sh ] && break
	echo "=== round $round ==="
	if [ $round = 1 ]; then flag=2; else flag=1; fi
	insmod $M/sdmdev.ko || fail "insmod sdmdev"
	insmod $M/softzip.ko queues=2 dma_flag=$flag || fail "insmod softzip"

	P=/sys/class/sdmdev/softzip
	[ -d $P ] && ok "class entry $P" || fail "no $P"
	expect "params/iommu_type" 3 "$(attr $P/params/iommu_type)"
	expect "params/dma_flag" $flag "$(attr $P/params/dma_flag)"
	T=$P/device/mdev_supported_types
	expect "mdev types" "softzip-comp softzip-decomp" "$(echo $(ls $T))"
	expect "comp name" comp "$(attr $T/softzip-comp/name)"
	expect "decomp name" decomp "$(attr $T/softzip-decomp/name)"
	expect "device_api" hisi_qm_v1 "$(attr $T/softzip-comp/device_api)"
	expect "comp flags" 1 "$(attr $T/softzip-comp/flags)"
	expect "decomp flags" 2 "$(attr $T/softzip-decomp/flags)"
	expect "pinned pages" 0 "$(attr $P/stats/pinned_pages)"

	U1=$(uuid)
	U2=$(uuid)
	U3=$(uuid)
	if [ $flag = 2 ]; then
		expect "available" 2 "$(attr $T/softzip-comp/available_instances)"
		create comp $U1 && ok "create comp" || fail "create comp"
		expect "available after 1" 1 "$(attr $T/softzip-decomp/available_instances)"
		create decomp $U2 && ok "create decomp" || fail "create decomp"
		expect "available after 2" 0 "$(attr $T/softzip-comp/available_instances)"
		if create comp $U3; then fail "third create succeeded"; else ok "third create refused"; fi
		[ -e /sys/bus/mdev/devices/$U3 ] && fail "half-made mdev left behind"
		expect "mdevs" 2 "$(attr $P/stats/mdevs)"

		/sdmdev_test full $U1 $U2 && ok "user-space test" || fail "user-space test"
		# the largest request's output unshared while it is pinned (the unshare
		# while it runs is part of full)
		/sdmdev_test unshare-max $U2 pinning && ok "unshare while pinning 64 MiB" ||
			fail "unshare-max pinning"
		# several threads in WAIT on one queue, and a reset under a waiter
		/sdmdev_test waiters $U1 65534 && ok "no lost wake-ups" || fail "waiters"
		# both queues in one container (as wd-core does) read a buffer
		# that is unmapped: as root, then as an unprivileged user
		/sdmdev_test unmap2 $U1 $U2 && ok "unmap under two queues" || fail "unmap2"
		/sdmdev_test unmap2 $U1 $U2 65534 && ok "unmap under two queues (uid 65534)" ||
			fail "unmap2 as uid 65534"
		/sdmdev_test storm $U1 $U2 65534 && ok "map/unmap storm" || fail "storm"
		/sdmdev_test uffd $U1 && ok "unserved page faults end in a DMA fault" || fail "uffd"
		expect "pinned pages after the unmap tests" 0 "$(pinned)"
		/sdmdev_bench figures $U1 $U2 || fail "bench"
		kill_test $U1
		/sdmdev_test full $U1 $U2 && ok "reopen after kill" || fail "reopen after kill"
		expect "pinned pages" 0 "$(pinned)"
		echo 1 > /sys/bus/mdev/devices/$U2/remove || fail "remove $U2"
		echo 1 > /sys/bus/mdev/devices/$U1/remove || fail "remove $U1"
		[ -e /sys/bus/mdev/devices/$U1 ] && fail "$U1 still there"
		expect "available after remove" 2 "$(attr $T/softzip-comp/available_instances)"
		leak_test
	else
		expect "available (single)" 1 "$(attr $T/softzip-comp/available_instances)"
		create comp $U1 && ok "create comp" || fail "create comp"
		expect "available (single, used)" 0 "$(attr $T/softzip-decomp/available_instances)"
		err=$(create decomp $U2)
		case "$err" in
		*busy*) ok "second user refused: $err" ;;
		*) fail "second create: want EBUSY, got '$err'" ;;
		esac
		/sdmdev_test single $U1 && ok "single-process test" || fail "single-process test"
		kill_test $U1
		/sdmdev_test single $U1 && ok "reopen after kill" || fail "reopen after kill"
		echo 1 > /sys/bus/mdev/devices/$U1/remove || fail "remove $U1"
		expect "available after remove" 1 "$(attr $T/softzip-comp/available_instances)"
	fi
	# one mdev left in place: unloading must remove it cleanly
	create comp $U3 || fail "create before unload"
	rmmod softzip || fail "rmmod softzip"
	rmmod sdmdev || fail "rmmod sdmdev"
	[ -e /sys/class/sdmdev ] && fail "class left after unload"
	[ -e /sys/bus/mdev/devices/$U3 ] && fail "mdev left after unload"
done

# The Rust core's behavioural tests (tests/*.rs), the same ones the host runs on the soft
# device, here through sdmdev and VFIO. Root loads the modules, creates the mdevs and grants
# their /dev/vfio/N; the suites, the host's programs and the Python suite then run as an
# ordinary user (uid 65534) at the default locked-memory limit of 8 MiB. Only the fork suite
# also runs as root, where queues create and remove their own mdevs (the removal is what a
# fork child used to block).
if [ -d /wd ] && [ ! -f /only.sh ]; then
	echo "=== wd-core on the vfio backend ==="
	WD_UID=65534
	MEMLOCK_KB=8192
	mkdir -p /etc
	echo "nobody:x:$WD_UID:$WD_UID:nobody:/tmp:/bin/sh" > /etc/passwd
	echo "nogroup:x:$WD_UID:" > /etc/group
	# as_user CMD: CMD (a shell command line) as uid 65534 at the default memlock limit
	as_user() { (ulimit -l $MEMLOCK_KB && exec su -s /bin/sh nobody -c "cd /tmp && $1"); }
	insmod $M/sdmdev.ko || fail "insmod sdmdev"
	# 24 queues: 12 of each direction for the ordinary user (the Python suite keeps
	# several open at once: per-thread, pooled and each test's own)
	insmod $M/softzip.ko queues=24 dma_flag=2 || fail "insmod softzip"
	P=/sys/class/sdmdev/softzip
	T=$P/device/mdev_supported_types
	# rust_suite WHO WAIT BINARY: one summary line per suite
	rust_suite() {
		if [ $1 = root ]; then
			who="root"
			WARPDRIVE_DEVICE=vfio WARPDRIVE_WAIT=$2 $3 --test-threads=1 \
				> /tmp/rust.log 2>&1
		else
			who="uid $WD_UID, memlock $((MEMLOCK_KB / 1024)) MiB"
			as_user "WARPDRIVE_DEVICE=vfio WARPDRIVE_WAIT=$2 $3 --test-threads=1" \
				> /tmp/rust.log 2>&1
		fi
		rc=$?
		summary=$(grep "^test result:" /tmp/rust.log | tail -n 1)
		echo "vfio backend ($who, rust $(basename $3), wait $2): ${summary:-no summary}"
		if [ $rc != 0 ] || [ -z "$summary" ]; then
			cat /tmp/rust.log
			fail "wd-core $(basename $3) on vfio as $who, wait $2"
		fi
	}
	rust_suite root eventfd /wd/fork
	# the mdev of the process the kill test SIGKILLed stays, free for reuse (and the
	# test checked it was reused); every queue's own mdev went with it
	expect "mdevs left by the root fork suite" 1 "$(attr $P/stats/mdevs)"
	for d in /sys/bus/mdev/devices/*; do
		[ -e $d/remove ] && { echo 1 > $d/remove || fail "remove $d"; }
	done

	# an ordinary user with no mdev granted is told what to do
	as_user "WARPDRIVE_DEVICE=vfio /wd/behaviour --test-threads=1 nops" > /tmp/noperm.log 2>&1
	if grep -q "Running without root" /tmp/noperm.log && grep -q "creating one needs root" /tmp/noperm.log; then
		ok "without a granted mdev: $(grep -o 'no [a-z-]* queue this user may open[^(]*' /tmp/noperm.log | head -n 1)"
	else
		cat /tmp/noperm.log
		fail "an ordinary user without a granted mdev did not get the permission hint"
	fi

	# root creates the mdevs and grants their groups to the user
	i=0
	while [ $i -lt 12 ]; do
		for t in comp decomp; do
			U=$(uuid)
			create $t $U || fail "create $t for the user"
			g=$(basename "$(readlink /sys/bus/mdev/devices/$U/iommu_group)")
			chown $WD_UID:$WD_UID /dev/vfio/$g || fail "chown /dev/vfio/$g"
		done
		i=$((i + 1))
	done
	expect "mdevs granted to uid $WD_UID" 24 "$(attr $P/stats/mdevs)"
	# every binary sleeping on the eventfd, the behaviour suite once more with CMD_WAIT
	for b in /wd/*; do rust_suite user eventfd $b; done
	rust_suite user ioctl /wd/behaviour
	# an ordinary user neither creates nor removes mdevs
	expect "mdevs after the user's rust suites" 24 "$(attr $P/stats/mdevs)"
	expect "pinned pages after the rust tests" 0 "$(pinned)"
	. /host-stage.sh
	expect "pinned pages after the host programs and the Python suite" 0 "$(pinned)"
	rmmod softzip || fail "rmmod softzip"
	rmmod sdmdev || fail "rmmod sdmdev"
fi

# The ABI fuzzer (abi_fuzz.c): random request entries, doorbells, registers,
# ioctls, DMA maps and unmaps, mmaps, closes, forks and kills, as an
# unprivileged user who was given the groups' device nodes. Afterwards nothing
# may stay pinned, and the dmesg check below must find no BUG/WARN/Oops/hung task.
if [ -x /abi_fuzz ] && [ ! -f /only.sh ]; then
	echo "=== ABI fuzzer ==="
	FUZZ_SECONDS=60
	FUZZ_SEED=
	. /abi_fuzz.conf
	insmod $M/sdmdev.ko || fail "insmod sdmdev"
	insmod $M/softzip.ko queues=4 dma_flag=2 || fail "insmod softzip"
	T=/sys/class/sdmdev/softzip/device/mdev_supported_types
	FU=
	for t in comp decomp comp; do
		u=$(uuid)
		create $t $u || fail "fuzz: create $t"
		FU="$FU $u"
		chown 65534:65534 /dev/vfio/$(basename "$(readlink /sys/bus/mdev/devices/$u/iommu_group)")
	done
	/abi_fuzz -t "$FUZZ_SECONDS" ${FUZZ_SEED:+-s "$FUZZ_SEED"} -u 65534 -w 3 $FU &
	fz=$!
	# a worker stuck in the kernel cannot be killed: say so instead of
	# waiting for the boot timeout, and show the blocked tasks
	i=0
	while kill -0 $fz 2>/dev/null && [ $i -lt $((FUZZ_SECONDS + ${FUZZ_SLACK:-60})) ]; do
		sleep 1
		i=$((i + 1))
	done
	if kill -0 $fz 2>/dev/null; then
		fail "abi_fuzz still running $i s after its start: tasks blocked in the kernel"
		echo w > /proc/sysrq-trigger
		dmesg | sed -n '/sysrq: Show Blocked State/,$p'
	else
		wait $fz || fail "abi_fuzz exited with status $?"
		pidof abi_fuzz && fail "abi_fuzz processes left behind"
		echo "unmaps of pinned ranges the device was told of: $(cat /sys/class/sdmdev/softzip/stats/dma_unmap_calls)"
		# a queue's pins go when its last user is gone
		i=0
		while [ "$(pinned)" != 0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
		expect "pinned pages after the ABI fuzzer" 0 "$(pinned)"
		for u in $FU; do
			echo 1 > /sys/bus/mdev/devices/$u/remove || fail "fuzz: remove $u"
		done
		rmmod softzip || fail "rmmod softzip after the ABI fuzzer"
		rmmod sdmdev || fail "rmmod sdmdev after the ABI fuzzer"
	fi
fi

[ -f /uacce-stage.sh ] && . /uacce-stage.sh	# mainline uacce + uacce_softzip
# the debug kernel's stage (tests/guest/debug-stage.sh): fault injection, kmemleak
[ -f /debug-stage.sh ] && [ ! -f /only.sh ] && . /debug-stage.sh
rmmod mdev vfio_iommu_type1 vfio || fail "rmmod vfio modules"
sleep 1
# The kernel log without what is not a report:
# - the stack each failure the debug stage injects dumps, and the one the
#   kernel dumps for a failed allocation once injection began: their
#   "CPU: ... Comm:" and "Call Trace:" lines (a dump's own lines come together, but another
#   CPU's report header may come between a header and its dump; any report
#   of a problem has its own line, WARNING: or BUG: or the like, which stays);
# - VFIO's own warning in vfio_group_release when vfio_create_group's error
#   path drops a group it could not finish (an allocation there failed under
#   fault injection; docs/reliability.md), told apart by the vfio_create_group
#   frame in its stack, written whole to /tmp/vfio-warn.txt and printed below;
# - kmemleak's count line, when debug-stage.sh found every suspected leak to
#   be a known one of the kernel's own (/tmp/kmemleak-known.txt).
dmesg_reports() {
	dmesg | awk -v leaks_known=$([ -f /tmp/kmemleak-known.txt ] && echo 1 || echo 0) '
	function flush(known) {
		if (known) {
			print wb > "/tmp/vfio-warn.txt"
			n = split(wb, l, "\n")
			for (i = 1; i <= n; i++)
				if (l[i] !~ /WARNING: |Call Trace:|CPU: [0-9]+ PID: [0-9]+ Comm:|end trace/)
					print l[i]
		} else {
			print wb
		}
		inw = 0
	}
	/FAULT_INJECTION: forcing a failure/ { pending++; injecting = 1 }
	# once failures are injected, the stack the kernel dumps when an
	# allocation fails (warn_alloc) is an expected outcome too
	injecting && /: (page allocation failure|vmalloc error): / { pending++ }
	/WARNING: .* vfio_group_release/ { inw = 1; wb = ""; known = 0 }
	inw {
		wb = wb (wb == "" ? "" : "\n") $0
		if (/vfio_create_group\+/) known = 1
		if (/end trace/) flush(known)
		next
	}
	pending && !indump && /CPU: [0-9]+ PID: [0-9]+ Comm:/ { pending--; indump = 1; next }
	indump && /Call Trace:/ { next }
	indump && /<\/TASK>/ { indump = 0 }
	leaks_known && /kmemleak: [0-9]+ new suspected memory leaks/ { next }
	{ print }
	END { if (inw) flush(0) }'
}
rm -f /tmp/vfio-warn.txt
dmesg_reports > /tmp/dmesg.txt
TAINT="Tainted: .*[DW]"
if [ -s /tmp/vfio-warn.txt ]; then
	echo "--- VFIO's warning after a failed group creation (vfio_create_group's error path), $(grep -c "WARNING: " /tmp/vfio-warn.txt) times; the first: ---"
	sed -n '1,/end trace/p' /tmp/vfio-warn.txt
	TAINT="Tainted: .*D"	# that warning taints the kernel W
fi
# (kmemleak's start-up line names it "memory leak detector"; its reports say
# "suspected memory leaks")
if grep -v "memory leak detector initialized" /tmp/dmesg.txt | grep -E "WARNING:|BUG:|Oops:|refcount_t|Call Trace|general protection|kernel BUG|UBSAN|KASAN|list_(add|del) corruption|blocked for more than|memory leak|$TAINT"; then
	fail "dmesg has warnings (above)"
	# the whole report of the first few, call traces included
	echo "--- dmesg reports ---"
	sed -n '/WARNING:\|BUG:\|Oops:\|blocked for more than/,/end trace\|<\/TASK>/p' /tmp/dmesg.txt | head -n 150
	echo "--- what comes before each other call trace ---"
	grep -B 6 "Call Trace:" /tmp/dmesg.txt | head -n 80
else
	ok "dmesg clean"
fi
echo "--- dmesg tail ---"
dmesg | tail -n 25
echo "--- end dmesg ---"
if [ $FAILS = 0 ]; then echo "GUEST RESULT: PASS"; else echo "GUEST RESULT: FAIL ($FAILS)"; fi
poweroff -f
