/* dominant_colour(frames: Frames) -> List<Text>: each frame's dominant colour name.
 *
 * A C vprog plugin. Each frame is asked for a thumbnail at most 64 pixels on its longer side (the host
 * area-averages it, so only ~12 KiB cross the boundary per frame); every thumbnail pixel is put in one
 * coarse HSV bin and the fullest bin names the frame:
 *   value < 0.25                       -> "black"
 *   saturation < 0.20, value > 0.80    -> "white"
 *   saturation < 0.20                  -> "grey"
 *   otherwise by hue (degrees): [345,15) "red", [15,40) "orange" ("brown" when value < 0.6),
 *   [40,70) "yellow", [70,165) "green", [165,200) "cyan", [200,260) "blue", [260,290) "purple",
 *   [290,345) "magenta".
 * Ties go to the bin listed first. Built by scripts/build-plugins.sh (see plugins/README.md).
 */
#include "vprog_plugin.h"

enum { BLACK, WHITE, GREY, RED, ORANGE, BROWN, YELLOW, GREEN, CYAN, BLUE, PURPLE, MAGENTA, BINS };
static const char *const NAMES[BINS] = {"black", "white", "grey",  "red",  "orange", "brown",
                                        "yellow", "green", "cyan", "blue", "purple", "magenta"};

static int bin_of(unsigned r, unsigned g, unsigned b) {
  unsigned max = r > g ? (r > b ? r : b) : (g > b ? g : b);
  unsigned min = r < g ? (r < b ? r : b) : (g < b ? g : b);
  float v = max / 255.0f;
  float s = max ? (float)(max - min) / max : 0.0f;
  if (v < 0.25f) return BLACK;
  if (s < 0.20f) return v > 0.80f ? WHITE : GREY;
  float d = (float)(max - min), h;
  if (max == r) h = 60.0f * ((float)g - (float)b) / d;
  else if (max == g) h = 60.0f * (2.0f + ((float)b - (float)r) / d);
  else h = 60.0f * (4.0f + ((float)r - (float)g) / d);
  if (h < 0) h += 360.0f;
  if (h >= 345.0f || h < 15.0f) return RED;
  if (h < 40.0f) return v < 0.6f ? BROWN : ORANGE;
  if (h < 70.0f) return YELLOW;
  if (h < 165.0f) return GREEN;
  if (h < 200.0f) return CYAN;
  if (h < 260.0f) return BLUE;
  if (h < 290.0f) return PURPLE;
  return MAGENTA;
}

void exports_vprog_plugin_module_describe(vp_signature_t *ret) {
  vprog_plugin_types_param_t params[] = {
      vp_param("frames", vp_type(VPROG_PLUGIN_TYPES_KIND_FRAMES, 0), "The frames to name the colour of.", false),
  };
  vp_signature(ret, "dominant_colour", "0.1.0",
               "Names each frame's dominant colour (black, white, grey, red, orange, brown, yellow, green, cyan, blue, "
               "purple, magenta).\nCoarse HSV bins over a 64-pixel thumbnail; the fullest bin wins.",
               params, 1, vp_type(VPROG_PLUGIN_TYPES_KIND_TEXT, 1));
}

bool exports_vprog_plugin_module_call(vp_args_t *args, vp_output_t *ret, plugin_string_t *err) {
  exports_vprog_plugin_module_input_t *in = vp_arg(args, "frames");
  if (!in || in->tag != EXPORTS_VPROG_PLUGIN_MODULE_INPUT_FRAMES) {
    vp_args_release(args);
    return vp_fail(err, "dominant_colour: `frames` must be Frames");
  }
  size_t n = in->val.frames.len;
  plugin_string_t *names = n ? malloc(n * sizeof *names) : NULL;
  for (size_t i = 0; i < n; i++) {
    plugin_tuple3_u32_u32_list_u8_t thumb;
    vprog_plugin_frames_method_frame_thumbnail(in->val.frames.ptr[i], 64, &thumb);
    size_t counts[BINS] = {0};
    const uint8_t *p = thumb.f2.ptr;
    size_t pixels = thumb.f2.len / 3;
    for (size_t k = 0; k < pixels; k++, p += 3) counts[bin_of(p[0], p[1], p[2])]++;
    plugin_tuple3_u32_u32_list_u8_free(&thumb);
    int best = 0;
    for (int b = 1; b < BINS; b++)
      if (counts[b] > counts[best]) best = b;
    names[i] = vp_str(NAMES[best]);
  }
  vp_args_release(args);
  ret->tag = VPROG_PLUGIN_TYPES_OUTPUT_TEXTS;
  ret->val.texts.ptr = names;
  ret->val.texts.len = n;
  return true;
}
