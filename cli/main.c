/* placeholder: the command table lands with the CLI */
#include <stdio.h>
int main(void) { fputs("cymat: not built yet\n", stderr); return 1; }
