/* codegen.c: part of the demo program */
int codegen_main(void) { return 0; }
