#!/bin/sh
# Usage as the kernel's: merge_config.sh -m -O DIR BASE FRAGMENT...
# Later files win; writes DIR/.config.
[ "$1" = "-m" ] && shift
[ "$1" = "-O" ] && { out=$2; shift 2; }
cat "$@" | awk '
  /^CONFIG_[A-Za-z0-9_]+=/ { split($0, kv, "="); sym = kv[1] }
  /^# CONFIG_[A-Za-z0-9_]+ is not set$/ { sym = $2 }
  sym != "" { if (!(sym in val)) order[++n] = sym; val[sym] = $0; sym = "" }
  END { for (i = 1; i <= n; i++) print val[order[i]] }
' > "$out/.config.new"
mv "$out/.config.new" "$out/.config"
