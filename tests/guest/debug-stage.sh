#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest on the debug kernel only (tests/guest/run --debug-kernel),
# sourced by init.sh after every suite, with vfio and mdev loaded and our
# modules unloaded. Uses fail/ok/expect/uuid/create/pinned from init.sh.
#
# 1. Fault injection: failslab, fail_page_alloc and fail_usercopy fail a
#    share (FI_PROB percent) of the allocations and user copies of the marked
#    tasks only (task-filter): the test programs, the shell that creates
#    mdevs and loads the modules, and softzip's queue threads. The programs
#    may fail; the kernel may only answer with clean errors: no hang, no pin
#    or mdev left behind, modules that unload, a device that works again
#    once injection stops, and a dmesg the final check of init.sh finds
#    clean (KASAN, lockdep, hung tasks, WARN, BUG).
# 2. kmemleak: a scan after everything; a suspected leak fails the run
#    through that same dmesg check, and its report is printed here.

echo "=== debug kernel: fault injection ==="
FI_PROB=3		# percent of the marked tasks' allocations and copies
FI_TIMES=1000000	# at most this many failures in all; what is left says how many
FI_FUZZ_SECONDS=120
FI_SEED=${FUZZ_SEED:-$(($(date +%s) % 100000 + 1))}
DBG=/sys/kernel/debug
grep -q " $DBG debugfs" /proc/mounts || mount -t debugfs debugfs $DBG || fail "mount debugfs"
FI_KINDS="failslab fail_page_alloc fail_usercopy"

fi_set() {	# fi_set PROBABILITY
	for f in $FI_KINDS; do
		echo Y > $DBG/$f/task-filter
		echo 1 > $DBG/$f/interval
		echo 0 > $DBG/$f/verbose
		echo $FI_TIMES > $DBG/$f/times
		echo "$1" > $DBG/$f/probability
	done
	echo N > $DBG/failslab/ignore-gfp-wait
	echo N > $DBG/fail_page_alloc/ignore-gfp-wait
	echo N > $DBG/fail_page_alloc/ignore-gfp-highmem
	echo 0 > $DBG/fail_page_alloc/min-order
}
fi_count() {	# failures injected since the last fi_set
	n=0
	for f in $FI_KINDS; do n=$((n + FI_TIMES - $(cat $DBG/$f/times))); done
	echo $n
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
fi_run $((FI_FUZZ_SECONDS + TL)) /abi_fuzz -t $FI_FUZZ_SECONDS -s $FI_SEED -u 65534 -w 3 $U1 $U2 $U1
kill $marker
wait $marker 2>/dev/null
echo "fault injection: $(fi_count) failures injected"
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
rmmod sdmdev || fail "rmmod sdmdev after fault injection"

echo "=== debug kernel: kmemleak ==="
if [ -e $DBG/kmemleak ]; then
	# objects younger than 5 s are never reported; two scans settle it
	sleep 6
	echo scan > $DBG/kmemleak
	sleep 1
	echo scan > $DBG/kmemleak
	n=$(grep -c "^unreferenced object" $DBG/kmemleak)
	echo "kmemleak: $n suspected leaks"
	[ "$n" = 0 ] || head -n 80 $DBG/kmemleak
else
	fail "no $DBG/kmemleak"
fi
