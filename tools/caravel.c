#include "caravel.h"
int main(void) { return 0; }
