/* gpool_ckpt.h: the C ABI of gpool's checkpoint SDK (libgpool-ckpt.so), for training code that
 * is not C++ (C, Fortran, Rust, Julia, ctypes/cffi). Plain C99; no C++ type and no exception
 * crosses it. docs/checkpoint.md has the guide; checkpoint_writer.h, checkpoint_store.h and
 * checkpoint_request.h the C++ it wraps.
 *
 *   gpool_ckpt_writer* w;
 *   if (gpool_ckpt_writer_open("/data/ckpt/run-7", 0, 0, &w) != GPOOL_CKPT_OK) {
 *     fprintf(stderr, "%s\n", gpool_ckpt_last_error());
 *   }
 *   int64_t shape[2] = {1024, 1024};
 *   gpool_ckpt_writer_begin(w, step, epoch, "shard-3:offset-81920");
 *   gpool_ckpt_writer_add_tensor(w, "w1", "f32", 2, shape, weights, sizeof(float) << 20);
 *   gpool_ckpt_writer_set_extra(w, "lr", "0.001");
 *   gpool_ckpt_writer_save_async(w, NULL, NULL);  // returns after the copy into staging
 *   ...
 *   gpool_ckpt_writer_close(w);                   // waits for the queued save
 *
 * STATUS CODES. Every function that can fail returns an int: GPOOL_CKPT_OK (0) or one of the
 * negative GPOOL_CKPT_* codes below (gpool's StatusCode set, core/status.h). A failing call
 * also sets this thread's last error message (gpool_ckpt_last_error), which names what is wrong
 * (the tensor, the checkpoint, the path and errno). Out-parameters are written only on success.
 * A NULL handle or out-pointer where one is required is GPOOL_CKPT_INVALID_ARGUMENT.
 *
 * OWNERSHIP AND LIFETIMES.
 *   - Handles are opaque. Whatever *_open / *_load returns, the caller frees with the matching
 *     *_close / *_free, exactly once; passing NULL to a free function does nothing.
 *   - Strings and arrays passed in (root, names, dtype, shape, keys, values) are copied before
 *     the call returns, EXCEPT a tensor's `data`: add_tensor keeps the pointer, and the bytes are
 *     read by the next save / save_async, which copies them (save_async into the staging buffer)
 *     before it returns. So `data` must stay valid and unchanged from add_tensor until that save
 *     call returns, and may be reused or freed right after it — also after save_async.
 *   - Pointers returned by getters (names, dtypes, shapes, tensor data, metadata strings) point
 *     into the handle, are read-only and stay valid until the handle is freed.
 *   - gpool_ckpt_last_error's string is valid until this thread's next gpool_ckpt_* call.
 *
 * STRINGS are NUL-terminated UTF-8 (invalid UTF-8 is GPOOL_CKPT_INVALID_ARGUMENT).
 *
 * THREAD SAFETY. A writer handle is used by one thread at a time (its background saver thread
 * is internal); one writer per store root, and not beside another process writing the same
 * root. A store handle and a loaded checkpoint may be read from any number of threads. The
 * checkpoint-request functions may be called from any thread.
 */
#ifndef GPOOL_CKPT_H_
#define GPOOL_CKPT_H_

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define GPOOL_CKPT_API __attribute__((visibility("default")))
#else
#define GPOOL_CKPT_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Status codes and errors ---- */

enum {
  GPOOL_CKPT_OK = 0,
  GPOOL_CKPT_INVALID_ARGUMENT = -1, /* the caller's input is wrong: fix it and retry */
  GPOOL_CKPT_NOT_FOUND = -2,        /* no such checkpoint, store, tensor or metadata key */
  GPOOL_CKPT_CONFLICT = -3,         /* violates the current state of the store */
  GPOOL_CKPT_UNAVAILABLE = -4,      /* the filesystem failed (full disk, permissions): retry */
  GPOOL_CKPT_INTERNAL = -5          /* corrupt data in the store, or a bug */
};

/* "checkpointed, ready to move": what a job exits with after a checkpoint on request. */
#define GPOOL_CKPT_CHECKPOINTED_EXIT_CODE 75

/* The message of this thread's last gpool_ckpt_* call that failed, "" if that call succeeded
 * (every call that returns a status resets it). Never NULL. */
GPOOL_CKPT_API const char* gpool_ckpt_last_error(void);

/* "ok", "invalid argument", "not found", "conflict", "unavailable", "internal"; "unknown" for
 * any other value. A static string. */
GPOOL_CKPT_API const char* gpool_ckpt_status_name(int status);

/* ---- Writer: saving checkpoints ---- */

typedef struct gpool_ckpt_writer gpool_ckpt_writer;

/* Opens (creates) the store at `root` and starts the writer's background saver.
 * staging_bytes: the bound on bytes held for asynchronous saves; 0 = the default (a quarter of
 *   the memory available now, at least 64 MiB).
 * zstd_level: 1..3; 0 = the default (1). */
GPOOL_CKPT_API int gpool_ckpt_writer_open(const char* root, uint64_t staging_bytes, int zstd_level,
                                          gpool_ckpt_writer** out);

/* Waits for every queued save, then frees the writer (always, also when it returns an error:
 * the error of a queued save that failed). NULL: returns GPOOL_CKPT_OK. */
GPOOL_CKPT_API int gpool_ckpt_writer_close(gpool_ckpt_writer* writer);

/* The staging bound in bytes (after the default was applied). */
GPOOL_CKPT_API int gpool_ckpt_writer_staging_bytes(const gpool_ckpt_writer* writer, uint64_t* out);

/* Starts assembling a checkpoint: discards one begun and not saved. `loader_position` is
 * opaque to gpool (NULL = ""). */
GPOOL_CKPT_API int gpool_ckpt_writer_begin(gpool_ckpt_writer* writer, int64_t step, int64_t epoch,
                                           const char* loader_position);

/* Adds a tensor to the begun checkpoint. `data` is NOT copied here (see OWNERSHIP).
 * name: non-empty, unique in the checkpoint.
 * dtype: "f32" "f16" "bf16" "f64" "i8" "i16" "i32" "i64" "u8" "bool" or "blob".
 * ndim, shape: 0 <= ndim <= 64, every dimension >= 0; ndim 0 is a scalar (shape may be NULL).
 * nbytes: product(shape) * element size (a blob: any size, its shape conventionally ndim 0).
 * data: row-major, little-endian; may be NULL only when nbytes is 0.
 * INVALID_ARGUMENT naming the tensor when any of this does not hold, or nothing was begun. */
GPOOL_CKPT_API int gpool_ckpt_writer_add_tensor(gpool_ckpt_writer* writer, const char* name,
                                                const char* dtype, int ndim, const int64_t* shape,
                                                const void* data, uint64_t nbytes);

/* Sets a free metadata key (replacing an earlier value of the same key) in the begun
 * checkpoint. Keys are non-empty. */
GPOOL_CKPT_API int gpool_ckpt_writer_set_extra(gpool_ckpt_writer* writer, const char* key,
                                               const char* value);

/* Saves the begun checkpoint as `name` (NULL = "step-<step>"): after every queued save, and
 * returns once it is durable and `latest` points at it. The begun checkpoint ends with the
 * call, whether it succeeds or not: begin again for the next one. */
GPOOL_CKPT_API int gpool_ckpt_writer_save(gpool_ckpt_writer* writer, const char* name);

/* Copies the begun checkpoint's bytes into the staging buffer (waiting while the queued saves
 * hold too much of it), queues the save and returns. *queued (may be NULL) = 1 when queued, 0
 * when the checkpoint was larger than the whole staging bound and was saved synchronously
 * instead. A queued save that fails is reported, once, by the next save, save_async, wait or
 * close. The begun checkpoint ends with the call, as with save. */
GPOOL_CKPT_API int gpool_ckpt_writer_save_async(gpool_ckpt_writer* writer, const char* name,
                                                int* queued);

/* Waits until every queued save is published; the first failure not yet reported. */
GPOOL_CKPT_API int gpool_ckpt_writer_wait(gpool_ckpt_writer* writer);

/* ---- Checkpoint on request (SIGUSR1 protocol, docs/checkpoint.md) ----
 * The handler only sets a process-wide flag. At its next safe point the training loop checks
 * gpool_ckpt_checkpoint_requested(), and if set: clears it, saves (gpool_ckpt_writer_save) and,
 * if the job is meant to move, exits with GPOOL_CKPT_CHECKPOINTED_EXIT_CODE. */

/* Installs the request handler for `signo` (SIGUSR1 is 10 on Linux). INVALID_ARGUMENT for
 * SIGKILL, SIGSTOP or a number out of range; UNAVAILABLE if sigaction fails. */
GPOOL_CKPT_API int gpool_ckpt_install_checkpoint_handler(int signo);
/* 1 when a request arrived since the last clear, else 0. Cannot fail. */
GPOOL_CKPT_API int gpool_ckpt_checkpoint_requested(void);
/* Clears the request flag. Cannot fail. */
GPOOL_CKPT_API void gpool_ckpt_clear_checkpoint_request(void);
/* Sets the request flag without a signal (tests; code that decides to checkpoint itself). */
GPOOL_CKPT_API void gpool_ckpt_request_checkpoint(void);

/* ---- Reader: loading checkpoints ---- */

typedef struct gpool_ckpt_store gpool_ckpt_store;
typedef struct gpool_ckpt_checkpoint gpool_ckpt_checkpoint;

/* Opens an existing store for reading. NOT_FOUND if `root` is not a directory (nothing is
 * created). */
GPOOL_CKPT_API int gpool_ckpt_store_open(const char* root, gpool_ckpt_store** out);
GPOOL_CKPT_API void gpool_ckpt_store_close(gpool_ckpt_store* store);

/* Loads checkpoint `name` (NULL or "latest": the one `latest` points at), reading and checking
 * every chunk (by the content checksum in its file; `gpool ckpt verify` checks each SHA-256 as
 * well: docs/checkpoint.md). NOT_FOUND naming the checkpoint if there is none of that name (or no `latest`
 * yet); INTERNAL naming the tensor and chunk for damaged data. The checkpoint owns its bytes
 * and does not depend on the store handle. */
GPOOL_CKPT_API int gpool_ckpt_store_load(const gpool_ckpt_store* store, const char* name,
                                         gpool_ckpt_checkpoint** out);
/* Reads every chunk of checkpoint `name` (NULL or "latest" as above) and checks its SHA-256
 * against its name, keeping nothing: what `gpool ckpt verify` does. Finds what a load's content
 * checksums cannot (a whole chunk file holding another chunk's bytes); 0.55 s per GB per core.
 * OK, NOT_FOUND as for a load, or INTERNAL naming the first damaged tensor and chunk. */
GPOOL_CKPT_API int gpool_ckpt_store_verify(const gpool_ckpt_store* store, const char* name);
GPOOL_CKPT_API void gpool_ckpt_checkpoint_free(gpool_ckpt_checkpoint* checkpoint);

/* The checkpoint's own name ("latest" resolved). */
GPOOL_CKPT_API int gpool_ckpt_checkpoint_name(const gpool_ckpt_checkpoint* checkpoint,
                                              const char** out);

/* Metadata; any out-pointer may be NULL to skip that field. */
GPOOL_CKPT_API int gpool_ckpt_checkpoint_metadata(const gpool_ckpt_checkpoint* checkpoint,
                                                  int64_t* step, int64_t* epoch,
                                                  const char** loader_position);
GPOOL_CKPT_API int gpool_ckpt_checkpoint_extra_count(const gpool_ckpt_checkpoint* checkpoint,
                                                     size_t* out);
/* The index-th extra key and value, keys in ascending byte order. INVALID_ARGUMENT if
 * index >= count. */
GPOOL_CKPT_API int gpool_ckpt_checkpoint_extra_at(const gpool_ckpt_checkpoint* checkpoint,
                                                  size_t index, const char** key,
                                                  const char** value);
/* The value of `key`; NOT_FOUND naming the key if absent. */
GPOOL_CKPT_API int gpool_ckpt_checkpoint_extra_get(const gpool_ckpt_checkpoint* checkpoint,
                                                   const char* key, const char** value);

/* One loaded tensor; every pointer is owned by the checkpoint. */
typedef struct gpool_ckpt_tensor_info {
  const char* name;
  const char* dtype; /* "f32", ..., "blob" */
  int ndim;
  const int64_t* shape; /* ndim entries (not NULL, even when ndim is 0) */
  const void* data;     /* nbytes bytes, never NULL (also when nbytes is 0) */
  uint64_t nbytes;
} gpool_ckpt_tensor_info;

/* Tensors in the order they were added when saved. */
GPOOL_CKPT_API int gpool_ckpt_checkpoint_tensor_count(const gpool_ckpt_checkpoint* checkpoint,
                                                      size_t* out);
/* INVALID_ARGUMENT if index >= count. */
GPOOL_CKPT_API int gpool_ckpt_checkpoint_tensor(const gpool_ckpt_checkpoint* checkpoint,
                                                size_t index, gpool_ckpt_tensor_info* out);
/* The index of the tensor called `name`; NOT_FOUND naming it if absent. */
GPOOL_CKPT_API int gpool_ckpt_checkpoint_find_tensor(const gpool_ckpt_checkpoint* checkpoint,
                                                     const char* name, size_t* index);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* GPOOL_CKPT_H_ */
