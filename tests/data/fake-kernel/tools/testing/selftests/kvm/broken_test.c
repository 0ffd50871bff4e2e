#error does not build on this tree
int main(void) { return 0; }
