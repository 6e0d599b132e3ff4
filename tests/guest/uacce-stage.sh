# SPDX-License-Identifier: GPL-2.0
# Guest stage (sourced by init.sh): the mainline uacce module, built
# unchanged, with the software hisi_qm v2 ZIP parent uacce_softzip. Runs
# uacce_test as root and as uid 65534 and uacce_bench (figures), unloads
# the parent under a busy queue, and prints "uacce ABI: N checks, M failed". Then wd-core's uacce
# backend: the Rust behaviour suites, the host's programs (soak included) and
# the CLI as uid 65534 (host-stage.sh with HS=uacce). Uses init.sh's ok/fail,
# $M (the modules folder) and, for the backend, its as_user and WD_UID.

if [ -e $M/uacce.ko ]; then
	echo "=== uacce (mainline) with uacce_softzip ==="
	UC=0
	UF=0
	uok() { UC=$((UC + 1)); ok "$1"; }
	ufail() { UC=$((UC + 1)); UF=$((UF + 1)); fail "$1"; }
	# ucount LOG: add the C test's "checks: N failed: M" line
	ucount() {
		line=$(grep "^checks: [0-9]* failed: [0-9]*$" "$1" | tail -n 1)
		if [ -z "$line" ]; then
			cat "$1"
			ufail "no summary from uacce_test ($1)"
			return
		fi
		set -- $line
		UC=$((UC + $2))
		UF=$((UF + $4))
	}
	# urun DESC CMD...: one uacce_test or uacce_bench run
	urun() {
		d=$1
		shift
		"$@" > /tmp/uacce.log 2>&1
		rc=$?
		grep -E "^(FAIL|FATAL)" /tmp/uacce.log
		ucount /tmp/uacce.log
		[ $rc = 0 ] && ok "$d: $(tail -n 1 /tmp/uacce.log)" ||
			fail "$d (exit $rc)"
	}
	uacce_dev() {
		for d in /sys/class/uacce/*; do
			[ "$(cat $d/api 2>/dev/null)" = hisi_qm_v2 ] && basename $d
		done | head -n 1
	}

	insmod $M/uacce.ko && uok "insmod uacce" || ufail "insmod uacce"
	[ -d /sys/class/uacce ] && uok "/sys/class/uacce" || ufail "no /sys/class/uacce"
	insmod $M/uacce_softzip.ko queues=4 && uok "insmod uacce_softzip" ||
		ufail "insmod uacce_softzip"
	U=$(uacce_dev)
	[ -n "$U" ] && [ -c /dev/$U ] && uok "uacce device $U, /dev/$U" ||
		ufail "no hisi_qm_v2 uacce device"

	urun "uacce ABI as root" /uacce_test abi $U 4
	# the administrator grants the device node, as for real hardware
	chown 65534:65534 /dev/$U
	urun "uacce ABI as uid 65534" /uacce_test abi $U 4 65534
	urun "uacce figures" /uacce_bench $U
	grep "^bench" /tmp/uacce.log

	# Unloading the parent while a queue is open and busy: uacce (the file's
	# owner) stays, the parent goes; the queue becomes defunct and harmless.
	rm -f /tmp/uready /tmp/ugo
	/uacce_test hold $U /tmp/uready /tmp/ugo > /tmp/uhold.log 2>&1 &
	hp=$!
	i=0
	while [ ! -e /tmp/uready ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
	[ -e /tmp/uready ] || ufail "hold never became ready"
	if rmmod uacce 2>/dev/null; then ufail "rmmod uacce under its parent"; else uok "rmmod uacce refused while uacce_softzip is loaded"; fi
	rmmod uacce_softzip && uok "rmmod uacce_softzip with a busy queue open" ||
		ufail "rmmod uacce_softzip with a queue open"
	[ -e /sys/class/uacce/$U ] && ufail "$U left after unload" || uok "$U gone"
	touch /tmp/ugo
	wait $hp
	rc=$?
	grep -E "^(FAIL|FATAL)" /tmp/uhold.log
	ucount /tmp/uhold.log
	[ $rc = 0 ] && ok "defunct queue after unload: $(tail -n 1 /tmp/uhold.log)" ||
		fail "defunct queue after unload (exit $rc)"

	# the parent loads again and serves
	insmod $M/uacce_softzip.ko queues=4 && uok "insmod uacce_softzip again" ||
		ufail "insmod uacce_softzip again"
	U=$(uacce_dev)
	[ -n "$U" ] && [ "$(cat /sys/class/uacce/$U/available_instances)" = 4 ] &&
		uok "reloaded: $U with 4 free queues" || ufail "reload"
	rmmod uacce_softzip && uok "rmmod uacce_softzip" || ufail "rmmod uacce_softzip"
	echo "uacce ABI: $UC checks, $UF failed"

	# wd-core's uacce backend, as an ordinary user who was granted the node (as an
	# administrator grants /dev/hisi_zip-N on real hardware): no root, nothing pinned.
	# 24 queues: the suites keep several open at once.
	if [ -d /wd ] && insmod $M/uacce_softzip.ko queues=24; then
		echo "=== wd-core on the uacce backend ==="
		U=$(uacce_dev)
		chown $WD_UID:$WD_UID /dev/$U
		for b in /wd/*; do
			as_user "WARPDRIVE_DEVICE=uacce $b --test-threads=1" > /tmp/rust.log 2>&1
			rc=$?
			summary=$(grep "^test result:" /tmp/rust.log | tail -n 1)
			echo "uacce backend (uid $WD_UID, rust $(basename $b)): ${summary:-no summary}"
			if [ $rc != 0 ] || [ -z "$summary" ]; then
				cat /tmp/rust.log
				fail "wd-core $(basename $b) on uacce as uid $WD_UID"
			fi
		done
		HS=uacce
		. /host-stage.sh
		expect "free uacce queues after the backend's tests" 24 \
			"$(cat /sys/class/uacce/$U/available_instances)"
		rmmod uacce_softzip || fail "rmmod uacce_softzip after the backend's tests"
	fi
	rmmod uacce && uok "rmmod uacce" || ufail "rmmod uacce"
fi
