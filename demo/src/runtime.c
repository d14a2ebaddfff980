/* runtime.c: part of the demo program */
int runtime_main(void) { return 0; }
