/*
 * Thirty leaks from thirty distinct call sites with distinct sizes: the
 * report shows the 20 largest (MEMLEAK_REPORT_GROUPS=20) and sums up the
 * 10 others. Each line is marked `LEAK: name bytes=B blocks=1`.
 */
#include <stdio.h>
#include <stdlib.h>

void *volatile sink[30];

int main(void) {
    sink[0] = malloc(107);   /* LEAK: site0 bytes=107 blocks=1 */
    sink[1] = malloc(207);   /* LEAK: site1 bytes=207 blocks=1 */
    sink[2] = malloc(307);   /* LEAK: site2 bytes=307 blocks=1 */
    sink[3] = malloc(407);   /* LEAK: site3 bytes=407 blocks=1 */
    sink[4] = malloc(507);   /* LEAK: site4 bytes=507 blocks=1 */
    sink[5] = malloc(607);   /* LEAK: site5 bytes=607 blocks=1 */
    sink[6] = malloc(707);   /* LEAK: site6 bytes=707 blocks=1 */
    sink[7] = malloc(807);   /* LEAK: site7 bytes=807 blocks=1 */
    sink[8] = malloc(907);   /* LEAK: site8 bytes=907 blocks=1 */
    sink[9] = malloc(1007);  /* LEAK: site9 bytes=1007 blocks=1 */
    sink[10] = malloc(1107); /* LEAK: site10 bytes=1107 blocks=1 */
    sink[11] = malloc(1207); /* LEAK: site11 bytes=1207 blocks=1 */
    sink[12] = malloc(1307); /* LEAK: site12 bytes=1307 blocks=1 */
    sink[13] = malloc(1407); /* LEAK: site13 bytes=1407 blocks=1 */
    sink[14] = malloc(1507); /* LEAK: site14 bytes=1507 blocks=1 */
    sink[15] = malloc(1607); /* LEAK: site15 bytes=1607 blocks=1 */
    sink[16] = malloc(1707); /* LEAK: site16 bytes=1707 blocks=1 */
    sink[17] = malloc(1807); /* LEAK: site17 bytes=1807 blocks=1 */
    sink[18] = malloc(1907); /* LEAK: site18 bytes=1907 blocks=1 */
    sink[19] = malloc(2007); /* LEAK: site19 bytes=2007 blocks=1 */
    sink[20] = malloc(2107); /* LEAK: site20 bytes=2107 blocks=1 */
    sink[21] = malloc(2207); /* LEAK: site21 bytes=2207 blocks=1 */
    sink[22] = malloc(2307); /* LEAK: site22 bytes=2307 blocks=1 */
    sink[23] = malloc(2407); /* LEAK: site23 bytes=2407 blocks=1 */
    sink[24] = malloc(2507); /* LEAK: site24 bytes=2507 blocks=1 */
    sink[25] = malloc(2607); /* LEAK: site25 bytes=2607 blocks=1 */
    sink[26] = malloc(2707); /* LEAK: site26 bytes=2707 blocks=1 */
    sink[27] = malloc(2807); /* LEAK: site27 bytes=2807 blocks=1 */
    sink[28] = malloc(2907); /* LEAK: site28 bytes=2907 blocks=1 */
    sink[29] = malloc(3007); /* LEAK: site29 bytes=3007 blocks=1 */
    puts("report_cap done");
    return 0;
}
