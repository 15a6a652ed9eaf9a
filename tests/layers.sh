#!/usr/bin/env bash
# The layers' include rules (../shared/STYLE.md, "Layout"): each directory of
# src/ may include only the layers below it, nothing below src/daemon may
# include a daemon header, the daemon sees only the engine's public headers
# (ike/ike.h, ike/conf.h), and only src/crypto includes OpenSSL. Every
# violation is printed as FILE:LINE: the include, and the test fails.
set -uo pipefail
src="${RIKE_SRC:-$(cd "$(dirname "$0")/.." && pwd)}/src"

# layer: the include prefixes it may use besides its own
declare -A allowed=(
	[crypto]="util/compiler.h wire/ikev2.h"
	[wire]="crypto/ util/compiler.h"
	[util]="wire/ crypto/"
	[store]="util/ crypto/ wire/"
	[dataplane]="util/ crypto/ wire/"
	[ike]="util/ crypto/ wire/ store/"
	[daemon]="util/ crypto/ wire/ store/ dataplane/ ike/ike.h ike/conf.h"
)

bad=0
for layer in "${!allowed[@]}"; do
	[ -d "$src/$layer" ] || continue
	while IFS= read -r hit; do
		file=${hit%%:*}
		rest=${hit#*:}
		line=${rest%%:*}
		inc=$(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]+"([^"]+)".*/\1/p' <<<"${rest#*:}")
		[ -n "$inc" ] || continue
		[[ $inc == "$layer/"* || $inc != */* ]] && continue
		ok=0
		for p in ${allowed[$layer]}; do
			[[ $inc == "$p"* ]] && ok=1
		done
		if [ $ok -eq 0 ]; then
			echo "${file#"$src"/}:$line: src/$layer may not include \"$inc\""
			bad=1
		fi
	done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"' "$src/$layer" --include='*.c' --include='*.h')
done

# An extension (a file of src/ike defining a struct ike_ext) sees the engine
# only through the extension contract: ike/ext.h and ike/engine.h (and its
# own headers, ike/NAME_*.h, such as redirect_provider.h).
for f in $(grep -lE '^const struct ike_ext [a-z_]+ = ' "$src"/ike/*.c); do
	while IFS= read -r hit; do
		line=${hit%%:*}
		inc=$(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]+"([^"]+)".*/\1/p' <<<"${hit#*:}")
		base=$(basename "$f" .c)
		if [[ $inc == ike/* && $inc != ike/ext.h && $inc != ike/engine.h && $inc != "ike/${base}_"*.h ]]; then
			echo "${f#"$src"/}:$line: an extension may include only ike/ext.h, ike/engine.h and its own ike/${base}_*.h of the engine, not \"$inc\""
			bad=1
		fi
	done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"' "$f")
done

# Only src/crypto calls libcrypto.
while IFS= read -r hit; do
	echo "${hit#"$src"/}: only src/crypto may include OpenSSL"
	bad=1
done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]+<openssl/' "$src" --include='*.c' --include='*.h' |
	grep -v "^$src/crypto/")

if [ $bad -ne 0 ]; then
	echo "layers: FAILED"
	exit 1
fi
echo "layers: every include goes down"
