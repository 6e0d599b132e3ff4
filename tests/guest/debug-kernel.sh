#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The debug kernel of the guest harness: Debian's 6.1 source (linux-source-6.1)
# built with x86_64_defconfig + tests/guest/debug.config (KASAN, lockdep, hung
# task detection, fault injection, kmemleak). Built once with -j2 (about an
# hour on a loaded 2-core machine) and cached under tests/guest/work/dbgk/; a
# later run rebuilds only when debug.config or the source package changed.
#
#   bash tests/guest/debug-kernel.sh        build (or reuse) the kernel only
#   bash tests/guest/run --debug-kernel     build it, then run the whole guest on it
#
# Sourced by tests/guest/run, it sets ROOT, KVER, KDIR, MODDIR and VMLINUZ the
# way the default path sets them for Debian's packaged kernel.

dbgk_say() { if declare -F say >/dev/null; then say "$*"; else echo "[debug-kernel] $*"; fi; }

# dbgk_build: prints nothing on success but the say lines; returns non-zero on failure
dbgk_build() {
	local here work dir src pkg ver stamp frag
	here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	work=$here/work
	dir=$work/dbgk
	frag=$here/debug.config
	mkdir -p "$dir"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		-o DPkg::Lock::Timeout=600 flex bison bc libelf-dev libssl-dev xz-utils \
		>/dev/null || return 1
	# the source package of the same 6.1 series as Debian's image
	ver=$(apt-cache show --no-all-versions linux-source-6.1 2>/dev/null |
		sed -n 's/^Version: //p' | head -n1)
	[ -n "$ver" ] || { echo "apt knows no linux-source-6.1"; return 1; }
	src=$dir/linux-source-6.1
	stamp="$ver $(sha256sum "$frag" | cut -d' ' -f1)"
	if [ -e "$dir/.done" ] && [ "$(cat "$dir/.done")" = "$stamp" ]; then
		dbgk_say "debug kernel: reusing the build in $dir ($ver)"
	else
		if [ ! -e "$dir/.source" ] || [ "$(cat "$dir/.source")" != "$ver" ]; then
			dbgk_say "debug kernel: fetching linux-source-6.1 $ver"
			rm -rf "$src" "$dir"/*.deb "$dir/.source" "$dir/.done"
			(cd "$dir" && apt-get download -qq linux-source-6.1 2>&1 |
				grep -v unsandboxed || true)
			pkg=$(ls "$dir"/linux-source-6.1_*.deb | head -n1)
			[ -f "$pkg" ] || { echo "download of linux-source-6.1 failed"; return 1; }
			dpkg-deb --fsys-tarfile "$pkg" | tar -xO ./usr/src/linux-source-6.1.tar.xz |
				xz -dc | tar -x -C "$dir" || return 1
			rm -f "$pkg"
			echo "$ver" > "$dir/.source"
		fi
		dbgk_say "debug kernel: configuring (x86_64_defconfig + debug.config)"
		make -s -C "$src" x86_64_defconfig >/dev/null || return 1
		(cd "$src" && scripts/kconfig/merge_config.sh -m .config "$frag" >/dev/null) || return 1
		make -s -C "$src" olddefconfig >/dev/null || return 1
		# a line of the fragment that Kconfig dropped (a dependency missing) is an error
		local bad=0 line name
		while read -r line; do
			case "$line" in
			CONFIG_*=*) name=${line%%=*} ;;
			"# CONFIG_"*" is not set") name=${line#\# }; name=${name%% *} ;;
			*) continue ;;
			esac
			if ! grep -qxF "$line" "$src/.config"; then
				if [ "${line#\#}" != "$line" ] && ! grep -q "^$name=" "$src/.config"; then
					continue	# off and absent: as asked
				fi
				echo "debug.config: '$line' did not survive: $(grep "^$name=\|$name is not set" "$src/.config")"
				bad=1
			fi
		done < "$frag"
		[ $bad = 0 ] || return 1
		dbgk_say "debug kernel: building (-j${JOBS:-2}; the first build takes long)"
		if ! make -C "$src" -j"${JOBS:-2}" bzImage modules >"$dir/build.log" 2>&1; then
			tail -n 30 "$dir/build.log"
			echo "debug kernel build failed (log: $dir/build.log)"
			return 1
		fi
		local krel
		krel=$(make -s -C "$src" kernelrelease)
		rm -rf "$dir/root"
		make -s -C "$src" INSTALL_MOD_PATH="$dir/root" modules_install >/dev/null || return 1
		mkdir -p "$dir/root/boot"
		cp "$src/arch/x86/boot/bzImage" "$dir/root/boot/vmlinuz-$krel"
		echo "$stamp" > "$dir/.done"
		dbgk_say "debug kernel $krel built"
	fi
	KVER=$(make -s -C "$src" kernelrelease)
	ROOT=$dir/root
	KDIR=$src
	MODDIR=$ROOT/lib/modules/$KVER/kernel/drivers/vfio
	VMLINUZ=$ROOT/boot/vmlinuz-$KVER
	export KVER ROOT KDIR MODDIR VMLINUZ
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	dbgk_build
	echo "kernel $KVER: $VMLINUZ"
fi
