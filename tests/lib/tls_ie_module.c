/* tls_ie_module: a library test_tls_block dlopens whose TLS is initial-exec: ld.so places it in
   the static TLS surplus of every thread, and only threads on glibc's own lists get its image
   copied in at dlopen; fiber blocks need tls::after_dlopen(). */
__thread int weft_test_ie_var __attribute__((tls_model("initial-exec"))) = 0x1234;

/* weft_test_ie_addr() is the calling thread's copy of the variable. */
int* weft_test_ie_addr(void) {
  return &weft_test_ie_var;
}
