/* placeholder until the schema suite lands */
int main(void) { return 77; }
