#!/bin/bash
# A git session in a fresh repository at $1: commits, a branch and a merge,
# a tag, log, diff, repack and fsck. Identity and dates are fixed, so every
# hash and line of output is the same from run to run.
set -eu
repo=$1
export LC_ALL=C HOME=$repo GIT_CONFIG_NOSYSTEM=1 GIT_PAGER=cat
export GIT_AUTHOR_NAME="A U Thor" GIT_AUTHOR_EMAIL=author@example.com
export GIT_COMMITTER_NAME="C O Mitter" GIT_COMMITTER_EMAIL=committer@example.com

tick=1700000000
commit() {
  tick=$((tick + 3600))
  GIT_AUTHOR_DATE="@$tick +0000" GIT_COMMITTER_DATE="@$tick +0000" git commit -q "$@"
}

mkdir -p "$repo"
cd "$repo"
git init -q -b main .

for n in 1 2 3 4 5 6; do
  mkdir -p "src/m$n"
  for f in a b c d; do
    seq "$n" "$((n * 500))" | sed "s/^/$f line /" > "src/m$n/$f.txt"
  done
  git add src
  commit -m "module $n"
done

git checkout -q -b feature
sed -i 's/line 1/LINE one/' src/m2/*.txt
git rm -q src/m3/d.txt
commit -am "rework m2, drop m3/d"

git checkout -q main
echo "readme" > README
git add README
commit -m "add README"
tick=$((tick + 3600))
GIT_AUTHOR_DATE="@$tick +0000" GIT_COMMITTER_DATE="@$tick +0000" \
  git merge -q --no-ff -m "merge feature" feature
GIT_COMMITTER_DATE="@$tick +0000" git tag -a v1 -m "version 1"

git log --graph --format='%h %an %ad %s' --date=iso-strict --stat main
git diff --stat v1~1 v1
git -c pack.threads=2 gc -q
git count-objects -v | grep -E '^(count|in-pack|packs)'
git fsck --no-progress 2>&1
git rev-parse HEAD v1 'HEAD^{tree}'
git cat-file -p HEAD | head -n 4
git show -s --format=%B v1 >&2
