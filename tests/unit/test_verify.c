/* placeholder until the verify suite lands */
int main(void) { return 77; }
