# SPDX-License-Identifier: GPL-2.0
# Host stage (sourced by tests/guest/run after the initramfs folder is made):
# builds the mainline uacce module unchanged from Debian's linux-source-6.1
# of the guest kernel's version (the debug kernel's own source tree for
# --debug-kernel), the uacce_softzip parent against it (W=1,
# no warnings), uacce_test and uacce_bench; puts them and uacce-stage.sh in
# the initramfs. Uses run's variables: HERE REPO WORK ROOT IMG KDIR KVER INITRD
# JOBS, and say(); TARGET_CC (default gcc) builds uacce_test and uacce_bench, and the
# environment's ARCH and CROSS_COMPILE reach make (tests/aarch64/guest).

say "uacce: the mainline module and its software parent"
if [ "${DEBUG_KERNEL:-0}" = 1 ]; then
	# the debug kernel is built from the whole source tree: uacce.c and its
	# headers are that tree's own
	USRC=$KDIR
else
	# the source package of the image's version (its Version names both)
	UVER=$(apt-cache show "linux-image-$KVER" | sed -n 's/^Version: //p' | head -n 1)
	[ -n "$UVER" ] || { echo "no version for linux-image-$KVER"; false; }
	USRC=$WORK/uacce-src-$UVER
fi
if [ ! -e "$USRC/.done" ] && [ "$USRC" != "$KDIR" ]; then
	# a new kernel version: only the files uacce needs are kept (the
	# package is about 139 MB, the files a few KB)
	rm -rf "$WORK"/uacce-src-* "$WORK/uacce-deb"
	mkdir -p "$WORK/uacce-deb" "$USRC"
	(cd "$WORK/uacce-deb" && apt-get download -qq "linux-source-6.1=$UVER" \
		2>&1 | grep -v "unsandboxed" || true)
	dpkg-deb --fsys-tarfile "$WORK"/uacce-deb/linux-source-6.1_*.deb |
		tar -xO ./usr/src/linux-source-6.1.tar.xz |
		tar -xJ -C "$USRC" --strip-components=1 \
			linux-source-6.1/drivers/misc/uacce/uacce.c \
			linux-source-6.1/include/linux/uacce.h \
			linux-source-6.1/include/uapi/misc/uacce/uacce.h \
			linux-source-6.1/include/uapi/misc/uacce/hisi_qm.h
	rm -rf "$WORK/uacce-deb"
	touch "$USRC/.done"
fi

# uacce.c as it is; its own headers come first. Debian's config has
# CONFIG_UACCE off, so the header's stubs would collide without the define.
UB=$WORK/uacce-build
rm -rf "$UB"
mkdir -p "$UB"
cp "$USRC/drivers/misc/uacce/uacce.c" "$UB/"
cat > "$UB/Kbuild" <<EOF
obj-m := uacce.o
NOSTDINC_FLAGS += -I$USRC/include
ccflags-y += -DCONFIG_UACCE_MODULE=1
EOF
if ! make -C "$KDIR" M="$UB" W=1 -j$JOBS modules >"$WORK/uacce-build.log" 2>&1; then
	cat "$WORK/uacce-build.log"; echo "uacce build failed"; false
fi
# The parent includes the headers tree's uacce headers: they must be the
# ones uacce.ko was built with.
for h in include/linux/uacce.h include/uapi/misc/uacce/uacce.h \
	include/uapi/misc/uacce/hisi_qm.h; do
	[ "$USRC" = "$KDIR" ] && break	# one tree: nothing to compare
	cmp -s "$USRC/$h" "$ROOT/usr/src/linux-headers-$IMG-common/$h" ||
		{ echo "$h differs between linux-source and the headers"; false; }
done
# the parent, with sdmdev and softzip again (the same objects), against it
if ! make -C "$KDIR" M="$REPO/kernel" W=1 -j$JOBS UACCE_SYMVERS="$UB/Module.symvers" \
	modules >>"$WORK/uacce-build.log" 2>&1; then
	cat "$WORK/uacce-build.log"; echo "uacce_softzip build failed"; false
fi
if grep -i -E "warning|error" "$WORK/uacce-build.log" | grep -v "Skipping BTF"; then
	echo "uacce build printed warnings"; false
fi
# uacce_test and uacce_bench (both on the v2 ring driver, wd_ring_v2.c) see
# only uacce's two user-space headers (a whole tree's uapi folder would
# shadow the C library's)
UAPI=$WORK/uacce-uapi
rm -rf "$UAPI"
mkdir -p "$UAPI/misc/uacce"
cp "$USRC/include/uapi/misc/uacce/uacce.h" "$USRC/include/uapi/misc/uacce/hisi_qm.h" \
	"$UAPI/misc/uacce/"
"${TARGET_CC:-gcc}" -static -O2 -Wall -Wextra -Werror -I"$UAPI" \
	-o "$WORK/uacce_test" "$HERE/uacce_test.c" "$HERE/wd_ring_v2.c" -lz
"${TARGET_CC:-gcc}" -static -O2 -Wall -Wextra -Werror -I"$UAPI" \
	-o "$WORK/uacce_bench" "$HERE/uacce_bench.c" "$HERE/wd_ring_v2.c"
cp "$UB/uacce.ko" "$REPO/kernel/uacce_softzip.ko" "$INITRD/modules/"
cp "$WORK/uacce_test" "$WORK/uacce_bench" "$HERE/uacce-stage.sh" "$INITRD/"
