#!/usr/bin/env bash
# run-all.sh - every test of vwire, as a new user's machine runs them:
#   1. build and run the cmocka unit tests (normal build),
#   2. the same under ASan+UBSan,
#   3. the unit tests that run threads under ThreadSanitizer (clang; a small build),
#   4. the libFuzzer harnesses for a bounded time each (clang),
#   5. the end-to-end scripts in tests/e2e against the sanitized daemon, then the normal one
#      for the ones that measure nothing but need speed (QEMU guests); E2E_REPEAT=N runs
#      them N times over (before a data-path change is called done: 5).
# Each e2e script exits 0 (pass), 77 (skip, with its reason) or anything else (fail).
# The last line is "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
E2E_FILTER=${E2E_FILTER:-}
# E2E_REPEAT=5: the end-to-end scripts five times over, each run counted (flaky is broken).
E2E_REPEAT=${E2E_REPEAT:-1}
E2E_REPEAT_NOTE=
((E2E_REPEAT == 1)) || E2E_REPEAT_NOTE=1
passed=0 failed=0 skipped=0
failures=()

step() { printf '\n=== %s\n' "$*"; }
record() { # name status
	case $2 in
	0) passed=$((passed + 1)); echo "PASS: $1" ;;
	77) skipped=$((skipped + 1)); echo "SKIP: $1" ;;
	*) failed=$((failed + 1)); failures+=("$1"); echo "FAIL: $1 (exit $2)" ;;
	esac
}

build() { # dir [meson args...]; BUILD_TARGETS: only these ninja targets (default: all)
	local dir=$1; shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
	fi
	# shellcheck disable=SC2086 # a list of target names
	ninja -C "$dir" -j2 ${BUILD_TARGETS:-} >"$dir.build.log" 2>&1 ||
		{ tail -50 "$dir.build.log"; return 1; }
}

unit() { # dir name [test...]: the unit suite, or only the tests named (built already)
	local dir=$1 name=$2 which=(--suite unit)
	shift 2
	(($# == 0)) || which=(--no-rebuild "$@")
	if meson test -C "$dir" "${which[@]}" --print-errorlogs >"$dir.test.log" 2>&1; then
		grep -E '^(Ok|Fail|Skipped):' "$dir.test.log" | tr '\n' ' '; echo
		record "$name" 0
	else
		tail -80 "$dir.test.log"
		record "$name" 1
	fi
}

step "build (gcc, -Werror)"
if build build --werror -Dtests=enabled -Dslirp=enabled; then record build 0; else record build 1; fi
step "unit tests"
unit build unit

step "build with ASan+UBSan"
if build build-asan --werror -Dtests=enabled -Dslirp=enabled -Db_sanitize=address,undefined \
	-Db_lundef=false -Dbuildtype=debug; then
	record build-asan 0
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	step "unit tests under ASan+UBSan"
	unit build-asan unit-asan
else
	record build-asan 1
fi

# ThreadSanitizer on what crosses threads: the SPSC ring's two-thread stress, iothreads, the
# loop's thread-safe bottom halves and hubs across threads; and the daemon, which
# e2e/iothread_traffic.sh runs with devices on two iothreads. Only those are built. clang: gcc
# refuses the memory fences of the virtqueue code under -fsanitize=thread (-Werror=tsan).
tsan_tests=(spsc_ring iothread loop hub_link)
step "build with ThreadSanitizer (${tsan_tests[*]}, vwire)"
if CC=clang BUILD_TARGETS="${tsan_tests[*]/#/tests/unit/test-} vwire" build build-tsan --werror \
	-Dtests=enabled -Dslirp=enabled -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug; then
	record build-tsan 0
	step "unit tests under ThreadSanitizer"
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 unit build-tsan unit-tsan "${tsan_tests[@]}"
else
	record build-tsan 1
fi

step "fuzzers (${FUZZ_SECONDS}s each)"
if CC=clang build build-fuzz -Dfuzz=true -Dtests=disabled -Dslirp=enabled; then
	for f in build-fuzz/fuzz/fuzz_*; do
		[ -f "$f" ] && [ -x "$f" ] || continue
		name=$(basename "$f")
		corpus=$(mktemp -d)
		# Start from the checked-in seeds, in a scratch copy so runs leave the tree as it was.
		seeds=fuzz/corpus/${name#fuzz_}
		[ -d "$seeds" ] && cp -r "$seeds"/. "$corpus"/
		if "$f" -max_total_time="$FUZZ_SECONDS" -print_final_stats=0 "$corpus" >"build-fuzz/$name.log" 2>&1; then
			record "$name" 0
		else
			tail -40 "build-fuzz/$name.log"
			record "$name" 1
		fi
		rm -rf "$corpus"
	done
else
	record build-fuzz 1
fi

export VWIRE_TOP=$top
for ((round = 1; round <= E2E_REPEAT; round++)); do
step "end-to-end${E2E_REPEAT_NOTE:+ (round $round of $E2E_REPEAT)}"
for t in tests/e2e/*.sh; do
	[ -f "$t" ] || continue
	name=e2e/$(basename "$t" .sh)
	((E2E_REPEAT == 1)) || name=$name#$round
	if [ -n "$E2E_FILTER" ] && [[ $name != *$E2E_FILTER* ]]; then continue; fi
	# Sanitized daemon for the protocol and data-path tests; guests under TCG are slow
	# enough already, so the scripts that boot them may ask for the plain build.
	export VWIRE=$top/build-asan/vwire VWIRE_FAST=$top/build/vwire
	[ -x "$top/build-tsan/vwire" ] && export VWIRE_TSAN=$top/build-tsan/vwire
	log=$(mktemp)
	timeout 900 bash "$t" >"$log" 2>&1
	st=$?
	if [ "$st" = 77 ]; then tail -3 "$log"; elif [ "$st" != 0 ]; then tail -60 "$log"; fi
	record "$name" "$st"
	rm -f "$log"
done
done

echo
[ ${#failures[@]} -eq 0 ] || echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
