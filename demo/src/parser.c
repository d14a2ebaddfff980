/* parser.c: part of the demo program */
int parser_main(void) { return 0; }
