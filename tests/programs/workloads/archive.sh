#!/bin/bash
# tar and gzip on a tree of files at $1: create, list, compress, extract and
# compare. Names, dates and owners are fixed, so every line is the same from
# run to run.
set -eu
export LC_ALL=C TZ=UTC
top=$1
rm -rf "$top"
mkdir -p "$top/tree"
cd "$top"
for d in a b c; do
  mkdir -p "tree/$d/deep/er"
  for n in 1 2 3 4 5; do
    seq "$n" $((n * 4000)) | sed "s/^/$d $n /" > "tree/$d/file$n.txt"
  done
  head -c 300000 /dev/zero | tr '\0' "$d" > "tree/$d/deep/er/blob"
done
ln -s ../a/file1.txt tree/b/link
tar --sort=name --mtime=@1700000000 --owner=0 --group=0 --numeric-owner \
    -cf tree.tar tree
gzip -n -9 -c tree.tar > tree.tar.gz
sha256sum tree.tar tree.tar.gz
tar -tvzf tree.tar.gz | head -n 8
mkdir out
tar -xzf tree.tar.gz -C out
diff -r tree out/tree && echo "extracted tree identical"
gzip -d -c tree.tar.gz | cmp - tree.tar && echo "round trip identical"
gzip -l tree.tar.gz | tail -n 1 | awk '{ print "sizes", $1, $2 }'
