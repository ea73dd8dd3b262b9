#!/usr/bin/env bash
# Builds one libFuzzer target (Fuzz/<target>) with AddressSanitizer and runs it for SECONDS.
#
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer flags...]    TARGET: frames | messages | eventtext
#   scripts/fuzz.sh TARGET --build                         build only; prints the binary's path
#   scripts/fuzz.sh TARGET --replay FILE...                run the given inputs once (reproduce a crash)
#   scripts/fuzz.sh seeds                                  regenerate the committed Fuzz/corpus/*
#
# The modules a target needs (TaktDomain, TaktWire, TaktProtoC, TaktProto) are compiled straight from
# Sources/ with swiftc/clang into .build-fuzz/, independent of Package.swift and of the other
# executables: the fuzzer needs instrumented copies, and a half-edited manifest elsewhere cannot
# stop it. Exits non-zero on a crash, leak, timeout or OOM; the reproducer is kept in the artifact
# directory it prints. New corpus entries go to .build-fuzz/corpus/TARGET (not to the committed seeds).
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
root=$PWD

usage() { sed -n '4,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 1 ] || usage
target=$1; shift

out=$root/.build-fuzz/fuzz
mkdir -p "$out"
export SWIFT_BACKTRACE=enable=no   # Swift's crash handler and ASan's fight over the signals

swift_flags=(-swift-version 6 -enable-upcoming-feature ExistentialAny -parse-as-library -g
             -O -assert-config Debug -sanitize=fuzzer,address)
c_flags=(-g -O1 -fsanitize=fuzzer-no-link,address -fno-omit-frame-pointer)
proto_c_flags=(-Xcc -fmodule-map-file="$root/Sources/CProtobufC/module.modulemap"
               -I "$root/Sources/TaktProtoC/include")

# Rebuilds a module when one of its inputs is newer than its object.
stale() {  # stale OUTPUT INPUT...
  local o=$1; shift
  [ -f "$o" ] || return 0
  [ -n "$(find "$@" -newer "$o" -print -quit 2>/dev/null)" ]
}

swift_module() {  # swift_module NAME "OBJECTS IT DEPENDS ON" [extra flags...]
  local name=$1 deps=() d; shift
  for d in $1; do deps+=("$out/$d"); done; shift
  local srcs=("$root"/Sources/"$name"/*.swift)
  if stale "$out/$name.o" "${srcs[@]}" "${deps[@]}" "$0"; then
    echo "fuzz: compiling $name" >&2
    swiftc "${swift_flags[@]}" -module-name "$name" -wmo -emit-module -emit-module-path "$out/$name.swiftmodule" \
      -I "$out" "$@" -c "${srcs[@]}" -o "$out/$name.o"
    touch "$out/$name.o"  # swiftc leaves an unchanged object file's time alone
  fi
}

proto_c() {
  local srcs=("$root"/Sources/TaktProtoC/*.c)
  if stale "$out/TaktProtoC.a" "${srcs[@]}" "$root"/Sources/TaktProtoC/include "$0"; then
    echo "fuzz: compiling TaktProtoC" >&2
    rm -rf "$out/TaktProtoC" && mkdir -p "$out/TaktProtoC"
    for c in "${srcs[@]}"; do
      clang "${c_flags[@]}" -I "$root/Sources/TaktProtoC/include" $(pkg-config --cflags libprotobuf-c) \
        -c "$c" -o "$out/TaktProtoC/$(basename "$c" .c).o"
    done
    rm -f "$out/TaktProtoC.a"
    ar rcs "$out/TaktProtoC.a" "$out"/TaktProtoC/*.o
  fi
}

# The modules each target needs (the dependency graph of Package.swift for these four modules).
build_target() {  # build_target TARGET -> prints the binary path
  local t=$1 objs=() link=() extra=()
  swift_module TaktDomain ""
  objs+=("$out/TaktDomain.o")
  case "$t" in
    frames)
      swift_module TaktWire "TaktDomain.o"
      objs+=("$out/TaktWire.o") ;;
    messages|seeds)
      swift_module TaktWire "TaktDomain.o"
      proto_c
      swift_module TaktProto "TaktDomain.o TaktProtoC.a" "${proto_c_flags[@]}"
      objs+=("$out/TaktWire.o" "$out/TaktProto.o" "$out/TaktProtoC.a")
      extra=("${proto_c_flags[@]}")
      link=($(pkg-config --libs libprotobuf-c)) ;;
    eventtext) ;;
    *) echo "fuzz: unknown target '$t' (frames, messages, eventtext)" >&2; exit 2 ;;
  esac
  local bin="$out/fuzz-$t"
  local srcs=("$root"/Fuzz/"$t"/*.swift)
  if stale "$bin" "${srcs[@]}" "${objs[@]}"; then
    echo "fuzz: linking fuzz-$t" >&2
    # gold warns about ASan's local helper symbols; harmless.
    swiftc "${swift_flags[@]}" -module-name "Fuzz_$t" -I "$out" "${extra[@]}" "${srcs[@]}" "${objs[@]}" \
      "${link[@]}" -o "$bin" 2> >(grep -v "Cannot export local symbol" >&2)
  fi
  echo "$bin"
}

if [ "$target" = seeds ]; then
  exec 9>"$out/.lock"
  flock 9
  bin=$(build_target seeds)
  for t in frames messages eventtext; do rm -rf "Fuzz/corpus/$t"; mkdir -p "Fuzz/corpus/$t"; done
  # A libFuzzer binary like the others (the modules are instrumented); it writes and exits in LLVMFuzzerInitialize.
  TAKT_SEEDS_DIR="$root/Fuzz/corpus" "$bin"
  for t in frames messages eventtext; do echo "seeds: $t $(ls "Fuzz/corpus/$t" | wc -l) files"; done
  exit 0
fi

# A frame payload is at most 4 MiB (PROTOCOL.md section 7); the harnesses accept inputs that large.
# Runs use shorter inputs for speed (override with -max_len=...): long enough for a 64 KiB payload.
# eventtext scans byte by byte and every comparison is instrumented, so it gets 16 KiB (its
# 65,536-byte record limit is covered by TaktDomainTests; pass -max_len=70000 to fuzz past it).
case "$target" in
  frames) max_len=70000 ;;
  messages) max_len=65537 ;;
  eventtext) max_len=16384 ;;
  *) usage ;;
esac

# One build at a time (the long runs start the three targets together).
exec 9>"$out/.lock"
flock 9
bin=$(build_target "$target")
flock -u 9
[ $# -ge 1 ] || usage
case "$1" in
  --build) echo "$bin"; exit 0 ;;
  --replay) shift; exec "$bin" -runs=1 "$@" ;;
esac
seconds=$1; shift
[[ "$seconds" =~ ^[0-9]+$ ]] || usage

corpus=$root/.build-fuzz/corpus/$target
artifacts=$(mktemp -d "${TMPDIR:-/tmp}/takt-fuzz-$target.XXXXXX")
mkdir -p "$corpus"
log=$artifacts/fuzz.log
echo "fuzz: $target for ${seconds}s; corpus $corpus + Fuzz/corpus/$target; artifacts and log in $artifacts" >&2
dict=()
[ -f "Fuzz/$target.dict" ] && dict=(-dict="Fuzz/$target.dict")
set +e
"$bin" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
  -artifact_prefix="$artifacts/" "${dict[@]}" "$@" "$corpus" "Fuzz/corpus/$target" 2>&1 | tee "$log" | grep -E --line-buffered \
  '^#[0-9]+[[:space:]]+(INITED|DONE|pulse)|^stat::|ERROR|SUMMARY|^==[0-9]+==|Test unit written|^MS:|^artifact_prefix|Fatal error|precondition'
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
  echo "fuzz: $target FAILED (exit $rc); reproducer(s) and full log in $artifacts:" >&2
  ls -l "$artifacts" >&2
  echo "fuzz: reproduce with: scripts/fuzz.sh $target --replay $artifacts/<crash-file>" >&2
  exit 1
fi
echo "fuzz: $target ok: no crash in ${seconds}s (log: $log)" >&2
