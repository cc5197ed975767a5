#!/usr/bin/env bash
# `make install` into a temporary prefix, then: the files are there, libether.so exports
# exactly the functions declared in ether.h, the README's example compiles against the
# installed header with pkg-config (shared and static) and delivers a record to the fake
# cluster. Usage: client_install.sh BUILD_DIR (release flavour: the example is not built
# with the sanitizers).
set -eu
build="${1:?usage: client_install.sh BUILD_DIR}"
flavour=$(basename "$build")
work=$(mktemp -d)
fake_pid=""
cleanup() {
	[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null && wait "$fake_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
prefix="$work/prefix"

# Only the client side: the broker may be mid-change in this tree.
make --no-print-directory FLAVOUR="$flavour" install PREFIX="$prefix" SERVER_PROGRAMS= >/dev/null
for file in bin/ether lib/libether.so lib/libether.so.0 lib/libether.a include/ether.h \
	lib/pkgconfig/ether.pc; do
	[ -e "$prefix/$file" ] || { echo "missing $prefix/$file"; exit 1; }
done

# Exported symbols == the ETHER_API functions of the header.
grep -o '^ETHER_API [^(]*(' client/ether.h | sed 's/($//; s/.*[ *]//' | sort >"$work/declared"
nm -D --defined-only "$prefix/lib/libether.so" | awk '$2 == "T" {print $3}' | sed 's/@.*//' |
	sort >"$work/exported"
if ! diff -u "$work/declared" "$work/exported"; then
	echo "libether.so exports differ from ether.h (- declared, + exported)"
	exit 1
fi
echo "ok   exports: $(wc -l <"$work/declared") functions"

# The README example, against the installed files only.
awk '/^```c$/ {inside = 1; next} /^```$/ {if (inside) exit} inside' client/README.md >"$work/example.c"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cc -std=c11 -Wall -Wextra -Werror -o "$work/example" "$work/example.c" \
	$(pkg-config --cflags --libs ether)
cc -std=c11 -Wall -Wextra -Werror -o "$work/example-static" "$work/example.c" \
	$(pkg-config --cflags ether) "$prefix/lib/libether.a" $(pkg-config --static --libs-only-l ether | sed 's/-lether//')
echo "ok   example compiles (shared and static)"

make --no-print-directory FLAVOUR="$flavour" "$build/tests/integration/client_fake_broker" >/dev/null
"$build/tests/integration/client_fake_broker" "$work/brokers" &
fake_pid=$!
for _ in $(seq 100); do [ -s "$work/brokers" ] && break; sleep 0.05; done
brokers=$(cat "$work/brokers")
"$prefix/bin/ether" --brokers "$brokers" topic create greetings -p 2 -r 3 >/dev/null
LD_LIBRARY_PATH="$prefix/lib" "$work/example" "$brokers" | tee "$work/out"
grep -q '^delivered to greetings/' "$work/out"
"$work/example-static" "$brokers" | grep -q '^delivered to greetings/'
echo "ok   example delivers a record (shared and static)"
