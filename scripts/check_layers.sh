#!/bin/sh
# Fails when a file includes a header of a higher layer (docs/ARCHITECTURE.md, "Layers").
# The table below is the same as the hs_module() lines of CMakeLists.txt, where the compiler
# enforces it; this check also covers what the compiler cannot see (relative "../" includes,
# headers no target compiles).  Usage: scripts/check_layers.sh [source root]
root=${1:-$(dirname "$0")/..}
cd "$root" || exit 2

allowed() {
    case $1 in
    util) echo "util" ;;
    vec) echo "vec util" ;;
    hnsw) echo "hnsw vec util" ;;
    text) echo "text util" ;;
    filter) echo "filter text util" ;;
    storage) echo "storage util" ;;
    core) echo "core storage filter hnsw text vec util" ;;
    server) echo "server util" ;;
    *) echo "" ;;
    esac
}

bad=0
out=$(mktemp) || exit 2
for dir in src/util src/vec src/hnsw src/text src/filter src/storage src/core server; do
    mod=${dir#src/}
    ok=$(allowed "$mod")
    for f in "$dir"/*.c "$dir"/*.h; do
        [ -e "$f" ] || continue
        # every quoted include: "<module>/<file>" or the public header
        grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | while IFS= read -r line; do
            inc=$(printf '%s\n' "$line" | sed 's/.*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/')
            case $inc in
            hyperspace.h | hyperspace.pb-c.h) continue ;;
            */*) top=${inc%%/*} ;;
            *) top="" ;;
            esac
            hit=no
            for a in $ok; do [ "$top" = "$a" ] && hit=yes; done
            if [ $hit = no ]; then
                echo "$f:${line%%:*}: includes \"$inc\": $mod may include only: $ok (and hyperspace.h)"
            fi
        done
    done
done > /tmp/hs_layers.$$
if [ -s "$out" ]; then
    cat /tmp/hs_layers.$$
    bad=1
fi
rm -f /tmp/hs_layers.$$
[ $bad = 0 ] && echo "layers: every include points down"
exit $bad
