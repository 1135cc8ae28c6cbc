#include <stdio.h>

int main(void)
{
        printf("lockwatchd\n");
        return 0;
}
