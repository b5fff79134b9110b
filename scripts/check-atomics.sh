#!/usr/bin/env bash
# Checks that no atomic operation in the concurrency core relies on the default
# (seq_cst) memory ordering (STYLE.md §2.6: "Always spell out the ordering").
#
# Usage: scripts/check-atomics.sh [<repo-root>]   check src/ and include/weft/detail/
#        scripts/check-atomics.sh --self-test     check the checker against planted code
#
# What is flagged, after comments and string literals are removed:
#   - member calls .load .store .exchange .fetch_{add,sub,and,or,xor} .test_and_set
#     .compare_exchange_{weak,strong} (also through ->) whose argument list names no ordering;
#   - the free functions std::atomic_load/store/exchange/fetch_*/compare_exchange_*/
#     flag_test_and_set without _explicit (they always use seq_cst).
# An argument list "names an ordering" when it contains memory_order (std::memory_order_acquire,
# std::memory_order::acquire) or an identifier containing "order" (a forwarded parameter such as
# `order` or `success_order_`).
# Not caught, and left to review: operators on atomics (++, +=, =, implicit loads) and
# wait/notify (their names are shared with condition variables and latches).
# A call that is not an atomic (some other class's load()) is exempted by writing
# "check-atomics: not atomic" in a comment on the line where the call starts.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# check <root>: prints "file:line: call" for each finding; exits 1 if there is any.
check() {
  local root=$1
  local dirs=()
  for dir in src include/weft/detail; do
    [[ -d "$root/$dir" ]] && dirs+=("$root/$dir")
  done
  if [[ ${#dirs[@]} -eq 0 ]]; then
    echo "check-atomics: nothing to check under $root (no src/ or include/weft/detail/)"
    return 0
  fi
  find "${dirs[@]}" -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' -o -name '*.cc' \) \
    -print0 | sort -z | xargs -0 -r perl -0777 -ne '
    my $file = $ARGV;
    my $text = $_;
    my @lines = split /\n/, $text, -1;
    # Blank out comments and literals, keeping newlines so that offsets map to lines.
    my $blank = sub { my $s = shift; $s =~ s/[^\n]/ /g; $s };
    $text =~ s{
        (//[^\n]*)
      | (/\*.*?\*/)
      | (R"([^(\s]*)\(.*?\)\4")
      | ("(?:\\.|[^"\\\n])*")
      | ((?<![0-9A-Za-z_])\x27(?:\\.|[^\x27\\\n]){1,8}\x27)
    }{ $blank->($&) }gsex;
    my $parens = qr/(\((?:[^()]++|(?-1))*\))/;
    my $ops = qr/load|store|exchange|fetch_(?:add|sub|and|or|xor)|test_and_set|compare_exchange_(?:weak|strong)/;
    my @found;
    while ($text =~ /(?:\.|->)\s*($ops)\s*$parens/g) {
      my ($op, $args, $at) = ($1, $2, $-[0]);
      next if $args =~ /memory_order|\w*order\w*/;
      push @found, [$at, ".$op$args"];
    }
    while ($text =~ /\b(atomic_(?:load|store|exchange|fetch_(?:add|sub|and|or|xor)|compare_exchange_(?:weak|strong)|flag_test_and_set))\s*\(/g) {
      push @found, [$-[0], "$1(...) (use the _explicit form)"];
    }
    for my $f (sort { $a->[0] <=> $b->[0] } @found) {
      my $line = 1 + (substr($text, 0, $f->[0]) =~ tr/\n//);
      next if $lines[$line - 1] =~ /check-atomics: not atomic/;
      (my $call = $f->[1]) =~ s/\s+/ /g;
      print "$file:$line: $call\n";
    }
  ' >"$tmp_out"
  if [[ -s "$tmp_out" ]]; then
    cat "$tmp_out"
    echo "check-atomics: $(wc -l <"$tmp_out") atomic operation(s) without an explicit" \
      "std::memory_order (STYLE.md §2.6)" >&2
    return 1
  fi
  echo "check-atomics: every atomic operation in ${dirs[*]#"$root"/} names its memory order"
}

# Plants code with known violations and known-good calls, and checks that exactly the
# violations are reported.
self_test() {
  local dir
  dir=$(mktemp -d)
  mkdir -p "$dir/src" "$dir/include/weft/detail"
  cat >"$dir/src/planted.cpp" <<'CPP'
#include <atomic>
std::atomic<int> a{0};
std::atomic<bool> flag;
void good(std::memory_order order) {
  a.load(std::memory_order_acquire);
  a.store(1, std::memory_order::release);
  a.fetch_add(1,
              std::memory_order_relaxed);
  int expected = 0;
  a.compare_exchange_strong(expected, 1, std::memory_order_acq_rel,
                            std::memory_order_acquire);
  a.exchange(f(g(1), 2), order);
  // a.load() in a comment is fine
  const char* s = "a.load()";
  int n = 1'000'000; a.load(std::memory_order_seq_cst);
  loader.load(); // check-atomics: not atomic
}
void bad() {
  a.load();                                     // BAD 1
  a.store(1);                                   // BAD 2
  a.fetch_add(
      1);                                       // BAD 3
  int expected = 0;
  p->compare_exchange_weak(expected, 2);        // BAD 4
  std::atomic_load(&a);                         // BAD 5
  a.exchange(f(g(1), 2));                       // BAD 6
}
CPP
  cat >"$dir/include/weft/detail/planted.hpp" <<'CPP'
#pragma once
inline int bad_header(std::atomic<int>& x) { return x.fetch_sub(1); }  // BAD 7
CPP
  local out status=0
  out=$(check "$dir" 2>&1) || status=$?
  rm -rf "$dir"
  local expected_lines="src/planted.cpp:19 src/planted.cpp:20 src/planted.cpp:21
src/planted.cpp:24 src/planted.cpp:25 src/planted.cpp:26 planted.hpp:2"
  local reported
  reported=$(grep -cE '^/.*:[0-9]+: ' <<<"$out" || true)
  local ok=1
  [[ $status -eq 1 ]] || ok=0
  [[ $reported -eq 7 ]] || ok=0
  for where in $expected_lines; do
    grep -q -- "$where:" <<<"$out" || ok=0
  done
  if [[ $ok -eq 1 ]]; then
    echo "check-atomics: self-test passed (7 planted violations found, no false positives)"
  else
    echo "check-atomics: self-test FAILED; output was:" >&2
    echo "$out" >&2
    return 1
  fi
}

tmp_out=$(mktemp)
trap 'rm -f "$tmp_out"' EXIT

if [[ ${1:-} == "--self-test" ]]; then
  self_test
else
  check "${1:-$script_dir/..}"
fi
