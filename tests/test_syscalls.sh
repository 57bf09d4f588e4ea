#!/bin/sh
# test_syscalls.sh: counts, under strace, the system calls that pollux_add
# an unchanged pollux_mod and pollux_close make on each built backend
# (issues 9 and 10): add is one epoll_ctl on epoll and one fcntl on select
# and poll; a mod that changes only the pointer makes none; pollux_close is
# one close(2), with no epoll_ctl before it. Memory calls (brk, mmap, ...) made
# by malloc as the table grows are not the library's and are left out.
# Skipped (77) when strace is not installed.

: "${top_builddir:?run through make check}"
command -v strace >/dev/null 2>&1 || { echo "SKIP: strace not installed"; exit 77; }
prog="$top_builddir/tests/syscount"
# LeakSanitizer cannot run under ptrace; the sanitizer build's leaks are
# the other tests' business.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export ASAN_OPTIONS
n=300
log=$(mktemp)
trap 'rm -f "$log"' EXIT
fails=0
for b in $("$prog" --list); do
	if ! strace -qq -o "$log" "$prog" "$b" "$n"; then
		echo "FAIL: $b: syscount failed (strace usable here?)" >&2
		fails=$((fails + 1))
		continue
	fi
	got=$(awk -v n="$n" '
		/^getppid\(/ { phase++; next }
		phase >= 1 && phase <= 3 {
			name = $0; sub(/\(.*/, "", name)
			if (name ~ /^(brk|mmap|munmap|mremap|madvise|mprotect)$/) next
			calls[phase, name]++; total[phase]++
		}
		END {
			add = ""; for (k in calls) { split(k, a, SUBSEP);
				if (a[1] == 1) add = add " " a[2] "=" calls[k] }
			cl = ""; for (k in calls) { split(k, a, SUBSEP);
				if (a[1] == 3) cl = cl " " a[2] "=" calls[k] }
			printf "add:%s | mod: %d | close:%s\n", add, total[2] + 0, cl
		}' "$log")
	case $b in
	epoll) want="add: epoll_ctl=$n | mod: 0 | close: close=$n" ;;
	select|poll) want="add: fcntl=$n | mod: 0 | close: close=$n" ;;
	*) echo "$b: $got (no expectation for this backend)"; continue ;;
	esac
	if [ "$got" = "$want" ]; then
		echo "ok: $b: $n adds, $n unchanged mods, $n closes: $got"
	else
		echo "FAIL: $b: got '$got', want '$want'" >&2
		fails=$((fails + 1))
	fi
done
[ "$fails" -eq 0 ]
