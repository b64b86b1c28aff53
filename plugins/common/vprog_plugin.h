/* Helpers shared by the C plugins: a layer over the bindings that `componentize bindings` generates
 * from plugin/wit/since_v0.1.0 (plugin.h). Header-only; include it after nothing else.
 *
 * Ownership rules of the canonical ABI as wit-bindgen-c maps them:
 * - Everything `describe` and `call` return (strings, lists) must be malloc'ed: the generated
 *   post-return function free()s it after the host has copied it out. Hence vp_str() dups.
 * - `call` owns its arguments and must free them; every `borrow<frame>` it received must be
 *   dropped before it returns, or the call traps ("borrow handles still remain"). vp_args_release()
 *   does both: call it once, just before returning.
 * - Lists returned by frame methods (pixels, crop, thumbnail) are the plugin's to free.
 */
#ifndef VPROG_PLUGIN_HELPERS_H
#define VPROG_PLUGIN_HELPERS_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

typedef exports_vprog_plugin_module_list_argument_t vp_args_t;
typedef exports_vprog_plugin_module_output_t vp_output_t;
typedef exports_vprog_plugin_module_signature_t vp_signature_t;
typedef vprog_plugin_frames_borrow_frame_t vp_frame_t;

/* A malloc'ed copy of a C string as a WIT string. */
static inline plugin_string_t vp_str(const char *s) {
  plugin_string_t out;
  plugin_string_dup(&out, s);
  return out;
}

/* Sets *err to a formatted message and returns false, for `return vp_fail(err, ...)` in call. */
static inline bool vp_fail(plugin_string_t *err, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  *err = vp_str(buf);
  return false;
}

/* A static type: `kind` wrapped in `lists` List<..> levels. */
static inline vprog_plugin_types_value_type_t vp_type(vprog_plugin_types_kind_t kind, uint8_t lists) {
  vprog_plugin_types_value_type_t t = {kind, lists};
  return t;
}

static inline vprog_plugin_types_param_t vp_param(const char *name, vprog_plugin_types_value_type_t ty, const char *doc, bool optional) {
  vprog_plugin_types_param_t p;
  p.name = vp_str(name);
  p.ty = ty;
  p.doc = vp_str(doc);
  p.optional = optional;
  return p;
}

/* Fills a signature; `params` (n of them) is copied into a malloc'ed list. */
static inline void vp_signature(vp_signature_t *ret, const char *name, const char *version, const char *doc,
                                const vprog_plugin_types_param_t *params, size_t n, vprog_plugin_types_value_type_t returns) {
  ret->name = vp_str(name);
  ret->version = vp_str(version);
  ret->doc = vp_str(doc);
  ret->params.len = n;
  ret->params.ptr = n ? malloc(n * sizeof *params) : NULL;
  if (n) memcpy(ret->params.ptr, params, n * sizeof *params);
  ret->returns = returns;
}

/* Whether a WIT string equals a C string. */
static inline bool vp_str_eq(const plugin_string_t *s, const char *c) {
  size_t n = strlen(c);
  return s->len == n && memcmp(s->ptr, c, n) == 0;
}

/* The argument called `name`, or NULL when the program left it out. */
static inline exports_vprog_plugin_module_input_t *vp_arg(vp_args_t *args, const char *name) {
  for (size_t i = 0; i < args->len; i++)
    if (vp_str_eq(&args->ptr[i].name, name)) return &args->ptr[i].value;
  return NULL;
}

/* Drops every frame borrow among the arguments, then frees them. */
static inline void vp_args_release(vp_args_t *args) {
  for (size_t i = 0; i < args->len; i++) {
    exports_vprog_plugin_module_input_t *v = &args->ptr[i].value;
    if (v->tag == EXPORTS_VPROG_PLUGIN_MODULE_INPUT_FRAMES)
      for (size_t j = 0; j < v->val.frames.len; j++) vprog_plugin_frames_frame_drop_borrow(v->val.frames.ptr[j]);
  }
  exports_vprog_plugin_module_list_argument_free(args);
}

#endif
