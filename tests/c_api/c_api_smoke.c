/* The C ABI from C: this file is compiled as C99 against gpool_ckpt.h and linked to
 * libgpool-ckpt.so only. It saves one tensor into the store named by argv[1], loads it back
 * and exits 0 only if every byte, the shape and the metadata match. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ckpt/gpool_ckpt.h"

static int fail(const char* what, int rc) {
  fprintf(stderr, "c_api_smoke: %s: %s: %s\n", what, gpool_ckpt_status_name(rc),
          gpool_ckpt_last_error());
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: c_api_smoke STORE_DIR\n");
    return 2;
  }
  float weights[2][3];
  for (int i = 0; i < 6; ++i) weights[i / 3][i % 3] = 0.25f * (float)i - 0.5f;
  const int64_t shape[2] = {2, 3};

  gpool_ckpt_writer* w = NULL;
  int rc = gpool_ckpt_writer_open(argv[1], 0, 0, &w);
  if (rc != GPOOL_CKPT_OK) return fail("writer_open", rc);
  if ((rc = gpool_ckpt_writer_begin(w, 42, 1, "offset-7")) != GPOOL_CKPT_OK) {
    return fail("begin", rc);
  }
  rc = gpool_ckpt_writer_add_tensor(w, "w", "f32", 2, shape, weights, sizeof weights);
  if (rc != GPOOL_CKPT_OK) return fail("add_tensor", rc);
  if ((rc = gpool_ckpt_writer_set_extra(w, "lang", "c")) != GPOOL_CKPT_OK) {
    return fail("set_extra", rc);
  }
  if ((rc = gpool_ckpt_writer_save(w, "smoke")) != GPOOL_CKPT_OK) return fail("save", rc);
  if ((rc = gpool_ckpt_writer_close(w)) != GPOOL_CKPT_OK) return fail("close", rc);

  gpool_ckpt_store* store = NULL;
  if ((rc = gpool_ckpt_store_open(argv[1], &store)) != GPOOL_CKPT_OK) return fail("open", rc);
  gpool_ckpt_checkpoint* c = NULL;
  if ((rc = gpool_ckpt_store_load(store, NULL, &c)) != GPOOL_CKPT_OK) return fail("load", rc);
  gpool_ckpt_store_close(store);

  int ok = 1;
  size_t index = 0;
  gpool_ckpt_tensor_info info;
  int64_t step = 0;
  const char* lang = NULL;
  if (gpool_ckpt_checkpoint_find_tensor(c, "w", &index) != GPOOL_CKPT_OK ||
      gpool_ckpt_checkpoint_tensor(c, index, &info) != GPOOL_CKPT_OK ||
      gpool_ckpt_checkpoint_metadata(c, &step, NULL, NULL) != GPOOL_CKPT_OK ||
      gpool_ckpt_checkpoint_extra_get(c, "lang", &lang) != GPOOL_CKPT_OK) {
    ok = 0;
  } else {
    ok = strcmp(info.dtype, "f32") == 0 && info.ndim == 2 && info.shape[0] == 2 &&
         info.shape[1] == 3 && info.nbytes == sizeof weights &&
         memcmp(info.data, weights, sizeof weights) == 0 && step == 42 && strcmp(lang, "c") == 0;
  }
  gpool_ckpt_checkpoint_free(c);
  if (!ok) {
    fprintf(stderr, "c_api_smoke: the loaded checkpoint differs from the saved one (%s)\n",
            gpool_ckpt_last_error());
    return 1;
  }
  printf("c_api_smoke: ok\n");
  return 0;
}
