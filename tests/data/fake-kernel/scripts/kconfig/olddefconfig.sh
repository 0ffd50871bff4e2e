#!/bin/sh
# Usage: olddefconfig.sh CONFIG SRCDIR. As the real one does, in small: it
# drops every symbol that no Kconfig file of the tree (x86's, not other
# arches') defines, and every symbol that `depends on DEP` unless
# CONFIG_DEP=y.
cfg=$1 src=$2
kconfigs=$(find "$src" -name 'Kconfig*' ! -path "$src/arch/arm64/*")
# shellcheck disable=SC2086 # one word per file name (no blanks in this tree)
awk -v dep="$(grep -c '^CONFIG_DEP=y$' "$cfg")" '
  FILENAME != ARGV[ARGC - 1] {
    if (match($0, /^[ \t]*(menu)?config[ \t]+[A-Za-z0-9_]+[ \t]*$/)) { sym = $2; ok["CONFIG_" sym] = 1 }
    else if ($0 ~ /^[ \t]*depends on DEP[ \t]*$/ && dep == 0) { delete ok["CONFIG_" sym] }
    next
  }
  /^CONFIG_/ { split($0, kv, "="); if (!(kv[1] in ok)) next }
  /^# CONFIG_.* is not set$/ { if (!($2 in ok)) next }
  { print }
' $kconfigs "$cfg" > "$cfg.tmp" && mv "$cfg.tmp" "$cfg"
