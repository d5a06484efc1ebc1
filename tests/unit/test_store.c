/* placeholder until the store suite lands */
int main(void) { return 77; }
