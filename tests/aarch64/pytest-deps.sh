#!/bin/bash
# What the Python suite (tests/python) needs in Debian's arm64 Python 3.11 besides the wheel,
# for the arm64 guest's pytest stage (ARM64_PYTEST=1 bash tests/aarch64/run guest):
#   site/      the suite's packages, the ones tests/python/run installs on x86_64 (less the
#              linters and maturin), as aarch64 wheels from the package index unpacked by
#              pip --target: manylinux tags up to glibc 2.36 (Debian 12's), CPython 3.11;
#   root/      laid over the guest's root: Debian's arm64 gzip as usr/bin/gzip (the suite
#              checks its output with gzip -t, -l, -N...; on x86_64 it runs the host's gzip,
#              and busybox's lacks -l and -N) and libstdc++ (numpy's extension needs it).
# Cached in target/aarch64-work/pytest-deps (made again when the package list changes).
# Needs the arm64 architecture added to dpkg (tests/aarch64/run does). Prints the folder.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/target/aarch64-work/pytest-deps
# keep in step with tests/python/run's list
pkgs=(pytest hypothesis mypy uvloop tqdm "numcodecs>=0.13" "zarr>=3.1")
stamp="${pkgs[*]}"
if [ -e "$out/.done" ] && [ "$(cat "$out/.done")" = "$stamp" ]; then
	echo "$out"
	exit 0
fi
rm -rf "$out"
mkdir -p "$out/root/usr/bin" "$out/debs"
plats=(--platform manylinux2014_aarch64)
for minor in $(seq 17 36); do plats+=(--platform "manylinux_2_${minor}_aarch64"); done
# no .pyc here: tests/aarch64/guest compiles the guest's whole tree
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-compile \
	--target "$out/site" "${plats[@]}" --python-version 3.11 --implementation cp --only-binary=:all: \
	"${pkgs[@]}" >&2
# the console scripts pip wrote name this machine's Python; the suite runs modules (-m)
rm -rf "$out/site/bin"
(cd "$out/debs" && apt-get download -qq gzip:arm64 libstdc++6:arm64 2>&1 |
	grep -v unsandboxed >&2 || true)
dpkg-deb -x "$out"/debs/gzip_*_arm64.deb "$out/debs/gzip"
for p in bin/gzip usr/bin/gzip; do
	[ -f "$out/debs/gzip/$p" ] && { cp "$out/debs/gzip/$p" "$out/root/usr/bin/gzip"; break; }
done
[ -x "$out/root/usr/bin/gzip" ] || { echo "no gzip in Debian's gzip:arm64 package" >&2; exit 1; }
dpkg-deb -x "$out"/debs/libstdc++6_*_arm64.deb "$out/root"
rm -rf "$out/root/usr/share"
rm -rf "$out/debs"
echo "$stamp" > "$out/.done"
echo "$out"
