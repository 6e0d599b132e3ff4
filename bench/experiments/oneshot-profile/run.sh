#!/bin/bash
# Instructions per one-shot call (callgrind, all threads, the whole Python call) of warpdrive,
# python-isal and zlib-ng, each the difference of a 3-round and a 1-round run over the same
# pieces. Needs valgrind and bench/.venv (bench/run makes it, with the corpus).
#   bash bench/experiments/oneshot-profile/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=$here/../../.venv/bin/python
count() {
	valgrind --tool=callgrind --callgrind-out-file=/dev/null "$py" "$here/ops.py" "$@" 2>&1 |
		sed -n 's/.*Collected : //p'
}
for spec in "wd c 4096" "isal c 4096" "wd d 4096 wd" "isal d 4096 wd" "ng d 4096 wd" \
	"wd d 4096 ng" "ng d 4096 ng" "wd c 65536" "isal c 65536" "wd d 65536 wd" \
	"isal d 65536 wd" "wd d 1048576 wd" "isal d 1048576 wd"; do
	set -- $spec
	a=$(count "$1" "$2" "$3" 1 ${4:-})
	b=$(count "$1" "$2" "$3" 3 ${4:-})
	n=$("$py" "$here/ops.py" "$1" "$2" "$3" 0 ${4:-})
	echo "$spec: $(((b - a) / (2 * n))) instructions per call"
done
