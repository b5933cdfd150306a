// static_prog: a program weftrun_cli.sh builds statically linked, which LD_PRELOAD cannot reach.
#include <stdio.h>

int main(void) {
  printf("static program ran\n");
  return 0;
}
