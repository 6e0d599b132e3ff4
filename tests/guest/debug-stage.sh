#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest on the debug kernel only (tests/guest/run --debug-kernel),
# sourced by init.sh after every suite, with vfio and mdev loaded and our
# modules unloaded. Uses fail/ok/expect/uuid/create/pinned from init.sh.
#
# 1. Fault injection into the kernel's allocators: failslab, fail_page_alloc
#    and fail_usercopy fail a share (FI_PROB percent) of the allocations and
#    user copies of the marked tasks only (task-filter): the test programs,
#    the shell that creates mdevs and loads the modules, and softzip's queue
#    threads.
# 2. Fault injection into sdmdev's and softzip's own fault points
#    (fail_sdmdev: their allocations, queue start, the mdev probe and open,
#    every pin batch), for every task, softzip's threads included.
#    In both, the programs carry on after a failure (sdmdev_test faults, the
#    ABI fuzzer) or end early; the kernel may only answer with clean errors:
#    no hang, no pin or mdev left behind, modules that unload, a device that
#    works again once injection stops, and a dmesg the final check of
#    init.sh finds clean (KASAN, lockdep, hung tasks, WARN, BUG). Every
#    injected failure dumps its stack (verbose 2): the stage prints how many
#    there were and where they landed, and init.sh's check skips those
#    dumps' own lines.
# 3. kmemleak: a scan after everything; a suspected leak fails the run
#    through that same dmesg check, and its report is printed here.

echo "=== debug kernel: fault injection ==="
FI_PROB=3		# percent of the marked tasks' allocations and copies
FI_OWN_SETUP=30		# percent of fail_sdmdev's calls, module loads and mdev creates
FI_OWN_PROB=5		# percent of fail_sdmdev's calls while programs run
FI_OWN_ROUNDS=30	# sdmdev_test faults rounds under fail_sdmdev
FI_OWN_FUZZ_SECONDS=60
FI_TIMES=1000000	# at most this many failures in all; what is left says how many
FI_FUZZ_SECONDS=120
FI_SEED=${FUZZ_SEED:-$(($(date +%s) % 100000 + 1))}
DBG=/sys/kernel/debug
grep -q " $DBG debugfs" /proc/mounts || mount -t debugfs debugfs $DBG || fail "mount debugfs"
FI_KINDS="failslab fail_page_alloc fail_usercopy"

# fi_attr ATTR PROBABILITY TASK-FILTER: a stack dump per failure (init.sh's
# log is large enough), at most FI_TIMES failures
fi_attr() {
	echo $3 > $DBG/$1/task-filter
	echo 1 > $DBG/$1/interval
	echo 2 > $DBG/$1/verbose
	echo 0 > $DBG/$1/verbose_ratelimit_interval_ms
	echo $FI_TIMES > $DBG/$1/times
	echo "$2" > $DBG/$1/probability
}
fi_set() {	# fi_set PROBABILITY
	for f in $FI_KINDS; do fi_attr $f "$1" Y; done
	echo N > $DBG/failslab/ignore-gfp-wait
	echo N > $DBG/fail_page_alloc/ignore-gfp-wait
	echo N > $DBG/fail_page_alloc/ignore-gfp-highmem
	echo 0 > $DBG/fail_page_alloc/min-order
}
fi_count() {	# fi_count ATTR...: failures injected since they were set
	n=0
	for f in "$@"; do n=$((n + FI_TIMES - $(cat $DBG/$f/times))); done
	echo $n
}
# fi_where MARK: where the failures injected since the kernel log line MARK
# landed, from their stack dumps: per attribute, the first frame in sdmdev or
# softzip, else the first frame outside the allocators and the injection
fi_where() {
	dmesg | sed -n "/$1/,\$p" | awk '
	# a header, then (maybe after the header of another CPU) its dump
	/name [a-z_]*, interval/ { nm = $0; sub(/.*name /, "", nm); sub(/,.*/, "", nm); q[qt++] = nm; next }
	!inb && qh < qt && /CPU: [0-9]+ PID: [0-9]+ Comm:/ {
		inb = 1; name = q[qh++]; ours = ""; other = ""; next
	}
	!inb { next }
	/<\/TASK>/ {
		n[name ": " (ours != "" ? ours : "elsewhere: " other)]++
		inb = 0
		next
	}
	{
		f = $0
		sub(/^\[[^]]*\] */, "", f)
		sub(/^ +/, "", f)
		if (f !~ /^[A-Za-z_][A-Za-z0-9_.]*\+0x/) next
		fn = f
		sub(/\+.*/, "", fn)
		mod = ""
		if (f ~ /\[[a-z0-9_]+\]$/) { mod = f; sub(/.*\[/, "", mod); sub(/\]$/, "", mod) }
		if (fn ~ /^(dump_stack|should_fail|fail_dump|sdmdev_should_fail)/) next
		if (ours == "" && (mod == "sdmdev" || mod == "softzip")) ours = fn " [" mod "]"
		if (other == "" && fn !~ /alloc|slab|copy_(from|to)_user|memdup|strn?dup|asprintf|prepare_alloc_pages/)
			other = fn (mod != "" ? " [" mod "]" : "")
	}
	END { for (k in n) printf "  %6d  %s\n", n[k], k }' | sort -k2
}
# fi_run SECONDS CMD...: CMD (sdmdev_test or abi_fuzz) killed after SECONDS;
# told by MAKE_IT_FAIL=1 to mark itself once it runs, so that injection hits
# the device paths, not the program's loading. Its status does not matter
# (2 only if it could not mark itself), a hang does.
fi_run() {
	t=$1
	shift
	MAKE_IT_FAIL=1 timeout -s KILL "$t" "$@" > /tmp/fi.log 2>&1
	rc=$?
	grep -q "make-it-fail" /tmp/fi.log && fail "fault injection: $1 could not mark itself"
	echo "  $*: exit $rc, $(grep -c -E 'FAIL|FATAL' /tmp/fi.log) failed checks"
	if [ $rc = 137 ]; then
		tail -n 5 /tmp/fi.log
		fail "fault injection: $1 still ran after $t s"
	fi
}
# softzip's queue threads start when a queue opens: mark every one seen
fi_mark_threads() {
	while :; do
		for c in /proc/[0-9]*/comm; do
			case "$(cat $c 2>/dev/null)" in
			softzip/*) echo 1 > ${c%comm}make-it-fail 2>/dev/null ;;
			esac
		done
		sleep 1
	done
}

echo "fault injection: $FI_KINDS at $FI_PROB% on the marked tasks, fuzz seed $FI_SEED"
echo "wd-fi: allocators" > /dev/kmsg
fi_set $FI_PROB
fi_mark_threads &
marker=$!

# module loads and unloads under injection: every init error path unwinds
i=0
loaded=0
while [ $i -lt 12 ]; do
	if (echo 1 > /proc/self/make-it-fail && exec insmod $M/sdmdev.ko) 2>/dev/null; then
		if (echo 1 > /proc/self/make-it-fail && exec insmod $M/softzip.ko queues=4 dma_flag=2) 2>/dev/null; then
			loaded=$((loaded + 1))
			rmmod softzip || fail "fault injection: rmmod softzip"
		fi
		rmmod sdmdev || fail "fault injection: rmmod sdmdev"
	fi
	i=$((i + 1))
done
echo "  module loads: $loaded of 12 loaded both modules"
[ -e /sys/class/sdmdev ] && fail "fault injection: class left after the load loop"

insmod $M/sdmdev.ko || fail "insmod sdmdev"
insmod $M/softzip.ko queues=6 dma_flag=2 || fail "insmod softzip"
T=/sys/class/sdmdev/softzip/device/mdev_supported_types
# mdev creation and removal by a marked shell
i=0
made=0
while [ $i -lt 12 ]; do
	u=$(uuid)
	if (echo 1 > /proc/self/make-it-fail && echo $u > $T/softzip-comp/create) 2>/dev/null; then
		made=$((made + 1))
		(echo 1 > /proc/self/make-it-fail && echo 1 > /sys/bus/mdev/devices/$u/remove) 2>/dev/null
		[ -e /sys/bus/mdev/devices/$u ] && { echo 1 > /sys/bus/mdev/devices/$u/remove || fail "remove $u"; }
	fi
	i=$((i + 1))
done
echo "  mdev creates: $made of 12 made"
expect "mdevs after the create loop" 0 "$(cat /sys/class/sdmdev/softzip/stats/mdevs)"

U1=$(uuid)
U2=$(uuid)
create comp $U1 || fail "create comp"
create decomp $U2 || fail "create decomp"
TL=900	# a guard against a hang only
fi_run $TL /sdmdev_test full $U1 $U2
fi_run $TL /sdmdev_test unmap2 $U1 $U2 65534
fi_run $TL /sdmdev_test storm $U1 $U2 65534
fi_run $TL /sdmdev_test waiters $U1 65534
fi_run $TL /sdmdev_test uffd $U1
for u in $U1 $U2; do
	g=$(basename "$(readlink /sys/bus/mdev/devices/$u/iommu_group)")
	chown 65534:65534 /dev/vfio/$g
done
fi_run $TL /sdmdev_test faults $U1 $U2 $((FI_OWN_ROUNDS / 2)) 65534
grep "^faults:" /tmp/fi.log
grep -E "FAIL|FATAL" /tmp/fi.log && fail "sdmdev_test faults under $FI_KINDS"
fi_run $((FI_FUZZ_SECONDS + TL)) /abi_fuzz -t $FI_FUZZ_SECONDS -s $FI_SEED -u 65534 -w 3 $U1 $U2 $U1
kill $marker
wait $marker 2>/dev/null
echo "fault injection: $(fi_count $FI_KINDS) failures injected; where they landed:"
fi_where "wd-fi: allocators"
fi_set 0

# nothing stays behind, and the device works again
i=0
while [ "$(pinned)" != 0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
expect "pinned pages after fault injection" 0 "$(pinned)"
/sdmdev_test full $U1 $U2 > /tmp/fi.log 2>&1 && ok "device works after fault injection" ||
	{ tail -n 20 /tmp/fi.log; fail "sdmdev_test full after fault injection"; }
for u in $U1 $U2; do
	echo 1 > /sys/bus/mdev/devices/$u/remove || fail "remove $u after fault injection"
done
rmmod softzip || fail "rmmod softzip after fault injection"

echo "=== debug kernel: fault injection at sdmdev's and softzip's fault points ==="
OWN=fail_sdmdev
[ -d $DBG/$OWN ] || fail "no $DBG/$OWN: sdmdev built without its fault points"
echo "wd-fi: own" > /dev/kmsg
echo "fault injection: $OWN at $FI_OWN_SETUP% while loading and creating, $FI_OWN_PROB% while programs run, every task"
fi_attr $OWN $FI_OWN_SETUP N
i=0
loaded=0
rm -f /tmp/insmod.err
while [ $i -lt 12 ]; do
	if insmod $M/softzip.ko queues=4 dma_flag=2 2>>/tmp/insmod.err; then
		loaded=$((loaded + 1))
		rmmod softzip || fail "fault injection: rmmod softzip"
	fi
	i=$((i + 1))
done
# (busybox insmod tries init_module when finit_module failed: a load fails
# only if both probes do)
echo "  softzip loads: $loaded of 12, $(dmesg | sed -n '/wd-fi: own/,$p' | grep -c 'probe of softzip failed') probes failed; errors: $(sort /tmp/insmod.err | uniq -c | tr -s ' \n' ' ')"
[ -e /sys/class/sdmdev/softzip ] && fail "fault injection: softzip's class entry left after the load loop"
insmod $M/softzip.ko queues=6 dma_flag=2 || fail "insmod softzip"
i=0
made=0
while [ $i -lt 12 ]; do
	u=$(uuid)
	if echo $u > $T/softzip-comp/create 2>/dev/null; then
		made=$((made + 1))
		echo 1 > /sys/bus/mdev/devices/$u/remove || fail "remove $u"
	fi
	i=$((i + 1))
done
echo "  mdev creates: $made of 12 made"
expect "mdevs after the create loop" 0 "$(cat /sys/class/sdmdev/softzip/stats/mdevs)"
echo 0 > $DBG/$OWN/probability
U1=$(uuid)
U2=$(uuid)
create comp $U1 || fail "create comp"
create decomp $U2 || fail "create decomp"
for u in $U1 $U2; do
	g=$(basename "$(readlink /sys/bus/mdev/devices/$u/iommu_group)")
	chown 65534:65534 /dev/vfio/$g
done
echo $FI_OWN_PROB > $DBG/$OWN/probability
fi_run $TL /sdmdev_test faults $U1 $U2 $FI_OWN_ROUNDS 65534
grep "^faults:" /tmp/fi.log
grep -E "FAIL|FATAL" /tmp/fi.log && fail "sdmdev_test faults under $OWN"
fi_run $((FI_OWN_FUZZ_SECONDS + TL)) /abi_fuzz -t $FI_OWN_FUZZ_SECONDS -s $FI_SEED -u 65534 -w 3 $U1 $U2 $U1
echo 0 > $DBG/$OWN/probability
echo "fault injection: $(fi_count $OWN) failures injected at the fault points; where they landed:"
fi_where "wd-fi: own"
i=0
while [ "$(pinned)" != 0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
expect "pinned pages after $OWN" 0 "$(pinned)"
/sdmdev_test full $U1 $U2 > /tmp/fi.log 2>&1 && ok "device works after $OWN" ||
	{ tail -n 20 /tmp/fi.log; fail "sdmdev_test full after $OWN"; }
for u in $U1 $U2; do
	echo 1 > /sys/bus/mdev/devices/$u/remove || fail "remove $u after $OWN"
done
rmmod softzip || fail "rmmod softzip after $OWN"
rmmod sdmdev || fail "rmmod sdmdev after fault injection"

echo "=== debug kernel: kmemleak ==="
if [ -e $DBG/kmemleak ]; then
	# objects younger than 5 s are never reported; two scans settle it
	sleep 6
	echo scan > $DBG/kmemleak
	sleep 1
	echo scan > $DBG/kmemleak
	n=$(grep -c "^unreferenced object" $DBG/kmemleak)
	# One leak is the kernel's own, not ours: in 6.1's __class_register(),
	# when kset_register() fails (an allocation failed while sdmdev's
	# class_create() ran under injection) the class's private data is freed
	# and the name kobject_set_name() allocated is not. Told apart by its
	# backtrace; any other suspected leak fails the run (dmesg check).
	known=$(awk '/^unreferenced object/ { if (c && k) n++; c = 1; k = 0 }
		/kobject_set_name/ { s = 1 } /__class_register/ && s { k = 1 }
		/^unreferenced object/ { s = 0 }
		END { if (c && k) n++; print n + 0 }' $DBG/kmemleak)
	echo "kmemleak: $n suspected leaks, $known of them the class name 6.1's __class_register() leaks when kset_register() fails"
	if [ "$n" = 0 ]; then
		:
	elif [ "$n" = "$known" ]; then
		echo "$known" > /tmp/kmemleak-known.txt
		head -n 20 $DBG/kmemleak
	else
		head -n 80 $DBG/kmemleak
	fi
else
	fail "no $DBG/kmemleak"
fi
