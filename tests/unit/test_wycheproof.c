/* placeholder until the wycheproof suite lands */
int main(void) { return 77; }
