#include "snapshot.h"

#include <stdlib.h>
#include <string.h>

gw_snapshot_t *snapshot_load(const char *path, gw_snapshot_t *prev, gw_errors_t *errs) {
  gw_snapshot_t *s = calloc(1, sizeof *s);
  if (!s) {
    gw_errors_add(errs, path, 0, "out of memory");
    return NULL;
  }
  atomic_init(&s->refs, 1);
  s->cfg = config_load(path, errs);
  if (s->cfg) {
    keystore_init(&s->keys, s->cfg, prev ? &prev->keys : NULL, errs);
    if (auth_init(&s->auth, s->cfg, &s->keys, errs) && errs->n == 0)
      gw_errors_add(errs, path, 0, "cannot initialize authentication");
  }
  if (errs->n) {
    snapshot_free(s);
    return NULL;
  }
  return s;
}

void snapshot_free(gw_snapshot_t *s) {
  if (!s) return;
  if (s->cfg) {
    auth_free(&s->auth);
    keystore_free(&s->keys);
    config_free(s->cfg);
  }
  free(s);
}
