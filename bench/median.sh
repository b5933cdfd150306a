# median.sh: sourced by the benchmark scripts, not run.
#
# median_of reads numbers, one a line, and prints their median: the middle one, or for an even
# count the mean of the two middle ones to one decimal; an empty line when there are none.
median_of() {
  sort -g | awk '{v[NR] = $1} END {
    if (NR == 0) { print ""; exit }
    if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
