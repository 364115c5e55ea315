#include <stddef.h>
#include <stdint.h>

// libFuzzer's entry for programs that keep their own main (compiler-rt's FuzzerInterface.h):
// parses libFuzzer's flags from argc/argv and runs `callback` on every input. Declared here
// because Swift can only call a C function through a C declaration; the definition comes from
// the fuzzer runtime that `-sanitize=fuzzer` links.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
