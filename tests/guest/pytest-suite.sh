#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
# The Python suite's run in a guest, one for both: sourced as /pytest-suite.sh by the x86
# stage (tests/guest/host-stage.sh) and the arm64 stage (tests/aarch64/guest-stage.sh),
# each of which its guest's initramfs holds as /host-stage.sh; tests/guest/run and
# tests/aarch64/guest copy this file next to it. Defines PY_HOST_ONLY and functions only;
# they use init.sh's fail, $HS (the backend), and from /guest.conf $PY_LIMIT (the suite's
# time limit, s), $PY_ARGS (more pytest arguments) and $PY_ALL (1: the whole suite).

# The files of the suite whose tests do not depend on the backend, which a guest leaves out
# unless PY_ALL=1: the command line's behaviour (files, options, signals, progress; its main
# job through the backend is host-stage.sh's own check, and its device path is the library's,
# which the files that run test), the documentation's examples, the package's types, names
# and installation, and the numcodecs and zarr adapters over compress/decompress. Under TCG
# they are about half of the suite's time on each backend; the host runs them on every run.
PY_HOST_ONLY="test_cli.py test_docs.py test_types.py test_error_names.py test_package.py \
test_install.py test_numcodecs.py test_zarr3.py"

# pytest_options REPO ROOTDIR HANG: python's arguments that run the suite REPO/tests/python
# with REPO/pyproject.toml, pytest's rootdir ROOTDIR and no cache, every thread's stack
# printed when one test runs HANG s (faulthandler), verbose, the files of $PY_HOST_ONLY left
# out unless PY_ALL=1, and $PY_ARGS last. For a shell command line: $PY_ARGS is parsed again
# there, as the caller's shell parses it.
pytest_options() {
	py_ignore=
	if [ "${PY_ALL:-0}" != 1 ]; then
		for f in $PY_HOST_ONLY; do py_ignore="$py_ignore --ignore=$1/tests/python/$f"; done
	fi
	printf '%s\n' "-m pytest -c $1/pyproject.toml --rootdir $2 --import-mode=importlib \
-o faulthandler_timeout=$3 -p no:cacheprovider -v --tb=short --durations=10 \
$1/tests/python$py_ignore $PY_ARGS"
}

# pytest_suite WHO LIMIT_RC COMMAND...: runs COMMAND, which runs the suite as WHO and exits
# LIMIT_RC when the suite is stopped at $PY_LIMIT s; its output reaches the console as it
# goes and /tmp/py.log. Then prints "$HS backend (WHO, python): " and pytest's last line
# (tests/aarch64/guest greps it), why the suite stopped if it hit its limit or was killed,
# and on failure the tests that failed, and fails the check.
pytest_suite() {
	py_who=$1
	py_limit_rc=$2
	shift 2
	echo "the Python suite on $HS ..."
	rm -f /tmp/py.rc
	{
		"$@"
		echo $? > /tmp/py.rc
	} 2>&1 | tee /tmp/py.log
	rc=$(cat /tmp/py.rc 2>/dev/null || echo 1)
	# The suite's temporary folders live in the guest's memory (/tmp): those of failed
	# tests are kept to the session's end, and pytest keeps its last three sessions; the
	# next backend's suite starts without them.
	rm -rf /tmp/pytest-of-*
	# pytest's last line: "==== N passed, M failed in T s ===="
	echo "$HS backend ($py_who, python): $(grep -E '^=+ .*(passed|failed|error).* in [0-9.]+s' /tmp/py.log | tail -n 1)"
	case $rc in
	"$py_limit_rc") echo "the Python suite on $HS did not finish in $PY_LIMIT s (the stacks of a test that hung are above)" ;;
	137) echo "the Python suite on $HS was killed (SIGKILL: the time limit's second signal, or the OOM killer: see dmesg)" ;;
	esac
	if [ "$rc" != 0 ]; then
		grep -E " (FAILED|ERROR)" /tmp/py.log
		fail "python suite on the $HS backend as $py_who"
	fi
}
