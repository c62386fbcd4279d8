#!/bin/bash
# Bash forking and exec'ing: pipelines, command substitution, subshells,
# background jobs and associative arrays, with a deterministic output.
set -u
export LC_ALL=C

declare -A seen
for ((i = 0; i < 20000; i++)); do
  k=$(( (i * 7919) % 4099 ))
  seen[$k]=$(( ${seen[$k]:-0} + 1 ))
done
echo "keys ${#seen[@]}"

total=$(seq 1 200000 | awk '{ s += $1 % 97 } END { print s }')
echo "awk $total"

seq 1 50000 | awk '{ print $1 % 13 }' | sort -n | uniq -c | sort -k1,1nr -k2,2n | head -n 5

( cd / && echo "subshell in $(pwd)" )
for j in 1 2 3; do
  ( seq 1 $((j * 10000)) | md5sum | cut -c1-12 > "${TMPDIR:-/tmp}/pipeline.$$.$j" ) &
done
wait
for j in 1 2 3; do
  echo "job $j $(cat "${TMPDIR:-/tmp}/pipeline.$$.$j")"
  rm -f "${TMPDIR:-/tmp}/pipeline.$$.$j"
done

words=$(printf '%s\n' alpha beta gamma delta | tr a-z A-Z | rev | paste -sd,)
echo "words $words"
echo "done" >&2
exit 5
