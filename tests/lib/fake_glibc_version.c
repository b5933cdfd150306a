/* fake_glibc_version: preloaded by the tls_block_untested_glibc test, makes the C library say it
   is a glibc newer than any tls/ was tested on, which the probe must refuse. */

/* gnu_get_libc_version() is glibc's, answering 2.99. */
const char* gnu_get_libc_version(void) {
  return "2.99";
}
