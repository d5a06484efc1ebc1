# End-to-end scripts, run by `make check` with $CYMAT, $TOP_SRCDIR and $VECTORS_DIR set.
E2E_TESTS += e2e/t0010-help.sh
E2E_TESTS += e2e/t0020-key.sh
E2E_TESTS += e2e/t0030-canon.sh
E2E_TESTS += e2e/t0100-init.sh
E2E_TESTS += e2e/t0110-principal.sh
E2E_TESTS += e2e/t0120-revoke.sh
E2E_TESTS += e2e/t0130-append.sh
E2E_TESTS += e2e/t0140-show-log.sh
E2E_TESTS += e2e/t0200-clone-verify.sh
E2E_TESTS += e2e/t0900-schemas-python.sh
