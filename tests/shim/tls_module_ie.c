// tls_module_ie: a shared library with an initial-exec __thread variable, loaded with dlopen()
// by diff_tls_dlopen while threads exist. Initial-exec TLS lives in the static TLS block at a
// fixed offset from the thread pointer, so ld.so places it in the block's surplus and copies its
// image into every existing thread's block at dlopen (glibc's _dl_init_static_tls). Plain C.
static __thread long ie_counter __attribute__((tls_model("initial-exec"))) = 4242;

// tlsie_step() adds id + 1 to the calling thread's counter and returns the new value.
long tlsie_step(int id) {
  return ie_counter += id + 1;
}
