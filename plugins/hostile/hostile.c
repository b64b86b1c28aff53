/* Hostile vprog plugins: one source, one behaviour per -DHOSTILE_<NAME>, each built by
 * scripts/build-plugins.sh into hostile_<name>.wasm. Every one is a valid component for the plugin world
 * (unless its description says otherwise) whose `call` misbehaves; the host must turn each misdeed into
 * an error for that step, never a crash or a hang.
 *
 *   HOSTILE_LOOP            call spins forever                  -> fuel / epoch deadline
 *   HOSTILE_MEMORY          call mallocs and touches 1 MiB blocks without end; when malloc finally fails
 *                           (the host refused memory.grow) it returns err("... after N MiB")
 *                                                               -> memory limit (256 MiB default)
 *   HOSTILE_RECURSION       unbounded non-tail recursion        -> wasm stack exhausted (a trap)
 *   HOSTILE_TRAP            __builtin_trap()                    -> trap ("unreachable")
 *   HOSTILE_WRONG_TYPE      declares Number, returns text       -> type mismatch against describe()
 *   HOSTILE_OVERSIZED       returns a 64 MiB text               -> output size cap
 *   HOSTILE_FILE            reads /etc/passwd and $PATH; ok(contents) if it could, else err(errno text)
 *                                                               -> nothing granted, so it must be an err
 *   HOSTILE_STDOUT          prints to stdout and stderr, returns 42 -> the lines land in the trace
 *   HOSTILE_UNKNOWN_IMPORT  built for plugins/hostile/wit-extra: also imports evil:net/socket@1.0.0
 *                                                               -> load fails naming the import
 *   HOSTILE_OLD_VERSION     a well-behaved plugin built against vprog:plugin@0.2.0 (the script makes that
 *                           copy of the WIT)                    -> load fails naming the version
 *
 * Each takes one optional `frames: Frames` argument, so `hostile_x()` and `hostile_x(frames)` both check.
 */
#include <errno.h>

#include "vprog_plugin.h"

#if defined(HOSTILE_LOOP)
#define NAME "hostile_loop"
#define RETURNS VPROG_PLUGIN_TYPES_KIND_NUMBER
#define DOC "Loops forever."
#elif defined(HOSTILE_MEMORY)
#define NAME "hostile_memory"
#define RETURNS VPROG_PLUGIN_TYPES_KIND_NUMBER
#define DOC "Allocates memory without bound."
#elif defined(HOSTILE_RECURSION)
#define NAME "hostile_recursion"
#define RETURNS VPROG_PLUGIN_TYPES_KIND_NUMBER
#define DOC "Recurses without bound."
#elif defined(HOSTILE_TRAP)
#define NAME "hostile_trap"
#define RETURNS VPROG_PLUGIN_TYPES_KIND_NUMBER
#define DOC "Traps."
#elif defined(HOSTILE_WRONG_TYPE)
#define NAME "hostile_wrong_type"
#define RETURNS VPROG_PLUGIN_TYPES_KIND_NUMBER
#define DOC "Declares a Number and returns a Text."
#elif defined(HOSTILE_OVERSIZED)
#define NAME "hostile_oversized"
#define RETURNS VPROG_PLUGIN_TYPES_KIND_TEXT
#define DOC "Returns a 64 MiB Text."
#elif defined(HOSTILE_FILE)
#define NAME "hostile_file"
#define RETURNS VPROG_PLUGIN_TYPES_KIND_TEXT
#define DOC "Reads /etc/passwd and the environment."
#elif defined(HOSTILE_STDOUT)
#define NAME "hostile_stdout"
#define RETURNS VPROG_PLUGIN_TYPES_KIND_NUMBER
#define DOC "Prints to stdout and stderr, then returns 42."
#elif defined(HOSTILE_UNKNOWN_IMPORT)
#define NAME "hostile_unknown_import"
#define RETURNS VPROG_PLUGIN_TYPES_KIND_TEXT
#define DOC "Imports evil:net/socket@1.0.0, which no host provides."
#elif defined(HOSTILE_OLD_VERSION)
#define NAME "hostile_old_version"
#define RETURNS VPROG_PLUGIN_TYPES_KIND_NUMBER
#define DOC "Built against vprog:plugin@0.2.0."
#else
#error "define one HOSTILE_<NAME>"
#endif

void exports_vprog_plugin_module_describe(vp_signature_t *ret) {
  vprog_plugin_types_param_t params[] = {
      vp_param("frames", vp_type(VPROG_PLUGIN_TYPES_KIND_FRAMES, 0), "Ignored.", true),
  };
  vp_signature(ret, NAME, "0.1.0", "A hostile test plugin: " DOC, params, 1, vp_type(RETURNS, 0));
}

__attribute__((unused)) static bool ok_number(vp_args_t *args, vp_output_t *ret, double x) {
  vp_args_release(args);
  ret->tag = VPROG_PLUGIN_TYPES_OUTPUT_NUMBER;
  ret->val.number = x;
  return true;
}

__attribute__((unused)) static bool ok_text(vp_args_t *args, vp_output_t *ret, plugin_string_t text) {
  vp_args_release(args);
  ret->tag = VPROG_PLUGIN_TYPES_OUTPUT_TEXT;
  ret->val.text = text;
  return true;
}

__attribute__((unused)) static bool fail(vp_args_t *args, plugin_string_t *err, const char *fmt, const char *a, const char *b) {
  vp_args_release(args);
  return vp_fail(err, fmt, a, b);
}

/* Kept in globals so that the compiler can neither drop the work nor see an end to it. */
__attribute__((unused)) static volatile unsigned long long sink;
__attribute__((unused)) static volatile char *volatile keep;

#if defined(HOSTILE_RECURSION)
/* Not a tail call (the subtraction follows it) and not an accumulator LLVM can turn into a loop. */
#pragma clang diagnostic ignored "-Winfinite-recursion"
__attribute__((noinline)) static unsigned long long deeper(unsigned long long n) {
  sink = n;
  return deeper(n + 1) - n;
}
#endif

bool exports_vprog_plugin_module_call(vp_args_t *args, vp_output_t *ret, plugin_string_t *err) {
#if defined(HOSTILE_LOOP)
  (void)args, (void)ret, (void)err;
  for (;;) sink++;
#elif defined(HOSTILE_MEMORY)
  size_t mib = 0;
  for (;;) {
    char *block = malloc(1 << 20);
    if (!block) break;
    memset(block, (int)mib | 1, 1 << 20);
    *(volatile char **)block = keep; /* a chain, so every block stays reachable */
    keep = block;
    mib++;
  }
  char n[32];
  snprintf(n, sizeof n, "%zu", mib);
  (void)ret;
  return fail(args, err, "hostile_memory: malloc failed after %s MiB%s", n, "");
#elif defined(HOSTILE_RECURSION)
  (void)err;
  return ok_number(args, ret, (double)deeper(0));
#elif defined(HOSTILE_TRAP)
  (void)args, (void)ret, (void)err;
  __builtin_trap();
#elif defined(HOSTILE_WRONG_TYPE)
  (void)err;
  return ok_text(args, ret, vp_str("not a number"));
#elif defined(HOSTILE_OVERSIZED)
  (void)err;
  size_t len = (size_t)64 << 20;
  plugin_string_t text = {malloc(len), len};
  if (!text.ptr) return fail(args, err, "hostile_oversized: could not allocate 64 MiB%s%s", "", "");
  memset(text.ptr, 'A', len);
  return ok_text(args, ret, text);
#elif defined(HOSTILE_FILE)
  const char *path = getenv("PATH");
  FILE *f = fopen("/etc/passwd", "r");
  if (!f) {
    char why[128];
    snprintf(why, sizeof why, "%s (errno %d)", strerror(errno), errno);
    return fail(args, err, "hostile_file: open /etc/passwd: %s; PATH is %s", why, path ? path : "unset");
  }
  char buf[4096];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = 0;
  fclose(f);
  return ok_text(args, ret, vp_str(buf));
#elif defined(HOSTILE_STDOUT)
  (void)err;
  printf("hostile_stdout: line 1 on stdout\n");
  printf("hostile_stdout: line 2 on stdout\n");
  fprintf(stderr, "hostile_stdout: line 1 on stderr\n");
  fflush(stdout);
  fflush(stderr);
  return ok_number(args, ret, 42);
#elif defined(HOSTILE_UNKNOWN_IMPORT)
  plugin_string_t host = vp_str("example.com"), line, why;
  bool ok = evil_net_socket_connect(&host, 80, &line, &why);
  plugin_string_free(&host);
  if (!ok) {
    vp_args_release(args);
    *err = why;
    return false;
  }
  return ok_text(args, ret, line);
#elif defined(HOSTILE_OLD_VERSION)
  (void)err;
  return ok_number(args, ret, 1);
#endif
}
