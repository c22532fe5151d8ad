/*
 * stdio-redirect: the few file-descriptor calls JavaScript cannot make itself.
 *
 * Native libraries (alsa-lib, PortAudio, naudiodon) write straight to fds 1
 * and 2 with fprintf/printf, bypassing process.stdout. To keep them off the
 * terminal, Steno saves the original fds 1 and 2 (dupCloexec), then points
 * fds 1 and 2 at a log file (redirect). Node-API only, so one build loads in
 * Node and in Electron's Node.
 *
 * Exports:
 *   dupCloexec(fd) -> newFd    a copy of fd, numbered 3 or above, close-on-exec
 *   redirect(srcFd, dstFd)     flushes libc's buffered stdio, then dup2(srcFd, dstFd)
 *   flush()                    flushes libc's buffered stdio (printf output not yet written)
 *
 * Errors throw a JavaScript Error whose message names the call and errno.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <node_api.h>

#ifdef _WIN32
#include <io.h>
/* The CRT has no close-on-exec; _dup's copy is not inherited by CreateProcess
 * unless the handle is inheritable, which Steno does not rely on. */
static int dup_cloexec(int fd) { return _dup(fd); }
static int dup_onto(int src, int dst) { return _dup2(src, dst); }
#else
#include <fcntl.h>
#include <unistd.h>
/* At or above 3, so the copy never lands on a closed 0, 1 or 2. */
static int dup_cloexec(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, 3); }
static int dup_onto(int src, int dst) {
  int r;
  do {
    r = dup2(src, dst);
  } while (r < 0 && errno == EINTR);
  return r;
}
#endif

static napi_value throw_errno(napi_env env, const char *call, int err) {
  char message[160];
  snprintf(message, sizeof message, "%s failed: %s (errno %d)", call, strerror(err), err);
  napi_throw_error(env, NULL, message);
  return NULL;
}

/* Reads argument `index` as an fd; throws a TypeError and returns 0 when it is not one. */
static int read_fd_arg(napi_env env, napi_callback_info info, size_t index, int *fd) {
  napi_value argv[2];
  size_t argc = 2;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc <= index) {
    napi_throw_type_error(env, NULL, "expected a file descriptor argument");
    return 0;
  }
  int32_t value;
  if (napi_get_value_int32(env, argv[index], &value) != napi_ok || value < 0) {
    napi_throw_type_error(env, NULL, "a file descriptor must be a non-negative integer");
    return 0;
  }
  *fd = value;
  return 1;
}

static napi_value DupCloexec(napi_env env, napi_callback_info info) {
  int fd;
  if (!read_fd_arg(env, info, 0, &fd)) return NULL;
  int copy = dup_cloexec(fd);
  if (copy < 0) return throw_errno(env, "dup", errno);
  napi_value result;
  napi_create_int32(env, copy, &result);
  return result;
}

static napi_value Redirect(napi_env env, napi_callback_info info) {
  int src, dst;
  if (!read_fd_arg(env, info, 0, &src) || !read_fd_arg(env, info, 1, &dst)) return NULL;
  /* printf output still in libc's buffer belongs to the old target: write it there first. */
  fflush(NULL);
  if (dup_onto(src, dst) < 0) return throw_errno(env, "dup2", errno);
  return NULL;
}

static napi_value Flush(napi_env env, napi_callback_info info) {
  (void)env;
  (void)info;
  fflush(NULL);
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"dupCloexec", NULL, DupCloexec, NULL, NULL, NULL, napi_enumerable, NULL},
      {"redirect", NULL, Redirect, NULL, NULL, NULL, napi_enumerable, NULL},
      {"flush", NULL, Flush, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
