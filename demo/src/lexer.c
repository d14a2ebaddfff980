/* lexer.c: part of the demo program */
int lexer_main(void) { return 0; }
