#include <stdio.h>

int main(void)
{
        fprintf(stderr, "lockwatchctl: not built yet\n");
        return 1;
}
