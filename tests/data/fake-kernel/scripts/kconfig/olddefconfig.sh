#!/bin/sh
# Drops CONFIG_NEEDS_DEP unless CONFIG_DEP=y: a symbol with an unmet dependency.
cfg=$1
if ! grep -q '^CONFIG_DEP=y$' "$cfg"; then
  grep -v '^CONFIG_NEEDS_DEP=' "$cfg" > "$cfg.tmp" && mv "$cfg.tmp" "$cfg"
fi
